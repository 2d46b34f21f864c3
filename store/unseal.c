/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From an unsealed PKCS#8 buffer (secure heap) to a signing key, without leaving
 * private bytes in ordinary memory. OpenSSL 3.0's decoder chain copies the inner
 * private-key DER into normal-heap buffers (once per decoder it tries) and frees
 * them uncleansed. So the private components are read in place from the DER and
 * handed to the key management as secure BIGNUMs (RSA, EC) or as a raw private key
 * that the EdDSA key management copies into the secure heap.
 */
#include "internal.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

/* One DER TLV of the given tag at *p (bounded by end); *p moves past it. */
static bool der_take(const unsigned char **p, const unsigned char *end, unsigned char tag,
                     const unsigned char **val, size_t *len) {
    if (*p >= end || **p != tag || end - *p < 2)
        return false;
    (*p)++;
    size_t l = *(*p)++;
    if (l & 0x80) {
        size_t nb = l & 0x7f;
        if (nb == 0 || nb > 3 || (size_t)(end - *p) < nb)
            return false;
        for (l = 0; nb > 0; nb--)
            l = l << 8 | *(*p)++;
    }
    if ((size_t)(end - *p) < l)
        return false;
    *val = *p;
    *len = l;
    *p += l;
    return true;
}

/* PrivateKeyInfo { version, algorithm, privateKey OCTET STRING }: the contents of
 * privateKey (the algorithm's own private-key encoding), in place. */
static bool pkcs8_inner(const unsigned char *der, size_t len, const unsigned char **in,
                        size_t *inlen) {
    const unsigned char *p = der, *end = der + len, *seq, *v;
    size_t seqlen, vl;
    if (!der_take(&p, end, 0x30, &seq, &seqlen))
        return false;
    p = seq;
    end = seq + seqlen;
    return der_take(&p, end, 0x02, &v, &vl) && der_take(&p, end, 0x30, &v, &vl) &&
           der_take(&p, end, 0x04, in, inlen);
}

/* ECPrivateKey { version, privateKey OCTET STRING, ... }: the scalar's bytes. */
static bool ec_scalar(const unsigned char *der, size_t len, const unsigned char **d, size_t *dlen) {
    const unsigned char *p, *end, *inner, *ec, *v;
    size_t innerlen, eclen, vl;
    if (!pkcs8_inner(der, len, &inner, &innerlen))
        return false;
    p = inner;
    end = inner + innerlen;
    if (!der_take(&p, end, 0x30, &ec, &eclen))
        return false;
    p = ec;
    end = ec + eclen;
    return der_take(&p, end, 0x02, &v, &vl) && der_take(&p, end, 0x04, d, dlen) && *dlen > 0;
}

/* RFC 8410 CurvePrivateKey ::= OCTET STRING inside privateKey: the seed. */
static bool ecx_seed(const unsigned char *der, size_t len, const unsigned char **d, size_t *dlen) {
    const unsigned char *p, *inner;
    size_t innerlen;
    if (!pkcs8_inner(der, len, &inner, &innerlen))
        return false;
    p = inner;
    return der_take(&p, inner + innerlen, 0x04, d, dlen) && p == inner + innerlen && *dlen > 0;
}

/* A key pair of OpenSSL type `name` from the components pushed into bld; the
 * secure part of the intermediate params is cleansed when they are freed. */
static bool keypair_from_bld(ss_store *s, const char *name, OSSL_PARAM_BLD *bld, EVP_PKEY **out) {
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx =
        params != NULL ? EVP_PKEY_CTX_new_from_name(s->libctx, name, s->propq) : NULL;
    int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return ok;
}

