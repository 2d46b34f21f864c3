/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the keystore: sealing, AAD binding, KDF parameters, counters, the
 * label index, the audit chain, and hostile bytes in every stored record. */
#include "../../store/internal.h"
#include "check.h"

#include <lmdb.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static su_pin *so_pin, *user_pin, *bad_pin;
static char base[256];
static int nstore;

static const ss_init_params fast = {
    .kdf_mem_kib = 64, .kdf_iterations = 1, .kdf_lanes = 1, .max_pin_tries = 3};

/* A fresh initialized keystore, opened and logged in as role. */
static ss_store *fresh(char *dir, ss_role role) {
    snprintf(dir, 300, "%s/ks%d", base, nstore++);
    ss_error e;
    ss_store *s = NULL;
    CHECK_EQ_INT(ss_init(dir, &fast, so_pin, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    if (s != NULL && role != SS_ROLE_NONE)
        CHECK_EQ_INT(ss_login(s, role, NULL, role == SS_ROLE_SO ? so_pin : user_pin, &e), SU_OK);
    return s;
}

static ss_keyinfo *keygen(ss_store *s, const char *label, const char *type) {
    ss_keyspec spec = {.label = label};
    ss_error e;
    ss_keyinfo *k = NULL;
    CHECK_EQ_INT(ss_keytype_parse(type, &spec.type, &e), SU_OK);
    ss_policy_default(&spec.policy);
    int rc = ss_keygen(s, &spec, &k, &e);
    if (rc != SU_OK)
        fprintf(stderr, "keygen %s: %s\n", label, e.msg);
    CHECK_EQ_INT(rc, SU_OK);
    return k;
}

/* Signs a SHA-256 digest with the key and verifies it with the stored public key. */
static int sign_verify(ss_store *s, const ss_keyinfo *k, ss_error *e) {
    unsigned char dg[32], sig[1024];
    size_t siglen = sizeof(sig);
    memset(dg, 0x5a, sizeof(dg));
    int eddsa = k->type.alg == SS_ALG_ED25519 || k->type.alg == SS_ALG_ED448;
    ss_sign_req req = {.digest = eddsa ? NULL : "SHA256",
                       .padding = k->type.alg == SS_ALG_RSA ? SS_PAD_PKCS1 : 0,
                       .tbs = dg,
                       .tbslen = sizeof(dg)};
    int rc = ss_sign(s, k->id, &req, sig, &siglen, e);
    if (rc != SU_OK)
        return rc;
    const unsigned char *p = k->spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)k->spki_len);
    int ok;
    if (eddsa) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        ok = EVP_DigestVerifyInit(c, NULL, NULL, NULL, pub) == 1 &&
             EVP_DigestVerify(c, sig, siglen, dg, sizeof(dg)) == 1;
        EVP_MD_CTX_free(c);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
        ok = EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1 &&
             EVP_PKEY_verify(c, sig, siglen, dg, sizeof(dg)) == 1;
        EVP_PKEY_CTX_free(c);
    }
    EVP_PKEY_free(pub);
    return ok ? SU_OK : -1;
}

/* Direct LMDB access to the raw records, as an attacker with the file would have. */
typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
} raw;

static int raw_open(raw *r, const char *dir, const char *db) {
    mdb_env_create(&r->env);
    mdb_env_set_maxdbs(r->env, 16);
    mdb_env_set_mapsize(r->env, (size_t)4096 << 20);
    if (mdb_env_open(r->env, dir, 0, 0600) != 0 || mdb_txn_begin(r->env, NULL, 0, &r->txn) != 0 ||
        mdb_dbi_open(r->txn, db, 0, &r->dbi) != 0)
        return 0;
    return 1;
}

static void raw_close(raw *r, int commit) {
    if (commit)
        mdb_txn_commit(r->txn);
    else
        mdb_txn_abort(r->txn);
    mdb_env_close(r->env);
}

