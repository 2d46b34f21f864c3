/* SPDX-License-Identifier: Apache-2.0 */
/* The store's symmetric primitives, all in the handle's library context. */
#include "internal.h"

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

int st_random(ss_store *s, unsigned char *out, size_t n, ss_error *e) {
    if (RAND_priv_bytes_ex(s ? s->libctx : NULL, out, n, 256) != 1)
        return su_err(e, SU_EIO, "the random generator failed");
    return SU_OK;
}

/*
 * The first call into libargon2 binds its lazily resolved symbols; the dynamic
 * linker's resolver saves the vector registers on the stack, and after a real
 * derivation they hold the KEK. One throwaway derivation per process binds every
 * symbol while no secret is in the registers.
 */
static void argon2_warm_up(void) {
    unsigned char out[32], salt[ST_SALT_LEN] = {0};
    argon2id_hash_raw(1, 8, 1, "warm-up", 7, salt, sizeof(salt), out, sizeof(out));
    OPENSSL_cleanse(out, sizeof(out));
}

int st_argon2id(const su_pin *pin, const unsigned char salt[ST_SALT_LEN], uint32_t m_kib,
                uint32_t t, uint32_t p, unsigned char out[ST_KEY_LEN], ss_error *e) {
    static pthread_once_t warm = PTHREAD_ONCE_INIT;
    pthread_once(&warm, argon2_warm_up);
    /* Refuse parameters no init accepts: a tampered slot must not make us allocate
     * terabytes or spin forever. */
    if (m_kib < 8 * p || m_kib > 4u * 1024 * 1024 || t < 1 || t > 100 || p < 1 || p > 16)
        return su_err(e, SU_EINTEGRITY, "PIN slot has invalid Argon2id parameters");
    argon2_context ctx = {0};
    ctx.out = out;
    ctx.outlen = ST_KEY_LEN;
    ctx.pwd = (uint8_t *)pin->data;
    ctx.pwdlen = (uint32_t)pin->len;
    ctx.salt = (uint8_t *)salt;
    ctx.saltlen = ST_SALT_LEN;
    ctx.t_cost = t;
    ctx.m_cost = m_kib;
    ctx.lanes = p;
    ctx.threads = p;
    ctx.version = ARGON2_VERSION_13;
    /* the PIN buffer belongs to the caller, which cleanses it */
    ctx.flags = ARGON2_DEFAULT_FLAGS;
    int rc = argon2_ctx(&ctx, Argon2_id);
    if (rc != ARGON2_OK)
        return su_err(e, rc == ARGON2_MEMORY_ALLOCATION_ERROR ? SU_EIO : SU_EINTEGRITY,
                      "Argon2id failed: %s", argon2_error_message(rc));
    return SU_OK;
}

bool st_algs_fetch(ss_store *s) {
    s->sha256 = EVP_MD_fetch(s->libctx, "SHA256", s->propq);
    s->gcm = EVP_CIPHER_fetch(s->libctx, "AES-256-GCM", s->propq);
    s->hmac = EVP_MAC_fetch(s->libctx, "HMAC", s->propq);
    return s->sha256 != NULL && s->gcm != NULL && s->hmac != NULL;
}

void st_algs_free(ss_store *s) {
    st_mac_templates_free(s);
    while (s->md_nfree > 0)
        EVP_MD_CTX_free(s->md_free[--s->md_nfree]);
    EVP_MD_free(s->sha256);
    EVP_CIPHER_free(s->gcm);
    EVP_MAC_free(s->hmac);
    s->sha256 = NULL;
    s->gcm = NULL;
    s->hmac = NULL;
}

