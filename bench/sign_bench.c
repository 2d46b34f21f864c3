/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sign_bench: signing throughput of any key OpenSSL can load, so sealhsm keys and
 * PEM keys under the default provider are measured by the same code in the same run.
 *
 *   sign_bench --key URI|FILE --alg rsa-pkcs1|rsa-pss|ecdsa|eddsa [--digest sha256]
 *              [--seconds T] [--threads K] [--provider-path DIR] [--provider NAME]...
 *
 * Each thread has its own EVP_MD_CTX and signs the same 1 KiB message with the same
 * EVP_PKEY (DigestSignInit + DigestSign per signature, as an application would).
 * One signature is verified at the end. Prints one line of key=value pairs.
 * Links libcrypto only.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job {
    EVP_PKEY *pkey;
    const char *alg, *digest;
    double seconds;
    unsigned long count;
    int failed;
    unsigned char sig[1024];
    size_t siglen;
} job;

static unsigned char msg[1024];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sign_once(job *j, EVP_MD_CTX *c)
{
    EVP_PKEY_CTX *pctx = NULL;
    int eddsa = strcmp(j->alg, "eddsa") == 0;
    if (EVP_DigestSignInit_ex(c, &pctx, eddsa ? NULL : j->digest, NULL, NULL, j->pkey, NULL) != 1)
        return 0;
    if (strcmp(j->alg, "rsa-pss") == 0 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        return 0;
    j->siglen = sizeof(j->sig);
    return EVP_DigestSign(c, j->sig, &j->siglen, msg, sizeof(msg)) == 1;
}

static void *worker(void *arg)
{
    job *j = arg;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    double end = now() + j->seconds;
    while (now() < end) {
        if (!sign_once(j, c)) {
            j->failed = 1;
            break;
        }
        j->count++;
        EVP_MD_CTX_reset(c);
    }
    EVP_MD_CTX_free(c);
    return NULL;
}

static int verify(job *j)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int eddsa = strcmp(j->alg, "eddsa") == 0;
    int ok = EVP_DigestVerifyInit_ex(c, &pctx, eddsa ? NULL : j->digest, NULL, NULL, j->pkey,
                                     NULL) == 1;
    if (ok && strcmp(j->alg, "rsa-pss") == 0)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(c, j->sig, j->siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

static EVP_PKEY *load_key(const char *uri)
{
    OSSL_STORE_CTX *st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
    EVP_PKEY *pkey = NULL;
    while (st != NULL && pkey == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);
        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    return pkey;
}

int main(int argc, char **argv)
{
    const char *key = NULL, *alg = NULL, *digest = "SHA256";
    double seconds = 3;
    int threads = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--key") == 0)
            key = argv[i + 1];
        else if (strcmp(argv[i], "--alg") == 0)
            alg = argv[i + 1];
        else if (strcmp(argv[i], "--digest") == 0)
            digest = argv[i + 1];
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--provider-path") == 0)
            OSSL_PROVIDER_set_default_search_path(NULL, argv[i + 1]);
        else if (strcmp(argv[i], "--provider") == 0) {
            if (OSSL_PROVIDER_load(NULL, argv[i + 1]) == NULL) {
                fprintf(stderr, "sign_bench: cannot load provider %s\n", argv[i + 1]);
                ERR_print_errors_fp(stderr);
                return 1;
            }
        } else {
            fprintf(stderr, "sign_bench: unknown option %s\n", argv[i]);
            return 1;
        }
    }
    if (key == NULL || alg == NULL || threads < 1 || threads > 64 || seconds <= 0) {
        fprintf(stderr, "usage: sign_bench --key URI|FILE --alg rsa-pkcs1|rsa-pss|ecdsa|eddsa "
                        "[--digest D] [--seconds T] [--threads K] [--provider-path DIR] "
                        "[--provider NAME]...\n");
        return 1;
    }
    memset(msg, 0xa5, sizeof(msg));
    EVP_PKEY *pkey = load_key(key);
    if (pkey == NULL) {
        fprintf(stderr, "sign_bench: cannot load key %s\n", key);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    job *jobs = calloc((size_t)threads, sizeof(*jobs));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){.pkey = pkey, .alg = alg, .digest = digest, .seconds = seconds};
        pthread_create(&tids[i], NULL, worker, &jobs[i]);
    }
    unsigned long total = 0;
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        total += jobs[i].count;
        failed |= jobs[i].failed;
    }
    double elapsed = now() - t0;
    int ok = !failed && total > 0 && verify(&jobs[0]);
    printf("key=%s alg=%s digest=%s threads=%d seconds=%.2f signatures=%lu rate=%.1f verify=%s\n",
           key, alg, strcmp(alg, "eddsa") == 0 ? "none" : digest, threads, elapsed, total,
           (double)total / elapsed, ok ? "ok" : "FAILED");
    if (!ok)
        ERR_print_errors_fp(stderr);
    EVP_PKEY_free(pkey);
    free(jobs);
    free(tids);
    return ok ? 0 : 1;
}