/* Replaces the value stored under key in db with val (a tampering step). */
static void raw_put(const char *dir, const char *db, const void *key, size_t klen, const void *val,
                    size_t vlen) {
    raw r;
    CHECK(raw_open(&r, dir, db));
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    CHECK_EQ_INT(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
    raw_close(&r, 1);
}

static unsigned char *raw_get(const char *dir, const char *db, const void *key, size_t klen,
                              size_t *vlen) {
    raw r;
    unsigned char *out = NULL;
    CHECK(raw_open(&r, dir, db));
    MDB_val k = {klen, (void *)key}, v;
    if (mdb_get(r.txn, r.dbi, &k, &v) == 0) {
        out = malloc(v.mv_size);
        memcpy(out, v.mv_data, v.mv_size);
        *vlen = v.mv_size;
    }
    raw_close(&r, 0);
    return out;
}

static void test_init_open_login(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_NONE);
    CHECK(s != NULL);
    /* init refuses an existing keystore */
    CHECK_EQ_INT(ss_init(dir, &fast, so_pin, user_pin, &e), SU_EUSAGE);
    /* wrong PIN: exit code 4, counted; right PIN resets */
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, bad_pin, &e), SU_EPIN);
    CHECK(strstr(e.msg, "wrong PIN") != NULL);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_logged_in(s), SS_ROLE_USER);
    /* three failures lock the role (max_pin_tries = 3), even for the right PIN */
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, bad_pin, &e), SU_EPIN);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EPIN);
    CHECK(strstr(e.msg, "locked") != NULL);
    /* the SO resets the user PIN and clears the lock */
    CHECK_EQ_INT(ss_login(s, SS_ROLE_SO, NULL, so_pin, &e), SU_OK);
    su_pin *np = su_pin_new("new-user-pin", 12);
    CHECK_EQ_INT(ss_pin_reset_user(s, np, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EPIN);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, np, &e), SU_OK);
    /* pin change needs the current PIN */
    CHECK_EQ_INT(ss_pin_change(s, bad_pin, user_pin, &e), SU_EPIN);
    CHECK_EQ_INT(ss_pin_change(s, np, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    su_pin_free(np);
    ss_close(s);

    /* attempts whose process died before the outcome count as failures: three
     * markers of dead processes lock the role (max_pin_tries = 3) */
    for (int i = 0; i < 3; i++) {
        char marker[64];
        unsigned char v[12];
        su_be64(v, (uint64_t)su_now());
        su_be32(v + 8, (uint32_t)(4194400 + i)); /* above pid_max: never alive */
        snprintf(marker, sizeof(marker), "pending/user/%d.00", 4194400 + i);
        raw_put(dir, "meta", marker, strlen(marker), v, sizeof(v));
    }
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EPIN);
    CHECK(strstr(e.msg, "locked after 3") != NULL);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_SO, NULL, so_pin, &e), SU_OK);
    ss_close(s);

    /* missing keystore: not found, naming the path */
    CHECK_EQ_INT(ss_open("/nonexistent/sealhsm-ks", NULL, NULL, &s, &e), SU_ENOTFOUND);
    CHECK(strstr(e.msg, "/nonexistent/sealhsm-ks") != NULL);
    /* world-writable directory refused */
    chmod(dir, 0777);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_EIO);
    CHECK(strstr(e.msg, dir) != NULL);
    chmod(dir, 0700);
}

static void test_kdf_params(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    /* the slot records the parameters init was given */
    MDB_txn *txn;
    uint32_t m, t, p;
    CHECK_EQ_INT(st_txn(s, 0, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_user_kdf(s, txn, &m, &t, &p, &e), SU_OK);
    mdb_txn_abort(txn);
    CHECK_EQ_INT(m, 64);
    CHECK_EQ_INT(t, 1);
    CHECK_EQ_INT(p, 1);
    ss_close(s);
    /* lowering the parameters in the file breaks the slot (they are in its AAD) */
    size_t n;
    unsigned char *v = raw_get(dir, "meta", "slot/user", 9, &n);
    CHECK(v != NULL);
    if (v != NULL) {
        st_slot slot;
        CHECK(st_slot_decode(v, n, &slot));
        slot.m_kib = 32;
        su_buf b;
        su_buf_init(&b, 0);
        st_slot_encode(&slot, &b);
        raw_put(dir, "meta", "slot/user", 9, b.data, b.len);
        su_buf_free(&b);
        free(v);
    }
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EPIN);
    ss_close(s);
    /* parameters out of range are refused at init */
    ss_init_params bad = fast;
    bad.kdf_mem_kib = 4;
    snprintf(dir, sizeof(dir), "%s/badkdf", base);
    CHECK_EQ_INT(ss_init(dir, &bad, so_pin, user_pin, &e), SU_EUSAGE);
}

static void test_keys_and_signing(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    static const char *types[] = {"rsa:2048", "ec:P-256", "ec:P-384",
                                  "ec:P-521", "ed25519",  "ed448"};
    ss_keyinfo *ks[6];
    for (int i = 0; i < 6; i++) {
        char label[16];
        snprintf(label, sizeof(label), "k%d", i);
        ks[i] = keygen(s, label, types[i]);
    }
    /* refused types */
    ss_keyspec spec = {.label = "bad"};
    ss_policy_default(&spec.policy);
    CHECK_EQ_INT(ss_keytype_parse("rsa:1024", &spec.type, &e), SU_EUSAGE);
    CHECK_EQ_INT(ss_keytype_parse("dsa:2048", &spec.type, &e), SU_EUSAGE);
    /* duplicate label */
    spec.label = "k0";
    spec.type = (ss_keytype){SS_ALG_EC, 256};
    CHECK_EQ_INT(ss_keygen(s, &spec, NULL, &e), SU_EUSAGE);
    CHECK(strstr(e.msg, "k0") != NULL);
    /* the SO cannot sign */
    if (ks[1] != NULL)
        CHECK_EQ_INT(sign_verify(s, ks[1], &e), SU_EPOLICY);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    for (int i = 0; i < 6; i++) {
        if (ks[i] == NULL)
            continue;
        int rc = sign_verify(s, ks[i], &e);
        if (rc != SU_OK)
            fprintf(stderr, "%s: %s\n", types[i], e.msg);
        CHECK_EQ_INT(rc, SU_OK);
    }
    /* counters are kept per key; the label index answers by label */
    ss_keyinfo *k = NULL;
    CHECK_EQ_INT(ss_key_get(s, "k1", NULL, &k, &e), SU_OK);
    if (k != NULL) {
        CHECK_EQ_INT(k->signatures, 1);
        CHECK(k->last_used > 0);
        CHECK(memcmp(k->id, ks[1]->id, SS_KEY_ID_LEN) == 0);
    }
    ss_keyinfo_free(k);
    CHECK_EQ_INT(ss_key_get(s, "nope", NULL, &k, &e), SU_ENOTFOUND);
    CHECK(strstr(e.msg, "nope") != NULL);
    ss_keyinfo **list;
    size_t n;
    CHECK_EQ_INT(ss_key_list(s, &list, &n, &e), SU_OK);
    CHECK_EQ_INT(n, 6);
    ss_keylist_free(list, n);
    /* a digest of the wrong length never reaches the key */
    if (ks[1] != NULL) {
        unsigned char dg[20] = {0}, sig[256];
        size_t siglen = sizeof(sig);
        ss_sign_req req = {.digest = "SHA256", .tbs = dg, .tbslen = 20};
        CHECK_EQ_INT(ss_sign(s, ks[1]->id, &req, sig, &siglen, &e), SU_EUSAGE);
        req.digest = "SHA1";
        CHECK_EQ_INT(ss_sign(s, ks[1]->id, &req, sig, &siglen, &e), SU_EPOLICY);
        CHECK(strncmp(e.msg, "policy: key k1: digests", 23) == 0);
    }
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    CHECK(rep.records > 10);
    for (int i = 0; i < 6; i++)
        ss_keyinfo_free(ks[i]);
    ss_close(s);
}

