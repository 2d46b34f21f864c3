/* SPDX-License-Identifier: Apache-2.0 */
/* Stored records: sealing binds the attributes (AAD), every flipped byte is caught, an
 * old authentic copy is refused, and every decoder survives hostile bytes. */
#include "../../store/internal.h"
#include "check.h"
#include "store_fixture.h"

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
    CHECK_EQ_INT(ss_officer_add(s, "bob", alice_pin, &e), SU_OK); /* --approvals 2 needs two */
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

static const check_case cases[] = {
    CHECK_CASE(aad_binding, test_aad_binding),
    CHECK_CASE(tampering, test_tampering),
    CHECK_CASE(replay, test_replay),
    CHECK_CASE(decoders_bad_input, test_decoders_bad_input),
};

CHECK_MAIN(cases, store_fixture_setup, store_fixture_teardown)
