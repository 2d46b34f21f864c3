/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper for the concurrency test: one process, N threads signing through the
 * sealhsm provider for a while, the way a multi-threaded signing service would.
 *
 * usage: conc_sign URI PUBKEY.pem SECONDS THREADS OUTFILE
 *   The provider comes from OPENSSL_CONF (sealhsm and default activated there, the
 *   PIN from its pin-source). The key is loaded once through OSSL_STORE and shared
 *   by the threads. Each thread signs distinct messages with SHA-256 until the time
 *   is up and verifies every signature with PUBKEY.pem (default provider only).
 *   OUTFILE gets one line per signature returned: the hex SHA-256 of its message,
 *   which is the tbs_hash of its audit record. Prints "ok=N failed=N bad=N".
 *   Exit 0 unless a returned signature did not verify or set-up failed.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/store.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static EVP_PKEY *key, *pub;
static double deadline;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *out;
static long ok_total, failed_total, bad_total;
static char first_error[512];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg) {
    long tid = (long)arg, n = 0, ok = 0, failed = 0, bad = 0;
    size_t cap = 1024, used = 0;
    char *hashes = malloc(cap * 65);
    while (hashes != NULL && now() < deadline) {
        char msg[128];
        int len = snprintf(msg, sizeof(msg), "conc_sign pid %ld thread %ld message %ld",
                           (long)getpid(), tid, n++);
        unsigned char sig[1024], md[32];
        size_t siglen = sizeof(sig);
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        int signed_ok = c != NULL &&
                        EVP_DigestSignInit_ex(c, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
                        EVP_DigestSign(c, sig, &siglen, (unsigned char *)msg, (size_t)len) == 1;
        EVP_MD_CTX_free(c);
        if (!signed_ok) {
            failed++;
            pthread_mutex_lock(&mu);
            if (first_error[0] == '\0')
                ERR_error_string_n(ERR_peek_last_error(), first_error, sizeof(first_error));
            pthread_mutex_unlock(&mu);
            ERR_clear_error();
            continue;
        }
        EVP_MD_CTX *v = EVP_MD_CTX_new();
        int good = v != NULL &&
                   EVP_DigestVerifyInit_ex(v, NULL, "SHA256", NULL, NULL, pub, NULL) == 1 &&
                   EVP_DigestVerify(v, sig, siglen, (unsigned char *)msg, (size_t)len) == 1;
        EVP_MD_CTX_free(v);
        if (!good)
            bad++;
        ok++;
        EVP_Digest(msg, (size_t)len, md, NULL, EVP_sha256(), NULL);
        if (used == cap) {
            char *grown = realloc(hashes, (cap *= 2) * 65);
            if (grown == NULL)
                break;
            hashes = grown;
        }
        for (int i = 0; i < 32; i++)
            sprintf(hashes + used * 65 + 2 * i, "%02x", md[i]);
        hashes[used * 65 + 64] = '\n';
        used++;
    }
    pthread_mutex_lock(&mu);
    if (hashes != NULL)
        fwrite(hashes, 65, used, out);
    ok_total += ok;
    failed_total += failed;
    bad_total += bad;
    pthread_mutex_unlock(&mu);
    free(hashes);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: conc_sign URI PUBKEY.pem SECONDS THREADS OUTFILE\n");
        return 2;
    }
    OSSL_STORE_CTX *st = OSSL_STORE_open(argv[1], NULL, NULL, NULL, NULL);
    while (st != NULL && key == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);
        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    FILE *pf = fopen(argv[2], "r");
    if (pf != NULL) {
        pub = PEM_read_PUBKEY(pf, NULL, NULL, NULL);
        fclose(pf);
    }
    out = fopen(argv[5], "w");
    if (key == NULL || pub == NULL || out == NULL) {
        fprintf(stderr, "conc_sign: cannot load %s, %s or open %s\n", argv[1], argv[2], argv[5]);
        ERR_print_errors_fp(stderr);
        return 2;
    }
    int nthreads = atoi(argv[4]);
    deadline = now() + atof(argv[3]);
    pthread_t t[64];
    if (nthreads < 1 || nthreads > 64)
        return 2;
    for (long i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    fclose(out);
    printf("ok=%ld failed=%ld bad=%ld\n", ok_total, failed_total, bad_total);
    if (first_error[0])
        printf("first error: %s\n", first_error);
    EVP_PKEY_free(key);
    EVP_PKEY_free(pub);
    return bad_total == 0 ? 0 : 1;
}
