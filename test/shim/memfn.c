/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: an application that gives libcrypto its own allocator
 * (CRYPTO_set_mem_functions, as some applications do), then loads a keystore key
 * through the provider and signs with it. The allocator tags every block, and
 * OPENSSL_free / OPENSSL_realloc of a block it did not hand out aborts with the
 * caller's file and line: a provider must free with OPENSSL_free only what came
 * from OPENSSL_malloc, or it corrupts such applications' heaps.
 *
 * usage: memfn KEYFILE|URI    (the provider from OPENSSL_CONF)
 *   KEYFILE: read with PEM_read_PrivateKey (a key-reference file); URI: OSSL_STORE.
 *   Prints "signed N bytes" and exits 0.
 */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG 0x5345414c484d454dULL

static void *tag_malloc(size_t n, const char *file, int line) {
    unsigned long long *p = malloc(n + 16);
    if (p == NULL)
        return NULL;
    p[0] = TAG;
    p[1] = n;
    return p + 2;
}

static unsigned long long *header(void *q, const char *what, const char *file, int line) {
    unsigned long long *p = (unsigned long long *)q - 2;
    if (p[0] != TAG) {
        fprintf(stderr, "memfn: %s of a block libcrypto's allocator did not hand out (%s:%d)\n",
                what, file ? file : "?", line);
        abort();
    }
    return p;
}

static void tag_free(void *q, const char *file, int line) {
    if (q == NULL)
        return;
    unsigned long long *p = header(q, "OPENSSL_free", file, line);
    p[0] = 0;
    free(p);
}

static void *tag_realloc(void *q, size_t n, const char *file, int line) {
    if (q == NULL)
        return tag_malloc(n, file, line);
    unsigned long long *p = realloc(header(q, "OPENSSL_realloc", file, line), n + 16);
    if (p == NULL)
        return NULL;
    p[1] = n;
    return p + 2;
}

int main(int argc, char **argv) {
    if (argc != 2 || !CRYPTO_set_mem_functions(tag_malloc, tag_realloc, tag_free)) {
        fprintf(stderr, "usage: memfn KEYFILE|URI\n");
        return 2;
    }
    EVP_PKEY *key = NULL;
    if (strncmp(argv[1], "sealhsm:", 8) == 0) {
        OSSL_STORE_CTX *st = OSSL_STORE_open(argv[1], NULL, NULL, NULL, NULL);
        while (st != NULL && key == NULL && !OSSL_STORE_eof(st)) {
            OSSL_STORE_INFO *info = OSSL_STORE_load(st);
            if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
                key = OSSL_STORE_INFO_get1_PKEY(info);
            OSSL_STORE_INFO_free(info);
        }
        OSSL_STORE_close(st);
    } else {
        FILE *f = fopen(argv[1], "r");
        if (f != NULL) {
            key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
            fclose(f);
        }
    }
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = key != NULL && c != NULL &&
             EVP_DigestSignInit_ex(c, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
             EVP_DigestSign(c, sig, &siglen, (const unsigned char *)"memfn", 5) == 1;
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(key);
    if (!ok) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    printf("signed %zu bytes\n", siglen);
    return 0;
}
