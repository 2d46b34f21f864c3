/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sign_bench: signing throughput of any key OpenSSL can load, so sealhsm keys and
 * PEM keys under the default provider are measured by the same code in the same run.
 *
 *   sign_bench --key URI|FILE --alg rsa-pkcs1|rsa-pss|ecdsa|eddsa [--digest sha256]
 *              [--seconds T | --count N] [--threads K] [--secure-heap BYTES]
 *              [--provider-path DIR] [--provider NAME]...
 *
 * Each thread has its own EVP_MD_CTX and signs the same 1 KiB message with the same
 * EVP_PKEY (DigestSignInit + DigestSign per signature, as an application would).
 * One untimed signature comes first (its time is reported as first_ms), so a
 * provider's lazy set-up is not counted as throughput. One signature is verified at
 * the end. Prints one line of key=value pairs: rate (signatures/s, all threads),
 * per-signature latency percentiles, and the process CPU time per signature
 * (user+sys, all threads), which is steadier than the rate on a shared machine.
 * --count N makes each thread sign exactly N times instead (for instruction counts under
 * valgrind: the difference between two counts is the cost of the extra signatures).
 * --secure-heap turns on OpenSSL's secure heap before any provider is loaded, as an
 * application may do. Links libcrypto only.
 */
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* latency histogram: bucket i holds latencies in [2^(i/8), 2^((i+1)/8)) microseconds */
#define NBUCKETS 200
#define MAX_PROVIDERS 8

typedef struct job {
    EVP_PKEY *pkey;
    const char *alg, *digest;
    double seconds;
    unsigned long limit; /* 0: sign for `seconds` */
    unsigned long count;
    unsigned long hist[NBUCKETS];
    int failed;
    unsigned char sig[1024];
    size_t siglen;
} job;

static unsigned char msg[1024];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int bucket(double us) {
    int b = us <= 1 ? 0 : (int)(8 * log2(us));
    return b < NBUCKETS ? b : NBUCKETS - 1;
}