/* Sealing binds the attributes: a record moved to another id, or with its policy
 * edited (and the record MAC forged by someone holding the MAC key but not the
 * sealing key), does not unseal. */
static void test_aad_binding(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "bound", "ec:P-256");
    MDB_txn *txn;
    st_keyrec r;
    CHECK_EQ_INT(st_txn(s, 0, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_key_load(s, txn, "bound", NULL, &r, &e), SU_OK);
    mdb_txn_abort(txn);
    unsigned char *der;
    size_t len;
    CHECK_EQ_INT(st_keyrec_unseal(s, &r, &der, &len, &e), SU_OK);
    OPENSSL_secure_clear_free(der, len);
    r.info.policy.max_signatures = 99;
    CHECK_EQ_INT(st_keyrec_unseal(s, &r, &der, &len, &e), SU_EINTEGRITY);
    r.info.policy.max_signatures = 0;
    r.info.id[0] ^= 1;
    CHECK_EQ_INT(st_keyrec_unseal(s, &r, &der, &len, &e), SU_EINTEGRITY);
    r.info.id[0] ^= 1;
    free(r.info.label);
    r.info.label = strdup("other");
    CHECK_EQ_INT(st_keyrec_unseal(s, &r, &der, &len, &e), SU_EINTEGRITY);
    st_keyrec_clear(&r);
    ss_keyinfo_free(k);
    ss_close(s);
}

/* Every single-byte flip of a stored key record, usage record, PIN slot and
 * audit record is detected; truncations too; nothing crashes. */
static void test_tampering(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "victim", "ed25519");
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    MDB_txn *txn;
    MDB_val v;
    unsigned char *rec = NULL, *use = NULL;
    size_t reclen = 0, uselen = 0;
    CHECK_EQ_INT(st_txn(s, 0, &txn, &e), SU_OK);
    if (st_get(s, txn, ST_DB_KEYS, k->id, SS_KEY_ID_LEN, &v, &e) == SU_OK) {
        rec = malloc(v.mv_size);
        memcpy(rec, v.mv_data, reclen = v.mv_size);
    }
    if (st_get(s, txn, ST_DB_USAGE, k->id, SS_KEY_ID_LEN, &v, &e) == SU_OK) {
        use = malloc(v.mv_size);
        memcpy(use, v.mv_data, uselen = v.mv_size);
    }
    mdb_txn_abort(txn);
    CHECK(rec != NULL && use != NULL);
    st_keyrec r;
    for (size_t i = 0; rec != NULL && i < reclen; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            rec[i] ^= (unsigned char)(1u << bit);
            int rc = st_keyrec_decode(s, rec, reclen, "victim", &r, &e);
            CHECK_EQ_INT(rc, SU_EINTEGRITY);
            if (rc == SU_OK)
                st_keyrec_clear(&r);
            else
                CHECK(strstr(e.msg, "victim") != NULL);
            rec[i] ^= (unsigned char)(1u << bit);
        }
    }
    for (size_t n = 0; rec != NULL && n < reclen; n++)
        CHECK_EQ_INT(st_keyrec_decode(s, rec, n, "victim", &r, &e), SU_EINTEGRITY);
    CHECK_EQ_INT(st_keyrec_decode(s, rec, reclen, "victim", &r, &e), SU_OK);
    st_keyrec_clear(&r);

    /* counters edited in the file: refused, never reset */
    ss_close(s);
    if (use != NULL) {
        use[7] ^= 1; /* signatures: 1 -> 0 */
        raw_put(dir, "usage", k->id, SS_KEY_ID_LEN, use, uselen);
    }
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "victim") != NULL);
    ss_close(s);
    /* a deleted counter record is tampering too */
    raw rw;
    CHECK(raw_open(&rw, dir, "usage"));
    MDB_val key = {SS_KEY_ID_LEN, k->id};
    mdb_del(rw.txn, rw.dbi, &key, NULL);
    raw_close(&rw, 1);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_EINTEGRITY);

    /* slot decoder: truncations never read past the end */
    CHECK_EQ_INT(st_txn(s, 0, &txn, &e), SU_OK);
    if (st_get(s, txn, ST_DB_META, "slot/so", 7, &v, &e) == SU_OK) {
        st_slot slot;
        for (size_t n = 0; n < v.mv_size; n++)
            CHECK(!st_slot_decode(v.mv_data, n, &slot));
        CHECK(st_slot_decode(v.mv_data, v.mv_size, &slot));
    }
    mdb_txn_abort(txn);
    ss_close(s);
    free(rec);
    free(use);
    ss_keyinfo_free(k);
}

