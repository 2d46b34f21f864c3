/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From an unsealed PKCS#8 buffer (secure heap) to a signing key, without leaving
 * private bytes in ordinary memory. OpenSSL 3.0's EC PrivateKeyInfo decoder copies
 * the private scalar through a normal-heap OCTET STRING it frees uncleansed; so for
 * EC keys the scalar is read in place from the DER and handed to the EC key
 * management as a secure BIGNUM. RSA and EdDSA keys decode into the secure heap
 * already and take OpenSSL's decoder.
 */
#include "internal.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

/* One DER TLV of the given tag at *p (bounded by end); *p moves past it. */
static int der_take(const unsigned char **p, const unsigned char *end, unsigned char tag,
                    const unsigned char **val, size_t *len)
{
    if (*p >= end || **p != tag || end - *p < 2)
        return 0;
    (*p)++;
    size_t l = *(*p)++;
    if (l & 0x80) {
        size_t nb = l & 0x7f;
        if (nb == 0 || nb > 3 || (size_t)(end - *p) < nb)
            return 0;
        for (l = 0; nb > 0; nb--)
            l = l << 8 | *(*p)++;
    }
    if ((size_t)(end - *p) < l)
        return 0;
    *val = *p;
    *len = l;
    *p += l;
    return 1;
}

/* PrivateKeyInfo { version, algorithm, privateKey OCTET STRING { ECPrivateKey {
 * version, privateKey OCTET STRING, ... } } }: the scalar's bytes, in place. */
static int ec_scalar(const unsigned char *der, size_t len, const unsigned char **d, size_t *dlen)
{
    const unsigned char *p = der, *end = der + len, *seq, *v, *inner, *ec;
    size_t seqlen, vl, innerlen, eclen;
    if (!der_take(&p, end, 0x30, &seq, &seqlen))
        return 0;
    p = seq;
    end = seq + seqlen;
    if (!der_take(&p, end, 0x02, &v, &vl) || !der_take(&p, end, 0x30, &v, &vl) ||
        !der_take(&p, end, 0x04, &inner, &innerlen))
        return 0;
    p = inner;
    end = inner + innerlen;
    if (!der_take(&p, end, 0x30, &ec, &eclen))
        return 0;
    p = ec;
    end = ec + eclen;
    return der_take(&p, end, 0x02, &v, &vl) && der_take(&p, end, 0x04, d, dlen) && *dlen > 0;
}

static int ec_key(ss_store *s, const ss_keyinfo *k, const unsigned char *der, size_t len,
                  EVP_PKEY **out, ss_error *e)
{
    const unsigned char *d, *q = k->spki;
    size_t dlen;
    unsigned char pub[160];
    size_t publen = 0;
    EVP_PKEY *pubkey = d2i_PUBKEY_ex(NULL, &q, (long)k->spki_len, s->libctx, s->propq);
    BIGNUM *priv = BN_secure_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    int ok = pubkey != NULL && priv != NULL && bld != NULL && ec_scalar(der, len, &d, &dlen) &&
             BN_bin2bn(d, (int)dlen, priv) != NULL &&
             EVP_PKEY_get_octet_string_param(pubkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub),
                                             &publen) == 1 &&
             OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                             ss_keytype_curve(k->type), 0) == 1 &&
             OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) == 1 &&
             OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, publen) == 1 &&
             (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
             (ctx = EVP_PKEY_CTX_new_from_name(s->libctx, "EC", s->propq)) != NULL &&
             EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* the secure part is cleansed */
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    EVP_PKEY_free(pubkey);
    if (!ok)
        return su_err(e, SU_EINTEGRITY, "key %s: the unsealed EC key is malformed", k->label);
    return SU_OK;
}

int st_pkey_unsealed(ss_store *s, const ss_keyinfo *k, const unsigned char *der, size_t len,
                     EVP_PKEY **out, ss_error *e)
{
    *out = NULL;
    if (k->type.alg == SS_ALG_EC)
        return ec_key(s, k, der, len, out, e);
    return st_pkey_from_pkcs8(s, der, len, out, e);
}
