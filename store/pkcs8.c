/* SPDX-License-Identifier: Apache-2.0 */
/* PKCS#8 DER of a private key and back, the form key records seal (record.c). */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>

int st_pkcs8(const EVP_PKEY *pkey, unsigned char **der, size_t *len, ss_error *e) {
    *der = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pkey);
    int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, NULL) : -1;
    unsigned char *buf = n > 0 ? OPENSSL_secure_malloc((size_t)n) : NULL, *p = buf;
    if (buf == NULL || i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != n) {
        OPENSSL_secure_clear_free(buf, n > 0 ? (size_t)n : 0);
        buf = NULL;
    }
    /* i2d built the encoding inside p8's own buffers: free them cleansed */
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (buf == NULL)
        return su_err(e, SU_EIO, "cannot encode the private key");
    *der = buf;
    *len = (size_t)n;
    return SU_OK;
}

int st_pkey_from_pkcs8(ss_store *s, const unsigned char *der, size_t len, EVP_PKEY **out,
                       ss_error *e) {
    const unsigned char *p = der;
    *out = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    if (p8 != NULL && p == der + len)
        *out = EVP_PKCS82PKEY_ex(p8, s->libctx, s->propq);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (*out == NULL)
        return su_err(e, SU_EUSAGE, "not a PKCS#8 private key");
    return SU_OK;
}
