/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keystore's attestation key: made at init, sealed under the master key like a
 * key record (AAD binds its purpose and the keystore id), never exported. Its CA
 * certificate is public and checked against the key whenever it is used.
 */
#include "attest.h"
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <string.h>

#define ATTEST_KEY "attest/key"
#define ATTEST_CERT "attest/cert"

static void aad(const ss_store *s, unsigned char out[18 + SS_STORE_ID_LEN]) {
    memcpy(out, "sealhsm-attest-v1", 18);
    memcpy(out + 18, s->store_id, SS_STORE_ID_LEN);
}

int st_attest_key_store(ss_store *s, MDB_txn *txn, EVP_PKEY *key, const unsigned char *cert,
                        size_t certlen, ss_error *e) {
    unsigned char *der = NULL, a[18 + SS_STORE_ID_LEN];
    size_t len = 0;
    int rc = st_pkcs8(key, &der, &len, e);
    unsigned char *v = rc == SU_OK ? OPENSSL_malloc(ST_NONCE_LEN + len + ST_TAG_LEN) : NULL;
    if (rc == SU_OK && v == NULL)
        rc = su_err(e, SU_EIO, "out of memory");
    if (rc == SU_OK)
        rc = st_random(s, v, ST_NONCE_LEN, e);
    aad(s, a);
    if (rc == SU_OK && !st_gcm_seal(s, s->k_seal, v, a, sizeof(a), der, len, v + ST_NONCE_LEN))
        rc = su_err(e, SU_EIO, "cannot seal the attestation key");
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_META, ATTEST_KEY, strlen(ATTEST_KEY), v,
                    ST_NONCE_LEN + len + ST_TAG_LEN, e);
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_META, ATTEST_CERT, strlen(ATTEST_CERT), cert, certlen, e);
    OPENSSL_free(v);
    if (der != NULL)
        OPENSSL_secure_clear_free(der, len);
    return rc;
}

int st_attest_key_load(ss_store *s, MDB_txn *txn, EVP_PKEY **key, unsigned char **cert,
                       size_t *certlen, ss_error *e) {
    MDB_val kv, cv;
    unsigned char a[18 + SS_STORE_ID_LEN];
    *key = NULL;
    *cert = NULL;
    int rc = st_get(s, txn, ST_DB_META, ATTEST_KEY, strlen(ATTEST_KEY), &kv, e);
    if (rc == SU_OK)
        rc = st_get(s, txn, ST_DB_META, ATTEST_CERT, strlen(ATTEST_CERT), &cv, e);
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_EINTEGRITY, "keystore %s has no attestation key", s->path);
    if (rc != SU_OK)
        return rc;
    if (kv.mv_size <= ST_NONCE_LEN + ST_TAG_LEN)
        return su_err(e, SU_EINTEGRITY, "keystore %s: attestation key is corrupt", s->path);
    size_t len = kv.mv_size - ST_NONCE_LEN - ST_TAG_LEN;
    unsigned char *der = OPENSSL_secure_malloc(len);
    if (der == NULL)
        return su_err(e, SU_EIO, "out of secure memory");
    aad(s, a);
    const unsigned char *p = kv.mv_data;
    if (!st_gcm_open(s, s->k_seal, p, a, sizeof(a), p + ST_NONCE_LEN, kv.mv_size - ST_NONCE_LEN,
                     der))
        rc = su_err(e, SU_EINTEGRITY, "keystore %s: attestation key fails authentication", s->path);
    if (rc == SU_OK)
        rc = st_pkey_from_pkcs8(s, der, len, key, e);
    OPENSSL_secure_clear_free(der, len);
    if (rc != SU_OK)
        return rc;
    /* the certificate is stored in the clear: it must carry our key */
    const unsigned char *c = cv.mv_data;
    X509 *x = X509_new_ex(s->libctx, s->propq);
    int ok = x != NULL && d2i_X509(&x, &c, (long)cv.mv_size) != NULL &&
             X509_get0_pubkey(x) != NULL && EVP_PKEY_eq(X509_get0_pubkey(x), *key) == 1;
    X509_free(x);
    if (ok)
        *cert = OPENSSL_memdup(cv.mv_data, cv.mv_size);
    if (!ok || *cert == NULL) {
        EVP_PKEY_free(*key);
        *key = NULL;
        return su_err(e, SU_EINTEGRITY,
                      "keystore %s: attestation CA certificate does not match its key", s->path);
    }
    *certlen = cv.mv_size;
    return SU_OK;
}

int ss_attest_ca(ss_store *s, unsigned char **der, size_t *len, ss_error *e) {
    *der = NULL;
    int rc = st_require_login(s, "attestation", e);
    MDB_txn *txn;
    EVP_PKEY *key = NULL;
    if (rc == SU_OK)
        rc = st_txn(s, 0, &txn, e);
    if (rc != SU_OK)
        return rc;
    rc = st_attest_key_load(s, txn, &key, der, len, e);
    EVP_PKEY_free(key);
    mdb_txn_abort(txn);
    return rc;
}

int ss_attest_key(ss_store *s, const char *label, unsigned char **der, size_t *len, ss_error *e) {
    *der = NULL;
    int rc = st_require_login(s, "attestation", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    st_keyrec r;
    EVP_PKEY *key = NULL;
    unsigned char *ca = NULL;
    size_t calen = 0;
    rc = st_key_open(s, 0, label, &txn, &r, e);
    if (txn == NULL)
        return rc;
    /* an attestation vouches for a key that can sign: a disabled or revoked key's
     * would be shown as evidence for a key no one may use (docs/security.md) */
    if (rc == SU_OK && r.info.state != SS_STATE_ACTIVE)
        rc = su_err(e, SU_EPOLICY,
                    "policy: key %s is %s: attestation is issued only for active keys", label,
                    ss_state_name(r.info.state));
    if (rc == SU_OK)
        rc = st_attest_key_load(s, txn, &key, &ca, &calen, e);
    mdb_txn_abort(txn);
    if (rc == SU_OK)
        rc = st_attest_issue(s->libctx, s->propq, key, ca, calen, &r.info, su_now(), der, len, e);
    EVP_PKEY_free(key);
    OPENSSL_free(ca);
    st_keyrec_clear(&r);
    return rc;
}
