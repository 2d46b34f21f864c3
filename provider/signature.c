/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OSSL_OP_SIGNATURE: RSA (PKCS #1 v1.5 and PSS), ECDSA, Ed25519 and Ed448 with
 * keystore keys. Digests are computed here, in the provider's own library
 * context; the private operation is always sc_sign(), which checks policy and
 * commits the audit record before it releases the signature. Verification uses
 * the key's public half with the default provider of our library context.
 */
#include "algid.h"
#include "prov.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SIG_RSA, SIG_ECDSA, SIG_ED25519, SIG_ED448 };
enum { OP_SIGN = 1, OP_VERIFY };

typedef struct sealhsm_sigctx {
    SEALHSM_PROV *prov;
    int alg;           /* SIG_* */
    SEALHSM_KEY *key;  /* owned by the caller's EVP_PKEY, which outlives the context */
    EVP_MD *md;        /* NULL until chosen; always NULL for EdDSA */
    EVP_MD_CTX *mdctx; /* digest-sign / digest-verify: the data hashed so far */
    int streaming;     /* data was hashed, the digest can no longer change */
    int pad_mode;      /* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
    int saltlen;       /* PSS: RSA_PSS_SALTLEN_* or a length in bytes */
    EVP_MD *mgf1_md;   /* PSS: NULL means the signature digest */
} SEALHSM_SIGCTX;

static bool is_eddsa(const SEALHSM_SIGCTX *ctx) {
    return ctx->alg == SIG_ED25519 || ctx->alg == SIG_ED448;
}

static void *sealhsm_sig_newctx(void *provctx, int alg) {
    SEALHSM_PROV *p = provctx;
    SEALHSM_SIGCTX *ctx;

    if (!sealhsm_prov_running(p))
        return NULL;
    if ((ctx = OPENSSL_zalloc(sizeof(*ctx))) == NULL)
        return NULL;
    ctx->prov = p;
    ctx->alg = alg;
    return ctx;
}

static void *sealhsm_sig_rsa_newctx(void *provctx, const char *propq) {
    return sealhsm_sig_newctx(provctx, SIG_RSA);
}

static void *sealhsm_sig_ecdsa_newctx(void *provctx, const char *propq) {
    return sealhsm_sig_newctx(provctx, SIG_ECDSA);
}

static void *sealhsm_sig_ed25519_newctx(void *provctx, const char *propq) {
    return sealhsm_sig_newctx(provctx, SIG_ED25519);
}

static void *sealhsm_sig_ed448_newctx(void *provctx, const char *propq) {
    return sealhsm_sig_newctx(provctx, SIG_ED448);
}

static void sealhsm_sig_freectx(void *vctx) {
    SEALHSM_SIGCTX *ctx = vctx;

    if (ctx == NULL)
        return;
    EVP_MD_free(ctx->md);
    EVP_MD_free(ctx->mgf1_md);
    EVP_MD_CTX_free(ctx->mdctx);
    OPENSSL_free(ctx);
}

/* OpenSSL 3.0 duplicates the context inside EVP_DigestSignFinal(): only OOM may fail. */
static void *sealhsm_sig_dupctx(void *vctx) {
    const SEALHSM_SIGCTX *ctx = vctx;
    SEALHSM_SIGCTX *d = OPENSSL_memdup(ctx, sizeof(*ctx));

    if (d == NULL)
        return NULL;
    d->md = d->mgf1_md = NULL;
    d->mdctx = NULL;
    if ((ctx->md != NULL && !EVP_MD_up_ref(ctx->md)) ||
        (ctx->mgf1_md != NULL && !EVP_MD_up_ref(ctx->mgf1_md))) {
        sealhsm_sig_freectx(d);
        return NULL;
    }
    d->md = ctx->md;
    d->mgf1_md = ctx->mgf1_md;
    if (ctx->mdctx != NULL &&
        ((d->mdctx = EVP_MD_CTX_new()) == NULL || !EVP_MD_CTX_copy_ex(d->mdctx, ctx->mdctx))) {
        sealhsm_sig_freectx(d);
        return NULL;
    }
    return d;
}

static const char *key_label(const SEALHSM_SIGCTX *ctx) {
    return ctx->key->label != NULL ? ctx->key->label : "(imported public key)";
}

/* Fetches mdname (NULL or "": the key's default) in our library context. */
static int set_digest(SEALHSM_SIGCTX *ctx, const char *mdname) {
    EVP_MD *md;

    if (mdname != NULL && *mdname == '\0')
        mdname = NULL;
    if (is_eddsa(ctx)) {
        if (mdname == NULL)
            return 1;
        SEALHSM_ERR(ctx->prov, SEALHSM_R_BAD_PARAM,
                    "sealhsm: key '%s': EdDSA signs the message itself, digest %s is not used",
                    key_label(ctx), mdname);
        return 0;
    }
    if (ctx->streaming) {
        SEALHSM_ERR(ctx->prov, SEALHSM_R_BAD_PARAM,
                    "sealhsm: the digest cannot change once data was signed");
        return 0;
    }
    if (mdname == NULL)
        mdname = sealhsm_key_default_digest(ctx->key);
    if ((md = EVP_MD_fetch(ctx->prov->libctx, mdname, NULL)) == NULL) {
        SEALHSM_ERR(ctx->prov, SEALHSM_R_BAD_PARAM, "sealhsm: unknown digest '%.64s'", mdname);
        return 0;
    }
    EVP_MD_free(ctx->md);
    ctx->md = md;
    if (ctx->mdctx != NULL && !EVP_DigestInit_ex2(ctx->mdctx, md, NULL))
        return 0;
    return 1;
}

static int key_fits(const SEALHSM_SIGCTX *ctx, const SEALHSM_KEY *k) {
    switch (ctx->alg) {
    case SIG_RSA:
        return k->kt == SEALHSM_KT_RSA || k->kt == SEALHSM_KT_RSA_PSS;
    case SIG_ECDSA:
        return k->kt == SEALHSM_KT_EC;
    case SIG_ED25519:
        return k->kt == SEALHSM_KT_ED25519;
    }
    return k->kt == SEALHSM_KT_ED448;
}

static int sealhsm_sig_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

/*
 * Common to every *_init. A key binds it and resets the parameters to their
 * defaults; no key (provkey NULL) is OpenSSL 3.0's re-init, e.g. EVP_DigestInit_ex
 * on a signing context: the same key and settings, a fresh digest.
 */
static int sig_init(SEALHSM_SIGCTX *ctx, void *provkey, int op, int digest_op, const char *mdname,
                    const OSSL_PARAM params[]) {
    SEALHSM_KEY *k = provkey != NULL ? provkey : ctx->key;

    if (!sealhsm_prov_running(ctx->prov))
        return 0;
    if (k == NULL || k->pub == NULL || !key_fits(ctx, k)) {
        SEALHSM_ERR(ctx->prov, SEALHSM_R_USAGE, "sealhsm: no key, or a key of another type");
        return 0;
    }
    if (op == OP_SIGN && !sealhsm_key_can_sign(k))
        return 0;
    ctx->streaming = 0;
    if (provkey != NULL) {
        ctx->key = k;
        ctx->pad_mode = k->kt == SEALHSM_KT_RSA_PSS ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING;
        /* as OpenSSL: when signing "auto" is the longest salt, when verifying "any" */
        ctx->saltlen = RSA_PSS_SALTLEN_AUTO;
        EVP_MD_free(ctx->md);
        EVP_MD_free(ctx->mgf1_md);
        ctx->md = ctx->mgf1_md = NULL;
    }
    if (!digest_op) {
        EVP_MD_CTX_free(ctx->mdctx);
        ctx->mdctx = NULL;
    } else if (!is_eddsa(ctx) && ctx->mdctx == NULL && (ctx->mdctx = EVP_MD_CTX_new()) == NULL) {
        return 0;
    }
    if (digest_op && (mdname != NULL || ctx->md == NULL)) {
        if (!set_digest(ctx, mdname))
            return 0;
    } else if (ctx->mdctx != NULL && !EVP_DigestInit_ex2(ctx->mdctx, ctx->md, NULL)) {
        return 0;
    }
    return sealhsm_sig_set_ctx_params(ctx, params);
}

static int sealhsm_sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[]) {
    return sig_init(vctx, provkey, OP_SIGN, 0, NULL, params);
}