/* An older authentic copy of a record put back is refused, not obeyed: usage
 * counters (max-signatures reset) and key records (un-revoking). */
static void test_replay(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyspec spec = {.label = "capped", .type = {SS_ALG_EC, 256}};
    ss_policy_default(&spec.policy);
    spec.policy.max_signatures = 2;
    ss_keyinfo *k = NULL;
    CHECK_EQ_INT(ss_keygen(s, &spec, &k, &e), SU_OK);
    ss_keyinfo *r = keygen(s, "revoked", "ec:P-256");
    ss_close(s);
    size_t ulen = 0, rlen = 0;
    unsigned char *old_usage = raw_get(dir, "usage", k->id, SS_KEY_ID_LEN, &ulen);
    unsigned char *old_rec = raw_get(dir, "keys", r->id, SS_KEY_ID_LEN, &rlen);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_SO, NULL, so_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_key_set_state(s, "revoked", SS_STATE_REVOKED, "test", &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_EPOLICY);
    CHECK_EQ_INT(sign_verify(s, r, &e), SU_EPOLICY);
    ss_close(s);
    /* put the older, MAC-valid records back */
    if (old_usage != NULL)
        raw_put(dir, "usage", k->id, SS_KEY_ID_LEN, old_usage, ulen);
    if (old_rec != NULL)
        raw_put(dir, "keys", r->id, SS_KEY_ID_LEN, old_rec, rlen);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "capped") != NULL);
    CHECK_EQ_INT(sign_verify(s, r, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "revoked") != NULL);
    ss_close(s);
    free(old_usage);
    free(old_rec);
    ss_keyinfo_free(k);
    ss_keyinfo_free(r);
}

static void test_policy_codec(void) {
    ss_policy p, q;
    ss_policy_default(&p);
    p.env = SS_ENV_PROD;
    p.nusers = 2;
    p.users[0] = 1000;
    p.users[1] = 5;
    p.rate_count = 3;
    p.rate_period = 60;
    p.not_after = 1900000000;
    su_buf b;
    su_buf_init(&b, 0);
    CHECK(ss_policy_encode(&p, &b));
    CHECK(st_policy_decode(b.data, b.len, &q));
    CHECK_EQ_INT(q.env, SS_ENV_PROD);
    CHECK_EQ_INT(q.rate_count, 3);
    CHECK_EQ_INT(q.not_after, 1900000000);
    /* users are canonical (sorted) so equal policies have equal digests */
    CHECK_EQ_INT(q.users[0], 5);
    for (size_t n = 0; n < b.len; n++)
        CHECK(!st_policy_decode(b.data, n, &q));
    unsigned char d1[32], d2[32];
    CHECK(ss_policy_digest(&p, d1));
    p.users[0] = 5;
    p.users[1] = 1000;
    CHECK(ss_policy_digest(&p, d2));
    CHECK(memcmp(d1, d2, 32) == 0);
    su_buf_free(&b);

    /* counter rules */
    ss_keyinfo k = {.label = "c"};
    ss_policy_default(&k.policy);
    k.policy.max_signatures = 2;
    st_usage u = {0};
    ss_error e;
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1000, &e), SU_OK);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1000, &e), SU_OK);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1000, &e), SU_EPOLICY);
    CHECK(strstr(e.msg, "max-signatures") != NULL);
    k.policy.max_signatures = 0;
    k.policy.rate_count = 2;
    k.policy.rate_period = 60;
    memset(&u, 0, sizeof(u));
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1000, &e), SU_OK);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1030, &e), SU_OK);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1059, &e), SU_EPOLICY);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1060, &e), SU_OK);
}

static void test_audit_chain(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "a", "ec:P-256");
    ss_keyinfo_free(k);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    uint64_t n = rep.records;
    ss_close(s);
    /* a failed unlock before any other is written unauthenticated, then MACed at
     * the next successful unlock */
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, bad_pin, &e), SU_EPIN);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    CHECK_EQ_INT(rep.records, n + 2);
    CHECK_EQ_INT(rep.unauthenticated, 0);
    ss_close(s);

    /* flip one byte in record 2: verify names record 2 */
    unsigned char key[8];
    su_be64(key, 2);
    size_t vlen;
    unsigned char *v = raw_get(dir, "audit", key, 8, &vlen);
    CHECK(v != NULL);
    if (v != NULL) {
        v[20] ^= 0x40;
        raw_put(dir, "audit", key, 8, v, vlen);
        v[20] ^= 0x40;
    }
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_EINTEGRITY);
    CHECK_EQ_INT(rep.first_bad, 2);
    CHECK(strstr(e.msg, "record 2") != NULL);
    ss_close(s);
    if (v != NULL)
        raw_put(dir, "audit", key, 8, v, vlen);
    free(v);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
}