static int sign_once(job *j, EVP_MD_CTX *c) {
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

static void *worker(void *arg) {
    job *j = arg;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    double t = now(), end = t + j->seconds;
    while (j->limit ? j->count < j->limit : t < end) {
        if (c == NULL || !sign_once(j, c)) {
            j->failed = 1;
            break;
        }
        double t1 = now();
        j->hist[bucket((t1 - t) * 1e6)]++;
        t = t1;
        j->count++;
        EVP_MD_CTX_reset(c);
    }
    EVP_MD_CTX_free(c);
    return NULL;
}

static int verify(job *j) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int eddsa = strcmp(j->alg, "eddsa") == 0;
    int ok =
        EVP_DigestVerifyInit_ex(c, &pctx, eddsa ? NULL : j->digest, NULL, NULL, j->pkey, NULL) == 1;
    if (ok && strcmp(j->alg, "rsa-pss") == 0)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(c, j->sig, j->siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

static EVP_PKEY *load_key(const char *uri) {
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

/* The latency (microseconds, bucket midpoint) below which a fraction q of the samples lie. */
static double percentile(const unsigned long *hist, unsigned long total, double q) {
    unsigned long want = (unsigned long)(q * (double)total), seen = 0;
    for (int b = 0; b < NBUCKETS; b++) {
        seen += hist[b];
        if (seen > want)
            return exp2((b + 0.5) / 8);
    }
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: sign_bench --key URI|FILE --alg rsa-pkcs1|rsa-pss|ecdsa|eddsa "
                    "[--digest D] [--seconds T | --count N] [--threads K] [--secure-heap BYTES] "
                    "[--provider-path DIR] [--provider NAME]...\n");
    return 1;
}

int main(int argc, char **argv) {
    const char *key = NULL, *alg = NULL, *digest = "SHA256", *path = NULL;
    const char *providers[MAX_PROVIDERS];
    int nproviders = 0, threads = 1;
    double seconds = 3;
    unsigned long secure_heap = 0, limit = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage();
        if (strcmp(argv[i], "--key") == 0)
            key = v;
        else if (strcmp(argv[i], "--alg") == 0)
            alg = v;
        else if (strcmp(argv[i], "--digest") == 0)
            digest = v;
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(v);
        else if (strcmp(argv[i], "--count") == 0)
            limit = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(argv[i], "--secure-heap") == 0)
            secure_heap = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--provider-path") == 0)
            path = v;
        else if (strcmp(argv[i], "--provider") == 0 && nproviders < MAX_PROVIDERS)
            providers[nproviders++] = v;
        else
            return usage();
    }
    if (key == NULL || alg == NULL || threads < 1 || threads > 64 || seconds <= 0)
        return usage();
    if (secure_heap > 0 && CRYPTO_secure_malloc_init(secure_heap, 32) == 0) {
        fprintf(stderr, "sign_bench: cannot set up a secure heap of %lu bytes\n", secure_heap);
        return 1;
    }
    if (path != NULL)
        OSSL_PROVIDER_set_default_search_path(NULL, path);
    for (int i = 0; i < nproviders; i++) {
        if (OSSL_PROVIDER_load(NULL, providers[i]) == NULL) {
            fprintf(stderr, "sign_bench: cannot load provider %s\n", providers[i]);
            ERR_print_errors_fp(stderr);
            return 1;
        }
    }
    memset(msg, 0xa5, sizeof(msg));
    double t_load = now();
    EVP_PKEY *pkey = load_key(key);
    t_load = now() - t_load;
    if (pkey == NULL) {
        fprintf(stderr, "sign_bench: cannot load key %s\n", key);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    job *jobs = calloc((size_t)threads, sizeof(*jobs));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    EVP_MD_CTX *first = EVP_MD_CTX_new();
    if (jobs == NULL || tids == NULL || first == NULL)
        return 1;
    jobs[0] = (job){.pkey = pkey, .alg = alg, .digest = digest};
    double t_first = now();
    int ok = sign_once(&jobs[0], first);
    t_first = now() - t_first;
    EVP_MD_CTX_free(first);
    if (!ok) {
        fprintf(stderr, "sign_bench: the first signature with %s failed\n", key);
        ERR_print_errors_fp(stderr);
        return 1;
    }

    double cpu0 = cpu_seconds(), t0 = now();
    for (int i = 0; i < threads; i++) {
        jobs[i] =
            (job){.pkey = pkey, .alg = alg, .digest = digest, .seconds = seconds, .limit = limit};
        if (pthread_create(&tids[i], NULL, worker, &jobs[i]) != 0)
            return 1;
    }
    unsigned long total = 0, hist[NBUCKETS] = {0};
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        total += jobs[i].count;
        failed |= jobs[i].failed;
        for (int b = 0; b < NBUCKETS; b++)
            hist[b] += jobs[i].hist[b];
    }
    double elapsed = now() - t0, cpu = cpu_seconds() - cpu0;
    ok = !failed && total > 0 && verify(&jobs[0]);
    printf("key=%s alg=%s digest=%s threads=%d seconds=%.2f signatures=%lu rate=%.1f "
           "p50_us=%.0f p99_us=%.0f cpu_us=%.1f load_ms=%.2f first_ms=%.2f secure_heap=%lu "
           "verify=%s\n",
           key, alg, strcmp(alg, "eddsa") == 0 ? "none" : digest, threads, elapsed, total,
           (double)total / elapsed, percentile(hist, total, 0.5), percentile(hist, total, 0.99),
           total ? cpu / (double)total * 1e6 : 0.0, t_load * 1e3, t_first * 1e3, secure_heap,
           ok ? "ok" : "FAILED");
    if (!ok)
        ERR_print_errors_fp(stderr);
    EVP_PKEY_free(pkey);
    free(jobs);
    free(tids);
    return ok ? 0 : 1;
}