static int sealhsm_sig_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[]) {
    return sig_init(vctx, provkey, OP_VERIFY, 0, NULL, params);
}

static int sealhsm_sig_digest_sign_init(void *vctx, const char *mdname, void *provkey,
                                        const OSSL_PARAM params[]) {
    return sig_init(vctx, provkey, OP_SIGN, 1, mdname, params);
}

static int sealhsm_sig_digest_verify_init(void *vctx, const char *mdname, void *provkey,
                                          const OSSL_PARAM params[]) {
    return sig_init(vctx, provkey, OP_VERIFY, 1, mdname, params);
}

/* The digest of a sign/verify on a ready-made hash: the named one, else the key's default. */
static int digest_for_hash(SEALHSM_SIGCTX *ctx, size_t tbslen) {
    if (ctx->md == NULL && !set_digest(ctx, NULL))
        return 0;
    if ((size_t)EVP_MD_get_size(ctx->md) != tbslen) {
        SEALHSM_ERR(ctx->prov, SEALHSM_R_BAD_PARAM,
                    "sealhsm: key '%s': input of %zu bytes is not a %s digest (name the digest, "
                    "e.g. -pkeyopt digest:sha256)",
                    key_label(ctx), tbslen, EVP_MD_get0_name(ctx->md));
        return 0;
    }
    return 1;
}