static void raw_del(const char *dir, const char *db, const void *key, size_t klen) {
    raw r;
    CHECK(raw_open(&r, dir, db));
    MDB_val k = {klen, (void *)key};
    CHECK_EQ_INT(mdb_del(r.txn, r.dbi, &k, NULL), 0);
    raw_close(&r, 1);
}

/* The seq of the last audit record, read from the file. */
static uint64_t raw_last_seq(const char *dir) {
    raw r;
    uint64_t seq = 0;
    MDB_cursor *c;
    MDB_val k, v;
    CHECK(raw_open(&r, dir, "audit"));
    if (mdb_cursor_open(r.txn, r.dbi, &c) == 0) {
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            seq = su_get_be64(k.mv_data);
        mdb_cursor_close(c);
    }
    raw_close(&r, 0);
    return seq;
}

/* Verifies the log split after record `at` and in one stretch: both must report
 * the same. Returns first_bad (0: the log verifies). */
static uint64_t verify_split_same(ss_store *s, uint64_t at) {
    ss_error e1, e2;
    ss_audit_report r1 = {0}, r2 = {0};
    int rc1 = st_audit_verify_at(s, 0, &r1, &e1);
    int rc2 = st_audit_verify_at(s, at, &r2, &e2);
    CHECK_EQ_INT(rc2, rc1);
    if (rc1 == SU_OK) {
        CHECK_EQ_INT(r2.records, r1.records);
        CHECK_EQ_INT(r2.unauthenticated, r1.unauthenticated);
        return 0;
    }
    CHECK_EQ_INT(rc1, SU_EINTEGRITY);
    CHECK_EQ_INT(r2.first_bad, r1.first_bad);
    if (strcmp(e1.msg, e2.msg) != 0) {
        fprintf(stderr, "split after %llu: '%s' vs one stretch: '%s'\n", (unsigned long long)at,
                e2.msg, e1.msg);
        CHECK(0);
    }
    return r1.first_bad;
}

/* Verifies the log of the keystore at dir in a new session, in one stretch and
 * split after records mid, seq - 1 and seq; returns first_bad. */
static uint64_t verify_first_bad(const char *dir, uint64_t mid, uint64_t seq) {
    ss_error e;
    ss_store *s = NULL;
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    if (s == NULL)
        return 0;
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    uint64_t bad = verify_split_same(s, mid);
    if (seq > 1)
        CHECK_EQ_INT(verify_split_same(s, seq - 1), bad);
    CHECK_EQ_INT(verify_split_same(s, seq), bad);
    ss_close(s);
    return bad;
}

/* A long log is checked in two stretches on two threads: an edit, a deletion or
 * a swap of any one record, on either side of the split or at it, names that
 * record as the one-stretch walk does, and the untouched log verifies. */
static void test_audit_every_record(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "a", "ec:P-256");
    ss_close(s);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    for (int i = 0; i < 12; i++)
        CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    uint64_t n = rep.records;
    CHECK(n >= 14);
    ss_keyinfo_free(k);
    ss_close(s);

    for (uint64_t seq = 1; seq <= n; seq++) {
        unsigned char key[8], key2[8];
        size_t len, len2;
        su_be64(key, seq);
        su_be64(key2, seq + 1);
        unsigned char *v = raw_get(dir, "audit", key, 8, &len);
        unsigned char *v2 = seq < n ? raw_get(dir, "audit", key2, 8, &len2) : NULL;
        CHECK(v != NULL);
        if (v == NULL)
            break;
        v[12] ^= 0x01; /* the record's time */
        raw_put(dir, "audit", key, 8, v, len);
        v[12] ^= 0x01;
        CHECK_EQ_INT(verify_first_bad(dir, n / 2, seq), seq);
        raw_put(dir, "audit", key, 8, v, len);
        if (v2 != NULL) {
            raw_put(dir, "audit", key, 8, v2, len2);
            raw_put(dir, "audit", key2, 8, v, len);
            CHECK_EQ_INT(verify_first_bad(dir, n / 2, seq), seq);
            raw_put(dir, "audit", key2, 8, v2, len2);
            raw_put(dir, "audit", key, 8, v, len);
        }
        raw_del(dir, "audit", key, 8);
        CHECK_EQ_INT(verify_first_bad(dir, n / 2, seq), seq);
        raw_put(dir, "audit", key, 8, v, len);
        CHECK_EQ_INT(verify_first_bad(dir, n / 2, seq), 0);
        free(v);
        free(v2);
    }
    /* a stray record keyed before record 1 */
    unsigned char zero[8] = {0};
    raw_put(dir, "audit", zero, 8, "x", 1);
    CHECK_EQ_INT(verify_first_bad(dir, n / 2, 1), 1);
    raw_del(dir, "audit", zero, 8);
    CHECK_EQ_INT(verify_first_bad(dir, n / 2, 1), 0);
}

/* Records written before an unlock (failed PINs) have no MAC until the next
 * unlock: only the chain protects them. One altered before that unlock is sealed
 * as it is, and the break shows at the next record, wherever the walk is split. */
