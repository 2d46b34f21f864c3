/* SPDX-License-Identifier: Apache-2.0 */
/* The store's symmetric primitives, all in the handle's library context. */
#include "internal.h"

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <string.h>

int st_random(ss_store *s, unsigned char *out, size_t n, ss_error *e)
{
    if (RAND_priv_bytes_ex(s ? s->libctx : NULL, out, n, 256) != 1)
        return su_err(e, SU_EIO, "the random generator failed");
    return SU_OK;
}

int st_argon2id(const su_pin *pin, const unsigned char salt[ST_SALT_LEN], uint32_t m_kib,
                uint32_t t, uint32_t p, unsigned char out[ST_KEY_LEN], ss_error *e)
{
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

int st_hkdf(OSSL_LIB_CTX *libctx, const unsigned char *ikm, const unsigned char *salt,
            size_t saltlen, const char *info, unsigned char out[ST_KEY_LEN])
{
    EVP_KDF *kdf = EVP_KDF_fetch(libctx, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (kctx == NULL)
        return 0;
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

int st_hmac(OSSL_LIB_CTX *libctx, const unsigned char key[ST_KEY_LEN], const void *a, size_t alen,
            const void *b, size_t blen, unsigned char out[ST_MAC_LEN])
{
    EVP_MAC *mac = EVP_MAC_fetch(libctx, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac);
    if (ctx == NULL)
        return 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t outl = 0;
    int ok = EVP_MAC_init(ctx, key, ST_KEY_LEN, params) == 1 &&
             EVP_MAC_update(ctx, a, alen) == 1 && (blen == 0 || EVP_MAC_update(ctx, b, blen) == 1) &&
             EVP_MAC_final(ctx, out, &outl, ST_MAC_LEN) == 1 && outl == ST_MAC_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

int st_sha256(OSSL_LIB_CTX *libctx, const void *a, size_t alen, const void *b, size_t blen,
              unsigned char out[32])
{
    EVP_MD *md = EVP_MD_fetch(libctx, "SHA256", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = md != NULL && ctx != NULL && EVP_DigestInit_ex2(ctx, md, NULL) == 1 &&
             EVP_DigestUpdate(ctx, a, alen) == 1 && (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
             EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    return ok;
}

static int gcm(OSSL_LIB_CTX *libctx, int enc, const unsigned char key[ST_KEY_LEN],
               const unsigned char nonce[ST_NONCE_LEN], const void *aad, size_t aadlen,
               const unsigned char *in, size_t len, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER *c = EVP_CIPHER_fetch(libctx, "AES-256-GCM", NULL);
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
    EVP_CIPHER_free(c);
    return ok;
}

int st_gcm_seal(OSSL_LIB_CTX *libctx, const unsigned char key[ST_KEY_LEN],
                const unsigned char nonce[ST_NONCE_LEN], const void *aad, size_t aadlen,
                const unsigned char *in, size_t len, unsigned char *out)
{
    if (len > INT32_MAX || aadlen > INT32_MAX)
        return 0;
    return gcm(libctx, 1, key, nonce, aad, aadlen, in, len, out, out + len);
}

int st_gcm_open(OSSL_LIB_CTX *libctx, const unsigned char key[ST_KEY_LEN],
                const unsigned char nonce[ST_NONCE_LEN], const void *aad, size_t aadlen,
                const unsigned char *in, size_t len, unsigned char *out)
{
    if (len < ST_TAG_LEN || len > INT32_MAX || aadlen > INT32_MAX)
        return 0;
    unsigned char tag[ST_TAG_LEN];
    memcpy(tag, in + len - ST_TAG_LEN, ST_TAG_LEN);
    int ok = gcm(libctx, 0, key, nonce, aad, aadlen, in, len - ST_TAG_LEN, out, tag);
    if (!ok)
        OPENSSL_cleanse(out, len - ST_TAG_LEN);
    return ok;
}
