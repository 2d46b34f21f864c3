/* SPDX-License-Identifier: Apache-2.0 */
#include "sealutil.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void su_buf_init(su_buf *b, int secure) {
    memset(b, 0, sizeof(*b));
    b->secure = secure;
}

void su_buf_free(su_buf *b) {
    if (b->data != NULL) {
        if (b->secure)
            OPENSSL_secure_clear_free(b->data, b->cap);
        else
            OPENSSL_clear_free(b->data, b->cap);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

bool su_buf_reserve(su_buf *b, size_t extra) {
    if (b->failed)
        return false;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return false;
    }
    size_t need = b->len + extra;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    unsigned char *n = b->secure ? OPENSSL_secure_zalloc(cap) : OPENSSL_zalloc(cap);
    if (n == NULL) {
        b->failed = 1;
        return false;
    }
    if (b->data != NULL) {
        memcpy(n, b->data, b->len);
        if (b->secure)
            OPENSSL_secure_clear_free(b->data, b->cap);
        else
            OPENSSL_clear_free(b->data, b->cap);
    }
    b->data = n;
    b->cap = cap;
    return true;
}

void su_buf_put(su_buf *b, const void *p, size_t n) {
    if (n == 0 || !su_buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void su_be32(unsigned char out[4], uint32_t v) {
    for (int i = 3; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

void su_be64(unsigned char out[8], uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)v;
}

uint64_t su_get_be64(const unsigned char in[8]) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

uint32_t su_get_be32(const unsigned char in[4]) {
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

void su_buf_u8(su_buf *b, uint8_t v) {
    su_buf_put(b, &v, 1);
}

void su_buf_u32(su_buf *b, uint32_t v) {
    unsigned char t[4];
    su_be32(t, v);
    su_buf_put(b, t, 4);
}

void su_buf_u64(su_buf *b, uint64_t v) {
    unsigned char t[8];
    su_be64(t, v);
    su_buf_put(b, t, 8);
}

void su_buf_bytes(su_buf *b, const void *p, size_t n) {
    if (n > UINT32_MAX) {
        b->failed = 1;
        return;
    }
    su_buf_u32(b, (uint32_t)n);
    su_buf_put(b, p, n);
}

void su_buf_str(su_buf *b, const char *s) {
    su_buf_bytes(b, s, s ? strlen(s) : 0);
}

void su_rd_init(su_rd *r, const void *p, size_t n) {
    r->p = p;
    r->left = n;
    r->failed = 0;
}

bool su_rd_raw(su_rd *r, void *out, size_t n) {
    if (r->failed || n > r->left) {
        r->failed = 1;
        return false;
    }
    if (n)
        memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}

bool su_rd_u8(su_rd *r, uint8_t *v) {
    return su_rd_raw(r, v, 1);
}

bool su_rd_u32(su_rd *r, uint32_t *v) {
    unsigned char t[4];
    if (!su_rd_raw(r, t, 4))
        return false;
    *v = su_get_be32(t);
    return true;
}

bool su_rd_u64(su_rd *r, uint64_t *v) {
    unsigned char t[8];
    if (!su_rd_raw(r, t, 8))
        return false;
    *v = su_get_be64(t);
    return true;
}

bool su_rd_bytes(su_rd *r, const unsigned char **p, size_t *n, size_t max) {
    uint32_t len;
    if (!su_rd_u32(r, &len))
        return false;
    if (len > max || len > r->left) {
        r->failed = 1;
        return false;
    }
    *p = r->p;
    *n = len;
    r->p += len;
    r->left -= len;
    return true;
}

bool su_rd_str(su_rd *r, char **out, size_t max) {
    const unsigned char *p;
    size_t n;
    *out = NULL;
    if (!su_rd_bytes(r, &p, &n, max))
        return false;
    if (memchr(p, 0, n) != NULL) {
        r->failed = 1;
        return false;
    }
    char *s = malloc(n + 1);
    if (s == NULL) {
        r->failed = 1;
        return false;
    }
    memcpy(s, p, n);
    s[n] = '\0';
    *out = s;
    return true;
}

bool su_rd_done(const su_rd *r) {
    return !r->failed && r->left == 0;
}