/* The PSS salt length in bytes that "digest", "max" and "auto" stand for. */
static int pss_saltlen(const SEALHSM_SIGCTX *ctx, int *out) {
    int hlen = EVP_MD_get_size(ctx->md);
    int max = (EVP_PKEY_get_bits(ctx->key->pub) - 1 + 7) / 8 - hlen - 2;

    switch (ctx->saltlen) {
    case RSA_PSS_SALTLEN_DIGEST:
        *out = hlen;
        break;
    case RSA_PSS_SALTLEN_AUTO:
    case RSA_PSS_SALTLEN_MAX:
        *out = max;
        break;
    default:
        *out = ctx->saltlen;
    }
    if (*out < 0 || *out > max) {
        SEALHSM_ERR(ctx->prov, SEALHSM_R_BAD_PARAM,
                    "sealhsm: key '%s': PSS salt length %d is outside 0..%d", key_label(ctx), *out,
                    max);
        return 0;
    }
    return 1;
}

/* Asked by sc_sign() for keys whose policy has a usage PIN
 * (docs/reference.md, PIN sources (provider)). */
static int key_pin_cb(void *arg, const char *label, su_pin **out, su_error *e) {
    const SEALHSM_KEY *k = arg;
    char prompt[SC_LABEL_MAX + 64];

    snprintf(prompt, sizeof(prompt), "Usage PIN for sealhsm key '%s': ", label);
    if (k->prov->key_pin_source != NULL)
        return su_pin_from_source(k->prov->key_pin_source, prompt, out, e);
    if (k->pin != NULL) {
        *out = su_pin_new(k->pin->data, k->pin->len);
        return *out != NULL ? SU_OK : su_err(e, SU_EIO, "out of secure memory");
    }
    return su_pin_from_source("prompt", prompt, out, e);
}

/*
 * The only way this provider produces a signature: tbs is the digest value
 * (EdDSA: the message), and sc_sign() releases the signature only after its
 * policy check and audit record.
 */