static int ec_key(ss_store *s, const ss_keyinfo *k, const unsigned char *der, size_t len,
                  EVP_PKEY **out, ss_error *e) {
    const unsigned char *d, *q = k->spki;
    size_t dlen;
    unsigned char pub[160];
    size_t publen = 0;
    EVP_PKEY *pubkey = d2i_PUBKEY_ex(NULL, &q, (long)k->spki_len, s->libctx, s->propq);
    BIGNUM *priv = BN_secure_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    int ok = pubkey != NULL && priv != NULL && bld != NULL && ec_scalar(der, len, &d, &dlen) &&
             BN_bin2bn(d, (int)dlen, priv) != NULL &&
             EVP_PKEY_get_octet_string_param(pubkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub),
                                             &publen) == 1 &&
             OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                             ss_keytype_curve(k->type), 0) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) == 1 &&
             OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, publen) == 1 &&
             keypair_from_bld(s, "EC", bld, out);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    EVP_PKEY_free(pubkey);
    if (!ok)
        return su_err(e, SU_EINTEGRITY, "key %s: the unsealed EC key is malformed", k->label);
    return SU_OK;
}

static int ecx_key(ss_store *s, const ss_keyinfo *k, const unsigned char *der, size_t len,
                   EVP_PKEY **out, ss_error *e) {
    const unsigned char *d;
    size_t dlen;
    EVP_PKEY *raw = NULL;
    if (ecx_seed(der, len, &d, &dlen))
        raw = EVP_PKEY_new_raw_private_key_ex(s->libctx, ss_keytype_ossl_name(k->type), s->propq, d,
                                              dlen);
    /* OpenSSL 3.0 imports a raw private key into ordinary memory (cleansed when freed);
     * a duplicate is allocated in the secure heap, so that is the one kept */
    if (raw != NULL)
        *out = EVP_PKEY_dup(raw);
    EVP_PKEY_free(raw);
    if (*out == NULL)
        return su_err(e, SU_EINTEGRITY, "key %s: the unsealed EdDSA key is malformed", k->label);
    return SU_OK;
}

/* RSAPrivateKey { version, n, e, d, p, q, dP, dQ, qInv }: n and e as ordinary
 * BIGNUMs, the six private components as secure ones, straight from the DER. */
static int rsa_key(ss_store *s, const ss_keyinfo *k, const unsigned char *der, size_t len,
                   EVP_PKEY **out, ss_error *e) {
    static const char *const names[8] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    BIGNUM *bn[8] = {0};
    const unsigned char *p, *end, *inner, *seq, *v;
    size_t innerlen, seqlen, vl;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    int ok = bld != NULL && pkcs8_inner(der, len, &inner, &innerlen);
    if (ok) {
        p = inner;
        end = inner + innerlen;
        ok = der_take(&p, end, 0x30, &seq, &seqlen);
    }
    if (ok) {
        p = seq;
        end = seq + seqlen;
        ok = der_take(&p, end, 0x02, &v, &vl); /* version */
    }
    for (int i = 0; ok && i < 8; i++) {
        ok = der_take(&p, end, 0x02, &v, &vl) && vl > 0 && (v[0] & 0x80) == 0 &&
             (bn[i] = i < 2 ? BN_new() : BN_secure_new()) != NULL &&
             BN_bin2bn(v, (int)vl, bn[i]) != NULL &&
             OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i]) == 1;
    }
    ok = ok && keypair_from_bld(s, "RSA", bld, out);
    OSSL_PARAM_BLD_free(bld);
    for (int i = 0; i < 8; i++)
        BN_clear_free(bn[i]);
    if (!ok)
        return su_err(e, SU_EINTEGRITY, "key %s: the unsealed RSA key is malformed", k->label);
    return SU_OK;
}

int st_pkey_unsealed(ss_store *s, const ss_keyinfo *k, const unsigned char *der, size_t len,
                     EVP_PKEY **out, ss_error *e) {
    *out = NULL;
    switch (k->type.alg) {
    case SS_ALG_EC:
        return ec_key(s, k, der, len, out, e);
    case SS_ALG_RSA:
        return rsa_key(s, k, der, len, out, e);
    case SS_ALG_ED25519:
    case SS_ALG_ED448:
        return ecx_key(s, k, der, len, out, e);
    }
    return su_err(e, SU_EINTEGRITY, "key %s: unknown key type", k->label);
}