static void test_audit_split_unauthenticated(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_NONE);
    for (int i = 0; i < 2 && s != NULL; i++)
        CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, bad_pin, &e), SU_EPIN);
    ss_close(s);
    uint64_t p2 = raw_last_seq(dir);
    CHECK(p2 >= 3);
    unsigned char key[8];
    size_t len;
    su_be64(key, p2 - 1);
    unsigned char *v = raw_get(dir, "audit", key, 8, &len);
    CHECK(v != NULL && len > 33 && v[len - 1 - 32] == 0); /* not authenticated */
    if (v != NULL) {
        v[12] ^= 0x01;
        raw_put(dir, "audit", key, 8, v, len);
    }
    free(v);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    /* every split: each record, and past the end (the unlock adds records) */
    for (uint64_t at = 1; s != NULL && at <= p2 + 4; at++) {
        CHECK_EQ_INT(verify_split_same(s, at), p2);
        ss_audit_report rep = {0};
        CHECK_EQ_INT(st_audit_verify_at(s, at, &rep, NULL), SU_EINTEGRITY); /* no error wanted */
    }
    ss_close(s);
}

/* Several processes signing with one key at once: every signature counted and
 * audited exactly once (LMDB serializes the write transactions). */
static void test_concurrent_writers(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "shared", "ec:P-256");
    ss_close(s);
    enum { PROCS = 4, SIGS = 25 };
    for (int p = 0; p < PROCS; p++) {
        if (fork() == 0) {
            ss_store *c = NULL;
            int bad = ss_open(dir, NULL, NULL, &c, &e) != SU_OK ||
                      ss_login(c, SS_ROLE_USER, NULL, user_pin, &e) != SU_OK;
            for (int i = 0; i < SIGS && !bad; i++)
                bad = sign_verify(c, k, &e) != SU_OK;
            if (bad)
                fprintf(stderr, "child: %s\n", e.msg);
            ss_close(c);
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        wait(&st);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "shared", NULL, &after, &e), SU_OK);
    if (after != NULL)
        CHECK_EQ_INT(after->signatures, PROCS * SIGS);
    ss_keyinfo_free(after);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(k);
}

/* Threads of one process share commits (group commit); nothing is lost. */
typedef struct thread_arg {
    ss_store *s;
    const ss_keyinfo *k;
    int failures;
} thread_arg;

static void *signer(void *p) {
    thread_arg *a = p;
    ss_error e;
    for (int i = 0; i < 50; i++)
        if (sign_verify(a->s, a->k, &e) != SU_OK)
            a->failures++;
    return NULL;
}

static void test_threads(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "threads", "ec:P-256");
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    enum { N = 4 };
    pthread_t t[N];
    thread_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (thread_arg){s, k, 0};
        pthread_create(&t[i], NULL, signer, &args[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(args[i].failures, 0);
    }
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "threads", NULL, &after, &e), SU_OK);
    if (after != NULL)
        CHECK_EQ_INT(after->signatures, N * 50);
    ss_keyinfo_free(after);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(k);
}

/* Batched audit: signatures are released at once, every record still arrives
 * (flushed in the background and at close); refused with exact counters. */
static void test_batched_audit(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyspec spec = {.label = "tls", .type = {SS_ALG_EC, 256}};
    ss_policy_default(&spec.policy);
    spec.policy.audit_batched = 1;
    spec.policy.max_signatures = 10;
    CHECK_EQ_INT(ss_keygen(s, &spec, NULL, &e), SU_EUSAGE);
    CHECK(strstr(e.msg, "batched") != NULL);
    spec.policy.max_signatures = 0;
    ss_keyinfo *k = NULL;
    CHECK_EQ_INT(ss_keygen(s, &spec, &k, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    for (int i = 0; i < 200 && k != NULL; i++)
        CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    ss_close(s);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "tls", NULL, &after, &e), SU_OK);
    if (after != NULL)
        CHECK_EQ_INT(after->signatures, 200);
    ss_keyinfo_free(after);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(k);
}

/* A handle opened and logged in before fork() keeps working in the children (as
 * in nginx workers): each child gets its own LMDB environment; nothing is lost. */
static void test_fork(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "forked", "ec:P-256");
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    for (int p = 0; p < 3; p++) {
        if (fork() == 0) {
            int bad = 0;
            for (int i = 0; i < 10 && !bad; i++)
                bad = sign_verify(s, k, &e) != SU_OK;
            if (bad)
                fprintf(stderr, "child: %s\n", e.msg);
            ss_close(s);
            _exit(bad);
        }
    }
    for (int p = 0; p < 3; p++) {
        int st;
        wait(&st);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "forked", NULL, &after, &e), SU_OK);
    if (after != NULL)
        CHECK_EQ_INT(after->signatures, 32);
    ss_keyinfo_free(after);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(k);
}