static int sign_with_store(SEALHSM_SIGCTX *ctx, const unsigned char *tbs, size_t tbslen,
                           unsigned char *sig, size_t *siglen, size_t sigsize) {
    SEALHSM_KEY *k = ctx->key;
    sc_sign_req req;
    size_t len = sigsize;
    int saltlen = 0;

    if (sigsize < (size_t)EVP_PKEY_get_size(k->pub)) {
        SEALHSM_ERR(ctx->prov, SEALHSM_R_BAD_PARAM,
                    "sealhsm: key '%s': signature buffer of %zu bytes is too small", k->label,
                    sigsize);
        return 0;
    }
    memset(&req, 0, sizeof(req));
    req.digest = ctx->md != NULL ? EVP_MD_get0_name(ctx->md) : NULL;
    if (ctx->alg == SIG_RSA && ctx->pad_mode == RSA_PKCS1_PSS_PADDING) {
        if (!pss_saltlen(ctx, &saltlen))
            return 0;
        req.padding = SC_PAD_PSS;
        req.mgf1_digest = ctx->mgf1_md != NULL ? EVP_MD_get0_name(ctx->mgf1_md) : NULL;
        req.pss_saltlen = saltlen;
    } else if (ctx->alg == SIG_RSA) {
        req.padding = SC_PAD_PKCS1;
    }
    req.tbs = tbs;
    req.tbslen = tbslen;
    req.key_pin_cb = key_pin_cb;
    req.key_pin_arg = k;
    if (!sealhsm_session_login(k->sess, NULL, NULL) ||
        !sealhsm_session_sign(k->sess, k->id, &req, sig, &len))
        return 0;
    *siglen = len;
    return 1;
}

static int sealhsm_sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                            const unsigned char *tbs, size_t tbslen) {
    SEALHSM_SIGCTX *ctx = vctx;

    if (sig == NULL) {
        *siglen = (size_t)EVP_PKEY_get_size(ctx->key->pub);
        return 1;
    }
    if (!digest_for_hash(ctx, tbslen))
        return 0;
    return sign_with_store(ctx, tbs, tbslen, sig, siglen, sigsize);
}

static int sealhsm_sig_digest_update(void *vctx, const unsigned char *data, size_t datalen) {
    SEALHSM_SIGCTX *ctx = vctx;

    ctx->streaming = 1;
    return EVP_DigestUpdate(ctx->mdctx, data, datalen);
}

static int sealhsm_sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen,
                                         size_t sigsize) {
    SEALHSM_SIGCTX *ctx = vctx;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;

    if (sig == NULL) {
        *siglen = (size_t)EVP_PKEY_get_size(ctx->key->pub);
        return 1;
    }
    if (!EVP_DigestFinal_ex(ctx->mdctx, digest, &dlen))
        return 0;
    return sign_with_store(ctx, digest, dlen, sig, siglen, sigsize);
}

/* EdDSA has no streaming interface in OpenSSL 3.0: one call with the whole message. */
static int sealhsm_sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                                   const unsigned char *tbs, size_t tbslen) {
    SEALHSM_SIGCTX *ctx = vctx;

    if (sig == NULL) {
        *siglen = (size_t)EVP_PKEY_get_size(ctx->key->pub);
        return 1;
    }
    return sign_with_store(ctx, tbs, tbslen, sig, siglen, sigsize);
}

/* A verify context on the public half, in our library context, set up like ctx. */
static EVP_PKEY_CTX *public_ctx(const SEALHSM_SIGCTX *ctx) {
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(ctx->prov->libctx, ctx->key->pub, NULL);
    int ok = pctx != NULL && EVP_PKEY_verify_init(pctx) > 0 &&
             EVP_PKEY_CTX_set_signature_md(pctx, ctx->md) > 0;

    if (ok && ctx->alg == SIG_RSA) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, ctx->pad_mode) > 0;
        if (ok && ctx->pad_mode == RSA_PKCS1_PSS_PADDING)
            ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, ctx->saltlen) > 0 &&
                 (ctx->mgf1_md == NULL || EVP_PKEY_CTX_set_rsa_mgf1_md_name(
                                              pctx, EVP_MD_get0_name(ctx->mgf1_md), NULL) > 0);
    }
    if (!ok) {
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    return pctx;
}

