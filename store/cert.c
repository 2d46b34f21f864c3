/* SPDX-License-Identifier: Apache-2.0 */
/* Certificate chains stored with keys: u32 count, DER blobs, MAC bound to the key id. */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHAIN 16

void ss_blobs_free(ss_blob *v, size_t n) {
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        OPENSSL_free(v[i].data);
    free(v);
}

static int leaf_matches(ss_store *s, const ss_keyinfo *k, const ss_blob *leaf, ss_error *e) {
    const unsigned char *p = leaf->data, *q = k->spki;
    X509 *x = X509_new_ex(s->libctx, s->propq);
    if (x == NULL || d2i_X509(&x, &p, (long)leaf->len) == NULL || p != leaf->data + leaf->len) {
        X509_free(x);
        return su_err(e, SU_EUSAGE, "key %s: the certificate is not valid DER X.509", k->label);
    }
    EVP_PKEY *pub = d2i_PUBKEY_ex(NULL, &q, (long)k->spki_len, s->libctx, s->propq);
    EVP_PKEY *cpub = X509_get0_pubkey(x);
    int eq = pub != NULL && cpub != NULL && EVP_PKEY_eq(pub, cpub) == 1;
    EVP_PKEY_free(pub);
    X509_free(x);
    if (!eq)
        return su_err(e, SU_EUSAGE, "key %s: the certificate's public key does not match the key",
                      k->label);
    return SU_OK;
}

/*
 * The chain as stored: the leaf, then the certificate that issued it (names and
 * signature), then its issuer, and so on up to a self-issued one. Certificates that
 * issue none of these, and duplicates, are left out: a chain handed to TLS peers and
 * code-signing verifiers carries only what builds the path (README, "cert import").
 * idx[0..*kept) are the positions kept, in chain order.
 */
static int chain_order(ss_store *s, const char *label, const ss_blob *in, size_t n, size_t *idx,
                       size_t *kept, ss_error *e) {
    X509 *x[MAX_CHAIN] = {0};
    int used[MAX_CHAIN] = {0}, rc = SU_OK;
    for (size_t i = 0; i < n && rc == SU_OK; i++) {
        const unsigned char *p = in[i].data;
        if ((x[i] = X509_new_ex(s->libctx, s->propq)) == NULL ||
            d2i_X509(&x[i], &p, (long)in[i].len) == NULL || p != in[i].data + in[i].len)
            rc = su_err(e, SU_EUSAGE, "key %s: certificate %zu is not valid DER X.509", label,
                        i + 1);
    }
    size_t cur = 0;
    *kept = 0;
    if (rc == SU_OK) {
        idx[(*kept)++] = 0;
        used[0] = 1;
    }
    while (rc == SU_OK && X509_check_issued(x[cur], x[cur]) != X509_V_OK) {
        size_t next = n;
        for (size_t j = 0; j < n && next == n; j++)
            if (!used[j] && X509_check_issued(x[j], x[cur]) == X509_V_OK &&
                X509_verify(x[cur], X509_get0_pubkey(x[j])) == 1)
                next = j;
        if (next == n)
            break;
        /* copies of a certificate already in the chain never count again */
        for (size_t j = 0; j < n; j++)
            if (!used[j] && X509_cmp(x[j], x[next]) == 0)
                used[j] = 1;
        used[next] = 1;
        idx[(*kept)++] = next;
        cur = next;
    }
    for (size_t i = 0; i < n; i++)
        X509_free(x[i]);
    return rc;
}

int st_certs_store(ss_store *s, MDB_txn *txn, const unsigned char id[SS_KEY_ID_LEN],
                   const ss_blob *chain, size_t n, ss_error *e) {
    su_buf b;
    unsigned char mac[ST_MAC_LEN];
    su_buf_init(&b, 0);
    su_buf_u32(&b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        su_buf_bytes(&b, chain[i].data, chain[i].len);
    int rc = !b.failed && st_hmac(s, s->k_mac, id, SS_KEY_ID_LEN, b.data, b.len, mac)
                 ? SU_OK
                 : su_err(e, SU_EIO, "out of memory");
    su_buf_put(&b, mac, ST_MAC_LEN);
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_CERTS, id, SS_KEY_ID_LEN, b.data, b.len, e);
    if (rc == SU_OK)
        rc = st_fresh_update(s, txn, id, e);
    su_buf_free(&b);
    return rc;
}