EVP_MAC_CTX *st_hmac_new(const ss_store *s, const unsigned char *key) {
    EVP_MAC *mac = s && s->hmac ? s->hmac : EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    if (mac != NULL && (s == NULL || s->hmac == NULL))
        EVP_MAC_free(mac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (ctx != NULL && EVP_MAC_init(ctx, key, ST_KEY_LEN, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

bool st_mac_templates(ss_store *s) {
    st_mac_templates_free(s);
    /* keyed once per session: HMAC init fetches its digest, which costs locks */
    s->mac_tmpl = st_hmac_new(s, s->k_mac);
    s->audit_tmpl = st_hmac_new(s, s->k_audit);
    return s->mac_tmpl != NULL && s->audit_tmpl != NULL;
}

void st_mac_templates_free(ss_store *s) {
    EVP_MAC_CTX_free(s->mac_tmpl);
    EVP_MAC_CTX_free(s->audit_tmpl);
    s->mac_tmpl = s->audit_tmpl = NULL;
    for (int w = 0; w < 2; w++) {
        while (s->mac_nfree[w] > 0)
            EVP_MAC_CTX_free(s->mac_free[w][--s->mac_nfree[w]]);
    }
}

/* A keyed context for k_mac (which 0) or k_audit (1): reused from the pool, else a
 * copy of the session's template. Duplicating and freeing per HMAC was the largest
 * cost of a signature after the signature itself. */
static EVP_MAC_CTX *mac_take(const ss_store *s, int which) {
    ss_store *m = (ss_store *)s; /* the pool is mutable state behind a const handle */
    EVP_MAC_CTX *ctx = NULL;
    pthread_mutex_lock(&m->mac_mu);
    if (m->mac_nfree[which] > 0)
        ctx = m->mac_free[which][--m->mac_nfree[which]];
    pthread_mutex_unlock(&m->mac_mu);
    if (ctx != NULL && EVP_MAC_init(ctx, NULL, 0, NULL) == 1)
        return ctx;
    EVP_MAC_CTX_free(ctx);
    return EVP_MAC_CTX_dup(which ? s->audit_tmpl : s->mac_tmpl);
}

static void mac_give(const ss_store *s, int which, EVP_MAC_CTX *ctx) {
    ss_store *m = (ss_store *)s;
    pthread_mutex_lock(&m->mac_mu);
    if (m->mac_nfree[which] < 8) {
        m->mac_free[which][m->mac_nfree[which]++] = ctx;
        ctx = NULL;
    }
    pthread_mutex_unlock(&m->mac_mu);
    EVP_MAC_CTX_free(ctx);
}

bool st_hkdf(const ss_store *s, const unsigned char *ikm, const unsigned char *salt, size_t saltlen,
             const char *info, unsigned char out[ST_KEY_LEN]) {
    EVP_KDF *kdf = EVP_KDF_fetch(s ? s->libctx : NULL, "HKDF", s ? s->propq : NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (kctx == NULL)
        return false;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ST_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(kctx, out, ST_KEY_LEN, params) == 1;
    EVP_KDF_CTX_free(kctx);
    return ok;
}

bool st_hmac(const ss_store *s, const unsigned char key[ST_KEY_LEN], const void *a, size_t alen,
             const void *b, size_t blen, unsigned char out[ST_MAC_LEN]) {
    int which = -1;
    if (s != NULL && key == s->k_mac && s->mac_tmpl != NULL)
        which = 0;
    else if (s != NULL && key == s->k_audit && s->audit_tmpl != NULL)
        which = 1;
    EVP_MAC_CTX *ctx = which >= 0 ? mac_take(s, which) : st_hmac_new(s, key);
    if (ctx == NULL)
        return false;
    size_t outl = 0;
    int ok = EVP_MAC_update(ctx, a, alen) == 1 &&
             (blen == 0 || EVP_MAC_update(ctx, b, blen) == 1) &&
             EVP_MAC_final(ctx, out, &outl, ST_MAC_LEN) == 1 && outl == ST_MAC_LEN;
    if (which >= 0 && ok)
        mac_give(s, which, ctx);
    else
        EVP_MAC_CTX_free(ctx);
    return ok;
}

/* Digest contexts kept per handle for reuse: allocating one per hash cost more
 * than hashing the short records. */
static EVP_MD_CTX *md_take(const ss_store *s) {
    ss_store *m = (ss_store *)s;
    EVP_MD_CTX *ctx = NULL;
    pthread_mutex_lock(&m->mac_mu);
    if (m->md_nfree > 0)
        ctx = m->md_free[--m->md_nfree];
    pthread_mutex_unlock(&m->mac_mu);
    return ctx != NULL ? ctx : EVP_MD_CTX_new();
}

static void md_give(const ss_store *s, EVP_MD_CTX *ctx) {
    ss_store *m = (ss_store *)s;
    pthread_mutex_lock(&m->mac_mu);
    if (m->md_nfree < 8) {
        m->md_free[m->md_nfree++] = ctx;
        ctx = NULL;
    }
    pthread_mutex_unlock(&m->mac_mu);
    EVP_MD_CTX_free(ctx);
}

bool st_sha256(const ss_store *s, const void *a, size_t alen, const void *b, size_t blen,
               unsigned char out[32]) {
    int pooled = s != NULL && s->sha256 != NULL;
    EVP_MD *md = pooled ? s->sha256 : EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *ctx = pooled ? md_take(s) : EVP_MD_CTX_new();
    int ok = md != NULL && ctx != NULL && EVP_DigestInit_ex2(ctx, md, NULL) == 1 &&
             EVP_DigestUpdate(ctx, a, alen) == 1 &&
             (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
             EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    if (pooled && ctx != NULL)
        md_give(s, ctx);
    else
        EVP_MD_CTX_free(ctx);
    if (!pooled)
        EVP_MD_free(md);
    return ok;
}

static bool gcm(const ss_store *s, int enc, const unsigned char key[ST_KEY_LEN],
                const unsigned char nonce[ST_NONCE_LEN], const void *aad, size_t aadlen,
                const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag) {
    EVP_CIPHER *c = s && s->gcm ? s->gcm : EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl, ok = c != NULL && ctx != NULL &&
                   EVP_CipherInit_ex2(ctx, c, key, nonce, enc, NULL) == 1 &&
                   (aadlen == 0 || EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aadlen) == 1) &&
                   (len == 0 || EVP_CipherUpdate(ctx, out, &outl, in, (int)len) == 1);
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ST_TAG_LEN, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(ctx, out + len, &outl) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ST_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (c != NULL && (s == NULL || s->gcm == NULL))
        EVP_CIPHER_free(c);
    return ok;
}

bool st_gcm_seal(const ss_store *s, const unsigned char key[ST_KEY_LEN],
                 const unsigned char nonce[ST_NONCE_LEN], const void *aad, size_t aadlen,
                 const unsigned char *in, size_t len, unsigned char *out) {
    if (len > INT32_MAX || aadlen > INT32_MAX)
        return false;
    return gcm(s, 1, key, nonce, aad, aadlen, in, len, out, out + len);
}

bool st_gcm_open(const ss_store *s, const unsigned char key[ST_KEY_LEN],
                 const unsigned char nonce[ST_NONCE_LEN], const void *aad, size_t aadlen,
                 const unsigned char *in, size_t len, unsigned char *out) {
    if (len < ST_TAG_LEN || len > INT32_MAX || aadlen > INT32_MAX)
        return false;
    unsigned char tag[ST_TAG_LEN];
    memcpy(tag, in + len - ST_TAG_LEN, ST_TAG_LEN);
    int ok = gcm(s, 0, key, nonce, aad, aadlen, in, len - ST_TAG_LEN, out, tag);
    if (!ok)
        OPENSSL_cleanse(out, len - ST_TAG_LEN);
    return ok;
}