/* A full map fails the signature closed: error, no signature, no audit gap. */
static void test_map_full(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "full", "ec:P-256");
    ss_close(s);
    struct stat st;
    char data[400];
    snprintf(data, sizeof(data), "%s/data.mdb", dir);
    CHECK(stat(data, &st) == 0);
    char mib[32];
    snprintf(mib, sizeof(mib), "%lld", (long long)(st.st_size >> 20) + 1);
    setenv("SEALHSM_MAP_MIB", mib, 1);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    int rc = SU_OK;
    unsigned char dg[32] = {1}, sig[256];
    for (int i = 0; i < 100000 && rc == SU_OK; i++) {
        size_t siglen = sizeof(sig);
        memset(sig, 0, sizeof(sig));
        ss_sign_req req = {.digest = "SHA256", .tbs = dg, .tbslen = 32};
        rc = ss_sign(s, k->id, &req, sig, &siglen, &e);
    }
    CHECK_EQ_INT(rc, SU_EIO);
    CHECK(strstr(e.msg, "full") != NULL);
    /* nothing was written into the caller's buffer on failure */
    unsigned char zero[256] = {0};
    CHECK(memcmp(sig, zero, sizeof(sig)) == 0);
    ss_close(s);
    unsetenv("SEALHSM_MAP_MIB");
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "full", NULL, &after, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(after);
    ss_keyinfo_free(k);
}

/* Reads one stored value back through the store API that decodes it. */
typedef struct target {
    const char *db;
    unsigned char key[16];
    size_t klen;
} target;

static int read_back(const char *dir, const target *tg, const ss_keyinfo *k, ss_role role) {
    ss_error e;
    ss_store *s = NULL;
    int rc = ss_open(dir, NULL, NULL, &s, &e);
    if (rc == SU_OK)
        rc = ss_login(s, role, role == SS_ROLE_OFFICER ? "alice" : NULL,
                      role == SS_ROLE_SO ? so_pin : user_pin, &e);
    if (rc == SU_OK) {
        if (strcmp(tg->db, "usage") == 0 || strcmp(tg->db, "activations") == 0) {
            ss_keyinfo *got = NULL;
            rc = ss_key_get(s, NULL, k->id, &got, &e);
            ss_keyinfo_free(got);
        } else if (strcmp(tg->db, "certs") == 0) {
            ss_blob *chain = NULL;
            size_t n = 0;
            rc = ss_cert_get(s, k->id, &chain, &n, &e);
            ss_blobs_free(chain, n);
        } else {
            ss_audit_report rep;
            rc = ss_audit_verify(s, &rep, &e);
        }
    }
    if (rc != SU_OK && getenv("TEST_VERBOSE"))
        fprintf(stderr, "read_back %s: %s\n", tg->db, e.msg);
    ss_close(s);
    return rc;
}

/* Every truncation and a sweep of bit flips of each stored record type that the
 * store decodes (counters, approvals, certificates, audit records, audit head, PIN
 * slots) gives an error code, never a crash or a success with damaged data. */
static void test_decoders_bad_input(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    su_pin *alice_pin = user_pin;
    CHECK_EQ_INT(ss_officer_add(s, "alice", alice_pin, &e), SU_OK);
    ss_keyspec spec = {.label = "dual", .type = {SS_ALG_EC, 256}};
    ss_policy_default(&spec.policy);
    spec.policy.approvals = 2;
    ss_keyinfo *k = NULL;
    CHECK_EQ_INT(ss_keygen(s, &spec, &k, &e), SU_OK);
    /* a self-made certificate for the key, so that the certs table has a record */
    EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    const unsigned char *p = k->spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)k->spki_len);
    X509_set_pubkey(x, pub);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_sign(x, ca, EVP_sha256());
    unsigned char *der = NULL;
    int dlen = i2d_X509(x, &der);
    ss_blob blob = {der, (size_t)dlen};
    CHECK_EQ_INT(ss_cert_import(s, "dual", &blob, 1, &e), SU_OK);
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ca);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_OFFICER, "alice", alice_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_approve(s, "dual", &e), SU_OK);
    ss_close(s);

    target targets[5] = {{"usage", {0}, 16},
                         {"activations", {0}, 16},
                         {"certs", {0}, 16},
                         {"audit", {0}, 8},
                         {"meta", "audit/head", 10}};
    for (int i = 0; i < 3; i++)
        memcpy(targets[i].key, k->id, 16);
    su_be64(targets[3].key, 3);
    for (int t = 0; t < 5; t++) {
        size_t n;
        /* read first: each login appends to the log and moves its head */
        CHECK_EQ_INT(read_back(dir, &targets[t], k, SS_ROLE_USER), SU_OK);
        unsigned char *orig = raw_get(dir, targets[t].db, targets[t].key, targets[t].klen, &n);
        CHECK(orig != NULL);
        if (orig == NULL)
            continue;
        /* every truncation, then a flip in every 7th byte */
        for (size_t len = 0; len < n + n / 7; len++) {
            unsigned char *v = malloc(n);
            memcpy(v, orig, n);
            size_t vlen = len < n ? len : n;
            if (len >= n)
                v[(len - n) * 7] ^= 0x80;
            raw_put(dir, targets[t].db, targets[t].key, targets[t].klen, v, vlen);
            int rc = read_back(dir, &targets[t], k, SS_ROLE_USER);
            if (getenv("TEST_VERBOSE"))
                fprintf(stderr, "%s len %zu of %zu: rc %d\n", targets[t].db, len, n, rc);
            if (rc != SU_EINTEGRITY)
                fprintf(stderr, "%s: damaged at %zu: rc %d\n", targets[t].db, len, rc);
            CHECK_EQ_INT(rc, SU_EINTEGRITY);
            free(v);
        }
        raw_put(dir, targets[t].db, targets[t].key, targets[t].klen, orig, n);
        int rc = read_back(dir, &targets[t], k, SS_ROLE_USER);
        if (rc != SU_OK)
            fprintf(stderr, "%s: after restoring: rc %d\n", targets[t].db, rc);
        CHECK_EQ_INT(rc, SU_OK);
        free(orig);
    }
    /* a damaged PIN slot never unlocks and never crashes */
    size_t n;
    unsigned char *slot = raw_get(dir, "meta", "slot/user", 9, &n);
    for (size_t len = 0; slot != NULL && len < n; len += 3) {
        raw_put(dir, "meta", "slot/user", 9, slot, len);
        int rc = read_back(dir, &targets[3], k, SS_ROLE_USER);
        CHECK(rc == SU_EINTEGRITY || rc == SU_EPIN);
    }
    free(slot);
    ss_keyinfo_free(k);
}