static int verify_hash(const SEALHSM_SIGCTX *ctx, const unsigned char *sig, size_t siglen,
                       const unsigned char *tbs, size_t tbslen) {
    EVP_PKEY_CTX *pctx = public_ctx(ctx);
    int ok = pctx != NULL && EVP_PKEY_verify(pctx, sig, siglen, tbs, tbslen) == 1;

    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static int sealhsm_sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
                              const unsigned char *tbs, size_t tbslen) {
    SEALHSM_SIGCTX *ctx = vctx;

    return digest_for_hash(ctx, tbslen) && verify_hash(ctx, sig, siglen, tbs, tbslen);
}

static int sealhsm_sig_digest_verify_final(void *vctx, const unsigned char *sig, size_t siglen) {
    SEALHSM_SIGCTX *ctx = vctx;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;

    return EVP_DigestFinal_ex(ctx->mdctx, digest, &dlen) &&
           verify_hash(ctx, sig, siglen, digest, dlen);
}

static int sealhsm_sig_digest_verify(void *vctx, const unsigned char *sig, size_t siglen,
                                     const unsigned char *tbs, size_t tbslen) {
    SEALHSM_SIGCTX *ctx = vctx;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m != NULL &&
             EVP_DigestVerifyInit_ex(m, NULL, NULL, ctx->prov->libctx, NULL, ctx->key->pub, NULL) &&
             EVP_DigestVerify(m, sig, siglen, tbs, tbslen) == 1;

    EVP_MD_CTX_free(m);
    return ok;
}

/* ---- parameters ------------------------------------------------------------------------ */

static const OSSL_ITEM pad_names[] = {{RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15},
                                      {RSA_PKCS1_PSS_PADDING, OSSL_PKEY_RSA_PAD_MODE_PSS},
                                      {RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE},
                                      {RSA_X931_PADDING, OSSL_PKEY_RSA_PAD_MODE_X931},
                                      {0, NULL}};

static const OSSL_ITEM saltlen_names[] = {
    {(unsigned int)RSA_PSS_SALTLEN_DIGEST, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST},
    {(unsigned int)RSA_PSS_SALTLEN_MAX, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX},
    {(unsigned int)RSA_PSS_SALTLEN_AUTO, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO},
    {0, NULL}};

/*
 * pad-mode and saltlen come as an integer (EVP_PKEY_CTX_set_rsa_padding) or as a
 * word (-pkeyopt rsa_padding_mode:pss); answer in the type asked. A salt length
 * may also be a number in a string, as stock OpenSSL takes it
 * (-sigopt rsa_pss_saltlen:-1): a byte count, or -1 (digest), -2 (auto: max when
 * signing), -3 (max) (README, "Sign with stock openssl").
 */
static int get_int_or_word(const OSSL_PARAM *p, const OSSL_ITEM *words, int *out) {
    int v;

    if (p->data_type == OSSL_PARAM_INTEGER) {
        if (!OSSL_PARAM_get_int(p, &v))
            return 0;
    } else if (p->data_type != OSSL_PARAM_UTF8_STRING || p->data == NULL) {
        return 0;
    } else {
        for (const OSSL_ITEM *w = words; w->ptr != NULL; w++) {
            if (strcmp(p->data, w->ptr) == 0) {
                *out = (int)w->id;
                return 1;
            }
        }
        char *end;
        long l = strtol(p->data, &end, 10);
        if (words != saltlen_names || *(const char *)p->data == '\0' || *end != '\0' ||
            l < INT_MIN || l > INT_MAX)
            return 0;
        v = (int)l;
    }
    if (words == saltlen_names && (v < RSA_PSS_SALTLEN_MAX || v > 0xffff))
        return 0;
    *out = v;
    return 1;
}

static int set_int_or_word(OSSL_PARAM *p, const OSSL_ITEM *words, int v) {
    char num[16];

    if (p->data_type == OSSL_PARAM_INTEGER)
        return OSSL_PARAM_set_int(p, v);
    for (const OSSL_ITEM *w = words; w->ptr != NULL; w++)
        if ((int)w->id == v)
            return OSSL_PARAM_set_utf8_string(p, w->ptr);
    snprintf(num, sizeof(num), "%d", v);
    return OSSL_PARAM_set_utf8_string(p, num);
}