int ss_cert_import(ss_store *s, const char *label, const ss_blob *chain, size_t n, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_SO, "importing a certificate", e);
    if (rc != SU_OK)
        return rc;
    if (n == 0 || n > MAX_CHAIN)
        return su_err(e, SU_EUSAGE, "key %s: give 1 to %d certificates", label, MAX_CHAIN);
    MDB_txn *txn;
    st_keyrec r;
    rc = st_key_open(s, 1, label, &txn, &r, e);
    if (txn == NULL)
        return rc;
    if (rc == SU_OK)
        rc = st_fresh_check(s, txn, &r.info, e);
    if (rc == SU_OK)
        rc = leaf_matches(s, &r.info, &chain[0], e);
    size_t idx[MAX_CHAIN], kept = 0;
    if (rc == SU_OK)
        rc = chain_order(s, label, chain, n, idx, &kept, e);
    ss_blob ordered[MAX_CHAIN];
    for (size_t j = 0; rc == SU_OK && j < kept; j++)
        ordered[j] = chain[idx[j]];
    if (rc == SU_OK)
        rc = st_certs_store(s, txn, r.info.id, ordered, kept, e);
    st_audit_in in = {.op = SS_OP_CERT,
                      .outcome = SS_OUT_OK,
                      .key_id = r.info.id,
                      .label = label,
                      .reason = "certificate chain stored"};
    rc = st_finish_audited(s, txn, rc, &in, e);
    st_keyrec_clear(&r);
    return rc;
}

int st_certs_load(ss_store *s, MDB_txn *txn, const unsigned char id[SS_KEY_ID_LEN], ss_blob **chain,
                  size_t *n, ss_error *e) {
    MDB_val v;
    char name[2 * SS_KEY_ID_LEN + 8];
    *chain = NULL;
    *n = 0;
    st_key_name(name, sizeof(name), NULL, id);
    int rc = st_get(s, txn, ST_DB_CERTS, id, SS_KEY_ID_LEN, &v, e);
    if (rc == SU_ENOTFOUND)
        return SU_OK;
    ss_blob *out = NULL;
    uint32_t cnt = 0;
    if (rc == SU_OK) {
        unsigned char mac[ST_MAC_LEN];
        const unsigned char *p = v.mv_data;
        su_rd r;
        if (v.mv_size < 4 + ST_MAC_LEN ||
            !st_hmac(s, s->k_mac, id, SS_KEY_ID_LEN, p, v.mv_size - ST_MAC_LEN, mac) ||
            CRYPTO_memcmp(mac, p + v.mv_size - ST_MAC_LEN, ST_MAC_LEN) != 0)
            rc = su_err(e, SU_EINTEGRITY, "key %s: certificate record fails its integrity check",
                        name);
        su_rd_init(&r, p, v.mv_size - ST_MAC_LEN);
        if (rc == SU_OK && (!su_rd_u32(&r, &cnt) || cnt == 0 || cnt > MAX_CHAIN))
            rc = su_err(e, SU_EINTEGRITY, "key %s: certificate record is malformed", name);
        if (rc == SU_OK && (out = calloc(cnt, sizeof(*out))) == NULL)
            rc = su_err(e, SU_EIO, "out of memory");
        for (uint32_t i = 0; rc == SU_OK && i < cnt; i++) {
            const unsigned char *d;
            size_t len;
            if (!su_rd_bytes(&r, &d, &len, 1 << 20) || len == 0)
                rc = su_err(e, SU_EINTEGRITY, "key %s: certificate record is malformed", name);
            else if ((out[i].data = OPENSSL_memdup(d, len)) == NULL)
                rc = su_err(e, SU_EIO, "out of memory");
            else
                out[i].len = len;
        }
    }
    if (rc != SU_OK) {
        ss_blobs_free(out, cnt);
        return rc;
    }
    *chain = out;
    *n = cnt;
    return SU_OK;
}

int ss_cert_get(ss_store *s, const unsigned char id[SS_KEY_ID_LEN], ss_blob **chain, size_t *n,
                ss_error *e) {
    *chain = NULL;
    *n = 0;
    int rc = st_require_login(s, "reading certificates", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    if ((rc = st_txn(s, 0, &txn, e)) != SU_OK)
        return rc;
    rc = st_certs_load(s, txn, id, chain, n, e);
    mdb_txn_abort(txn);
    return rc;
}