/* With syslog on, every committed record is copied to the syslog socket. */
static void test_syslog_copy(void) {
    char sock[100], dir[300];
    snprintf(sock, sizeof(sock), "%.80s/log.sock", base);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    setenv("SEALHSM_SYSLOG_SOCKET", sock, 1);
    ss_init_params p = fast;
    p.syslog = 1;
    ss_error e;
    snprintf(dir, sizeof(dir), "%s/syslog", base);
    CHECK_EQ_INT(ss_init(dir, &p, so_pin, user_pin, &e), SU_OK);
    ss_store *s = NULL;
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_SO, NULL, so_pin, &e), SU_OK);
    ss_keyinfo *k = keygen(s, "logged", "ed25519");
    ss_keyinfo_free(k);
    ss_close(s);
    unsetenv("SEALHSM_SYSLOG_SOCKET");
    char msg[2048];
    int seen_init = 0, seen_keygen = 0;
    ssize_t n;
    while ((n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) > 0) {
        msg[n] = '\0';
        CHECK(strncmp(msg, "<85>", 4) == 0 || strncmp(msg, "<84>", 4) == 0);
        seen_init |= strstr(msg, "sealhsm[") != NULL && strstr(msg, "op=init") != NULL;
        seen_keygen |= strstr(msg, "op=keygen outcome=ok") != NULL && strstr(msg, "label=logged");
    }
    CHECK(seen_init);
    CHECK(seen_keygen);
    close(fd);
}

/* After destroy no file of the keystore holds the sealed bytes. */
static void test_destroy_zeroizes(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "doomed", "ec:P-384");
    MDB_txn *txn;
    st_keyrec r;
    CHECK_EQ_INT(st_txn(s, 0, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_key_load(s, txn, "doomed", NULL, &r, &e), SU_OK);
    mdb_txn_abort(txn);
    unsigned char sealed[64];
    memcpy(sealed, r.sealed, sizeof(sealed));
    st_keyrec_clear(&r);
    CHECK_EQ_INT(ss_key_destroy(s, "doomed", &e), SU_OK);
    ss_keyinfo *t = NULL;
    CHECK_EQ_INT(ss_key_get(s, "doomed", NULL, &t, &e), SU_OK);
    if (t != NULL)
        CHECK_EQ_INT(t->state, SS_STATE_DESTROYED);
    ss_keyinfo_free(t);
    /* the label is never reused */
    ss_keyspec spec = {.label = "doomed", .type = {SS_ALG_EC, 256}};
    ss_policy_default(&spec.policy);
    CHECK_EQ_INT(ss_keygen(s, &spec, NULL, &e), SU_EUSAGE);
    ss_close(s);
    static const char *files[] = {"data.mdb", "lock.mdb"};
    for (int f = 0; f < 2; f++) {
        char path[400];
        snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
        unsigned char *buf;
        size_t n;
        CHECK_EQ_INT(su_read_file(path, 1 << 26, &buf, &n, &e), SU_OK);
        CHECK(memmem(buf, n, sealed, sizeof(sealed)) == NULL);
        free(buf);
    }
    ss_keyinfo_free(k);
}

int main(void) {
    CRYPTO_secure_malloc_init(1 << 16, 32);
    snprintf(base, sizeof(base), "/tmp/sealhsm-unit-XXXXXX");
    if (mkdtemp(base) == NULL)
        return 2;
    so_pin = su_pin_new("so-pin-0000", 11);
    user_pin = su_pin_new("user-pin-1111", 13);
    bad_pin = su_pin_new("wrong-pin-22", 12);
    test_init_open_login();
    test_kdf_params();
    test_keys_and_signing();
    test_aad_binding();
    test_tampering();
    test_policy_codec();
    test_replay();
    test_audit_chain();
    test_audit_every_record();
    test_audit_split_unauthenticated();
    test_concurrent_writers();
    test_threads();
    test_batched_audit();
    test_fork();
    test_map_full();
    test_destroy_zeroizes();
    test_syslog_copy();
    test_decoders_bad_input();
    su_pin_free(so_pin);
    su_pin_free(user_pin);
    su_pin_free(bad_pin);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", base);
    CHECK_DONE();
}