static int set_rsa_params(SEALHSM_SIGCTX *ctx, const OSSL_PARAM params[]) {
    const OSSL_PARAM *p;
    const char *name = NULL;
    int v;

    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL) {
        if (!get_int_or_word(p, pad_names, &v) ||
            (v != RSA_PKCS1_PSS_PADDING &&
             (v != RSA_PKCS1_PADDING || ctx->key->kt == SEALHSM_KT_RSA_PSS))) {
            SEALHSM_ERR(ctx->prov, SEALHSM_R_UNSUPPORTED,
                        "sealhsm: key '%s': unsupported RSA padding (the keystore signs with "
                        "pkcs1 or pss)",
                        key_label(ctx));
            return 0;
        }
        ctx->pad_mode = v;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL) {
        if (!get_int_or_word(p, saltlen_names, &v)) {
            SEALHSM_ERR(
                ctx->prov, SEALHSM_R_BAD_PARAM,
                "sealhsm: PSS salt length must be digest, max, auto, -1, -2, -3 or a byte count");
            return 0;
        }
        ctx->saltlen = v;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
        EVP_MD *md;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name) ||
            (md = EVP_MD_fetch(ctx->prov->libctx, name, NULL)) == NULL) {
            SEALHSM_ERR(ctx->prov, SEALHSM_R_BAD_PARAM, "sealhsm: unknown MGF1 digest '%.64s'",
                        name != NULL ? name : "");
            return 0;
        }
        EVP_MD_free(ctx->mgf1_md);
        ctx->mgf1_md = md;
    }
    return 1;
}

/*
 * "properties" (and "mgf1-properties") are accepted and not used: they select
 * implementations in the caller's library context, while our digests come from
 * the default provider of our own.
 */
static int sealhsm_sig_set_ctx_params(void *vctx, const OSSL_PARAM params[]) {
    SEALHSM_SIGCTX *ctx = vctx;
    const OSSL_PARAM *p;
    const char *name = NULL;

    if (params == NULL)
        return 1;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL &&
        (!OSSL_PARAM_get_utf8_string_ptr(p, &name) || !set_digest(ctx, name)))
        return 0;
    return ctx->alg != SIG_RSA || set_rsa_params(ctx, params);
}

static const OSSL_PARAM sealhsm_sig_rsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
    OSSL_PARAM_END};

static const OSSL_PARAM sealhsm_sig_ecdsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0), OSSL_PARAM_END};

static const OSSL_PARAM sealhsm_sig_eddsa_settable[] = {OSSL_PARAM_END};

static const OSSL_PARAM *sealhsm_sig_rsa_settable_ctx_params(void *vctx, void *provctx) {
    return sealhsm_sig_rsa_settable;
}

static const OSSL_PARAM *sealhsm_sig_ecdsa_settable_ctx_params(void *vctx, void *provctx) {
    return sealhsm_sig_ecdsa_settable;
}

static const OSSL_PARAM *sealhsm_sig_eddsa_settable_ctx_params(void *vctx, void *provctx) {
    return sealhsm_sig_eddsa_settable;
}

static int get_algorithm_id(SEALHSM_SIGCTX *ctx, OSSL_PARAM *p) {
    sealhsm_sigalg s = {0};
    unsigned char *der = NULL;
    int derlen = 0, ok;

    switch (ctx->alg) {
    case SIG_ED25519:
        s.kind = SEALHSM_SIGALG_ED25519;
        break;
    case SIG_ED448:
        s.kind = SEALHSM_SIGALG_ED448;
        break;
    case SIG_ECDSA:
        s.kind = SEALHSM_SIGALG_ECDSA;
        break;
    default:
        s.kind = ctx->pad_mode == RSA_PKCS1_PSS_PADDING ? SEALHSM_SIGALG_RSA_PSS
                                                        : SEALHSM_SIGALG_RSA_PKCS1;
    }
    if (!is_eddsa(ctx) && ctx->md == NULL && !set_digest(ctx, NULL))
        return 0;
    s.md = ctx->md;
    s.mgf1 = ctx->mgf1_md != NULL ? ctx->mgf1_md : ctx->md;
    if (s.kind == SEALHSM_SIGALG_RSA_PSS && !pss_saltlen(ctx, &s.saltlen))
        return 0;
    if (!sealhsm_algorithm_id(&s, &der, &derlen)) {
        SEALHSM_ERR(ctx->prov, SEALHSM_R_UNSUPPORTED,
                    "sealhsm: key '%s': no algorithm identifier for this signature with %s",
                    key_label(ctx), EVP_MD_get0_name(ctx->md));
        return 0;
    }
    ok = OSSL_PARAM_set_octet_string(p, der, (size_t)derlen);
    OPENSSL_free(der);
    return ok;
}

