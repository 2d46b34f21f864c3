/* SPDX-License-Identifier: Apache-2.0 */
/* The keystore tests' shared fixture (store_fixture.h). */
#include "store_fixture.h"
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

su_pin *so_pin, *user_pin, *bad_pin;
char base[256];
static int nstore; /* keystores made so far: each gets its own directory */

const ss_init_params fast = {
    .kdf_mem_kib = 64, .kdf_iterations = 1, .kdf_lanes = 1, .max_pin_tries = 3};

/* A fresh initialized keystore, opened and logged in as role. */
ss_store *fresh(char *dir, ss_role role) {
    snprintf(dir, 300, "%s/ks%d", base, nstore++);
    ss_error e;
    ss_store *s = NULL;
    CHECK_EQ_INT(ss_init(dir, &fast, so_pin, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    if (s != NULL && role != SS_ROLE_NONE)
        CHECK_EQ_INT(ss_login(s, role, NULL, role == SS_ROLE_SO ? so_pin : user_pin, &e), SU_OK);
    return s;
}

ss_keyinfo *keygen(ss_store *s, const char *label, const char *type) {
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
int sign_verify(ss_store *s, const ss_keyinfo *k, ss_error *e) {
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

int raw_open(raw *r, const char *dir, const char *db) {
    mdb_env_create(&r->env);
    mdb_env_set_maxdbs(r->env, 16);
    mdb_env_set_mapsize(r->env, (size_t)4096 << 20);
    if (mdb_env_open(r->env, dir, 0, 0600) != 0 || mdb_txn_begin(r->env, NULL, 0, &r->txn) != 0 ||
        mdb_dbi_open(r->txn, db, 0, &r->dbi) != 0)
        return 0;
    return 1;
}

void raw_close(raw *r, int commit) {
    if (commit)
        mdb_txn_commit(r->txn);
    else
        mdb_txn_abort(r->txn);
    mdb_env_close(r->env);
}

/* Replaces the value stored under key in db with val (a tampering step). */
void raw_put(const char *dir, const char *db, const void *key, size_t klen, const void *val,
             size_t vlen) {
    raw r;
    CHECK(raw_open(&r, dir, db));
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    CHECK_EQ_INT(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
    raw_close(&r, 1);
}

unsigned char *raw_get(const char *dir, const char *db, const void *key, size_t klen,
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

void raw_del(const char *dir, const char *db, const void *key, size_t klen) {
    raw r;
    CHECK(raw_open(&r, dir, db));
    MDB_val k = {klen, (void *)key};
    CHECK_EQ_INT(mdb_del(r.txn, r.dbi, &k, NULL), 0);
    raw_close(&r, 1);
}

int store_fixture_setup(void) {
    CRYPTO_secure_malloc_init(1 << 16, 32);
    snprintf(base, sizeof(base), "/tmp/sealhsm-unit-XXXXXX");
    if (mkdtemp(base) == NULL)
        return 2;
    so_pin = su_pin_new("so-pin-0000", 11);
    user_pin = su_pin_new("user-pin-1111", 13);
    bad_pin = su_pin_new("wrong-pin-22", 12);
    return 0;
}

void store_fixture_teardown(void) {
    su_pin_free(so_pin);
    su_pin_free(user_pin);
    su_pin_free(bad_pin);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", base);
}