static int sealhsm_sig_get_ctx_params(void *vctx, OSSL_PARAM params[]) {
    SEALHSM_SIGCTX *ctx = vctx;
    OSSL_PARAM *p;

    if (ctx->key == NULL)
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL &&
        !get_algorithm_id(ctx, p))
        return 0;
    if (is_eddsa(ctx))
        return 1;
    if (ctx->md == NULL && !set_digest(ctx, NULL))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL &&
        !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(ctx->md)))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST_SIZE)) != NULL &&
        !OSSL_PARAM_set_size_t(p, (size_t)EVP_MD_get_size(ctx->md)))
        return 0;
    if (ctx->alg != SIG_RSA)
        return 1;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL &&
        !set_int_or_word(p, pad_names, ctx->pad_mode))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL &&
        !set_int_or_word(p, saltlen_names, ctx->saltlen))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL &&
        !OSSL_PARAM_set_utf8_string(
            p, EVP_MD_get0_name(ctx->mgf1_md != NULL ? ctx->mgf1_md : ctx->md)))
        return 0;
    return 1;
}

static const OSSL_PARAM sealhsm_sig_rsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_END};

static const OSSL_PARAM sealhsm_sig_ecdsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL), OSSL_PARAM_END};

static const OSSL_PARAM sealhsm_sig_eddsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0), OSSL_PARAM_END};

static const OSSL_PARAM *sealhsm_sig_rsa_gettable_ctx_params(void *vctx, void *provctx) {
    return sealhsm_sig_rsa_gettable;
}

static const OSSL_PARAM *sealhsm_sig_ecdsa_gettable_ctx_params(void *vctx, void *provctx) {
    return sealhsm_sig_ecdsa_gettable;
}

static const OSSL_PARAM *sealhsm_sig_eddsa_gettable_ctx_params(void *vctx, void *provctx) {
    return sealhsm_sig_eddsa_gettable;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

/* Typed declarations: an entry whose signature differs from the core's does not compile. */
static OSSL_FUNC_signature_freectx_fn sealhsm_sig_freectx;
static OSSL_FUNC_signature_dupctx_fn sealhsm_sig_dupctx;
static OSSL_FUNC_signature_sign_init_fn sealhsm_sig_sign_init;
static OSSL_FUNC_signature_sign_fn sealhsm_sig_sign;
static OSSL_FUNC_signature_verify_init_fn sealhsm_sig_verify_init;
static OSSL_FUNC_signature_verify_fn sealhsm_sig_verify;
static OSSL_FUNC_signature_digest_sign_init_fn sealhsm_sig_digest_sign_init;
static OSSL_FUNC_signature_digest_sign_update_fn sealhsm_sig_digest_update;
static OSSL_FUNC_signature_digest_sign_final_fn sealhsm_sig_digest_sign_final;
static OSSL_FUNC_signature_digest_sign_fn sealhsm_sig_digest_sign;
static OSSL_FUNC_signature_digest_verify_init_fn sealhsm_sig_digest_verify_init;
static OSSL_FUNC_signature_digest_verify_final_fn sealhsm_sig_digest_verify_final;
static OSSL_FUNC_signature_digest_verify_fn sealhsm_sig_digest_verify;
static OSSL_FUNC_signature_get_ctx_params_fn sealhsm_sig_get_ctx_params;
static OSSL_FUNC_signature_set_ctx_params_fn sealhsm_sig_set_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn sealhsm_sig_eddsa_gettable_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn sealhsm_sig_eddsa_settable_ctx_params;

/* 3.0 does not fall back from EVP_PKEY_sign to digest-sign or back: RSA and ECDSA need both. */
#define SEALHSM_SIG_HASHING(alg)                                                                   \
    static OSSL_FUNC_signature_newctx_fn sealhsm_sig_##alg##_newctx;                               \
    static OSSL_FUNC_signature_gettable_ctx_params_fn sealhsm_sig_##alg##_gettable_ctx_params;     \
    static OSSL_FUNC_signature_settable_ctx_params_fn sealhsm_sig_##alg##_settable_ctx_params;     \
    static const OSSL_DISPATCH sealhsm_sig_##alg##_functions[] = {                                 \
        {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sealhsm_sig_##alg##_newctx},                  \
        {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sealhsm_sig_freectx},                        \
        {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sealhsm_sig_dupctx},                          \
        {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))sealhsm_sig_sign_init},                    \
        {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))sealhsm_sig_sign},                              \
        {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))sealhsm_sig_verify_init},                \
        {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))sealhsm_sig_verify},                          \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))sealhsm_sig_digest_sign_init},      \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))sealhsm_sig_digest_update},       \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))sealhsm_sig_digest_sign_final},    \
        {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))sealhsm_sig_digest_verify_init},  \
        {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))sealhsm_sig_digest_update},     \
        {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,                                                  \
         (void (*)(void))sealhsm_sig_digest_verify_final},                                         \
        {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sealhsm_sig_get_ctx_params},          \
        {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,                                                  \
         (void (*)(void))sealhsm_sig_##alg##_gettable_ctx_params},                                 \
        {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sealhsm_sig_set_ctx_params},          \
        {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,                                                  \
         (void (*)(void))sealhsm_sig_##alg##_settable_ctx_params},                                 \
        {0, NULL}}

/* EdDSA signs the message in one call (EVP_DigestSign), as OpenSSL's own does. */
#define SEALHSM_SIG_EDDSA(alg)                                                                     \
    static OSSL_FUNC_signature_newctx_fn sealhsm_sig_##alg##_newctx;                               \
    static const OSSL_DISPATCH sealhsm_sig_##alg##_functions[] = {                                 \
        {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))sealhsm_sig_##alg##_newctx},                  \
        {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))sealhsm_sig_freectx},                        \
        {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))sealhsm_sig_dupctx},                          \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))sealhsm_sig_digest_sign_init},      \
        {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))sealhsm_sig_digest_sign},                \
        {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))sealhsm_sig_digest_verify_init},  \
        {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))sealhsm_sig_digest_verify},            \
        {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))sealhsm_sig_get_ctx_params},          \
        {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,                                                  \
         (void (*)(void))sealhsm_sig_eddsa_gettable_ctx_params},                                   \
        {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))sealhsm_sig_set_ctx_params},          \
        {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,                                                  \
         (void (*)(void))sealhsm_sig_eddsa_settable_ctx_params},                                   \
        {0, NULL}}

SEALHSM_SIG_HASHING(rsa);
SEALHSM_SIG_HASHING(ecdsa);
SEALHSM_SIG_EDDSA(ed25519);
SEALHSM_SIG_EDDSA(ed448);

const OSSL_ALGORITHM sealhsm_signature_algs[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", "provider=sealhsm", sealhsm_sig_rsa_functions,
     "RSA PKCS#1 v1.5 and PSS signatures by the keystore"},
    {"ECDSA", "provider=sealhsm", sealhsm_sig_ecdsa_functions, "ECDSA signatures by the keystore"},
    {"ED25519:1.3.101.112", "provider=sealhsm", sealhsm_sig_ed25519_functions,
     "Ed25519 signatures by the keystore"},
    {"ED448:1.3.101.113", "provider=sealhsm", sealhsm_sig_ed448_functions,
     "Ed448 signatures by the keystore"},
    {NULL, NULL, NULL, NULL}};
