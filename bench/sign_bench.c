/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sign_bench: signing throughput of any key OpenSSL can load, so sealhsm keys and
 * PEM keys under the default provider are measured by the same code in the same run,
 * and of a key inside a PKCS#11 module (SoftHSMv2 as the peer), by the same loop.
 *
 *   sign_bench --key URI|FILE|LABEL --alg rsa-pkcs1|rsa-pss|ecdsa|eddsa [--digest sha256]
 *              [--seconds T | --count N] [--threads K] [--processes P]
 *              [--secure-heap BYTES] [--provider-path DIR] [--provider NAME]...
 *              [--pkcs11 MODULE --token LABEL --pin PIN [--verify-key FILE]]
 *
 * Each thread has its own EVP_MD_CTX and signs the same 1 KiB message with the same
 * EVP_PKEY (DigestSignInit + DigestSign per signature, as an application would).
 * With --pkcs11 the key is the object labelled --key on the token labelled --token of
 * that module, and each thread signs in its own session (C_SignInit + C_Sign; see
 * p11_signer.c); --verify-key checks its signature with OpenSSL and that PEM key rather than
 * the token's own public key object. One untimed signature comes first (its time is reported as
 * first_ms), so a provider's lazy set-up is not counted as throughput. One signature is verified at
 * the end. Prints one line of key=value pairs: rate (signatures/s, all threads),
 * per-signature latency percentiles, and the process CPU time per signature
 * (user+sys, all threads), which is steadier than the rate on a shared machine.
 * --processes P forks P processes before anything is loaded; each loads the key and
 * makes its first signature, then all start signing at once (K threads each); the line
 * sums them (rate = signatures of all / the longest process's time, CPU of all).
 * --count N makes each thread sign exactly N times instead (for instruction counts under
 * valgrind: the difference between two counts is the cost of the extra signatures).
 * --secure-heap turns on OpenSSL's secure heap before any provider is loaded, as an
 * application may do. Links libcrypto only (and dlopens the PKCS#11 module).
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
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "signer.h"

/* latency histogram: bucket i holds latencies in [2^(i/8), 2^((i+1)/8)) microseconds */
#define NBUCKETS 200
#define MAX_PROVIDERS 8
#define MAX_PROCESSES 64

typedef struct options {
    const char *key, *alg, *digest, *path, *module, *token, *pin, *verify_key;
    const char *providers[MAX_PROVIDERS];
    int nproviders, threads, processes;
    double seconds;
    unsigned long secure_heap, limit;
} options;

typedef struct job {
    signer *s;
    double seconds;
    unsigned long limit; /* 0: sign for `seconds` */
    unsigned long count;
    unsigned long hist[NBUCKETS];
    int failed;
    unsigned char sig[1024];
    size_t siglen;
} job;

/* what one process measured; in shared memory when there are several */
typedef struct result {
    unsigned long total, hist[NBUCKETS];
    double elapsed, cpu, load_ms, first_ms;
    int ok;
} result;

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

/* ---- the OpenSSL backend: a key loaded through OSSL_STORE, signed through EVP ---- */

static void *evp_thread_begin(signer *s) {
    return EVP_MD_CTX_new();
}

static void evp_thread_end(signer *s, void *thread) {
    EVP_MD_CTX_free(thread);
}

static int evp_sign(signer *s, void *thread, unsigned char *sig, size_t *siglen) {
    EVP_MD_CTX *c = thread;
    EVP_PKEY_CTX *pctx = NULL;
    int eddsa = strcmp(s->alg, "eddsa") == 0;
    EVP_MD_CTX_reset(c);
    if (EVP_DigestSignInit_ex(c, &pctx, eddsa ? NULL : s->digest, NULL, NULL, s->impl, NULL) != 1)
        return 0;
    if (strcmp(s->alg, "rsa-pss") == 0 &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        return 0;
    return EVP_DigestSign(c, sig, siglen, s->msg, s->msglen) == 1;
}

static int evp_verify(signer *s, const unsigned char *sig, size_t siglen) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int eddsa = strcmp(s->alg, "eddsa") == 0;
    int ok =
        EVP_DigestVerifyInit_ex(c, &pctx, eddsa ? NULL : s->digest, NULL, NULL, s->impl, NULL) == 1;
    if (ok && strcmp(s->alg, "rsa-pss") == 0)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(c, sig, siglen, s->msg, s->msglen) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

static void evp_close(signer *s) {
    EVP_PKEY_free(s->impl);
}

static int evp_signer_open(signer *s, const char *uri) {
    OSSL_STORE_CTX *st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
    EVP_PKEY *pkey = NULL;
    while (st != NULL && pkey == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);
        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    s->impl = pkey;
    s->thread_begin = evp_thread_begin;
    s->sign = evp_sign;
    s->thread_end = evp_thread_end;
    s->verify = evp_verify;
    s->close = evp_close;
    if (pkey == NULL) {
        fprintf(stderr, "sign_bench: cannot load key %s\n", uri);
        ERR_print_errors_fp(stderr);
    }
    return pkey != NULL;
}

/* the signature checked by the signer itself, or by OpenSSL with --verify-key */
static int check(const options *o, signer *s, const unsigned char *sig, size_t siglen) {
    if (o->verify_key == NULL)
        return s->verify(s, sig, siglen);
    signer v = *s;
    int ok = evp_signer_open(&v, o->verify_key) && evp_verify(&v, sig, siglen);
    evp_close(&v);
    return ok;
}

/* ---- the timed loop ---- */

static void *worker(void *arg) {
    job *j = arg;
    void *th = j->s->thread_begin(j->s);
    double t = now(), end = t + j->seconds;
    while (j->limit ? j->count < j->limit : t < end) {
        j->siglen = sizeof(j->sig);
        if (th == NULL || !j->s->sign(j->s, th, j->sig, &j->siglen)) {
            j->failed = 1;
            break;
        }
        double t1 = now();
        j->hist[bucket((t1 - t) * 1e6)]++;
        t = t1;
        j->count++;
    }
    if (th != NULL)
        j->s->thread_end(j->s, th);
    return NULL;
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

/*
 * One process's whole run into *r: load the key, sign once untimed, then (after the
 * start signal when `go` >= 0: `ready` gets one byte, `go` is read until its end) the
 * threads sign; one signature is verified. Returns 1 when everything signed and verified.
 */
static int run(const options *o, result *r, int ready, int go) {
    signer s = {.alg = o->alg, .digest = o->digest, .msg = msg, .msglen = sizeof(msg)};
    int ok;
    memset(r, 0, sizeof(*r));
    if (o->secure_heap > 0 && CRYPTO_secure_malloc_init(o->secure_heap, 32) == 0) {
        fprintf(stderr, "sign_bench: cannot set up a secure heap of %lu bytes\n", o->secure_heap);
        return 0;
    }
    if (o->path != NULL)
        OSSL_PROVIDER_set_default_search_path(NULL, o->path);
    for (int i = 0; i < o->nproviders; i++) {
        if (OSSL_PROVIDER_load(NULL, o->providers[i]) == NULL) {
            fprintf(stderr, "sign_bench: cannot load provider %s\n", o->providers[i]);
            ERR_print_errors_fp(stderr);
            return 0;
        }
    }
    double t = now();
    ok = o->module != NULL ? p11_signer_open(&s, o->module, o->token, o->key, o->pin)
                           : evp_signer_open(&s, o->key);
    r->load_ms = (now() - t) * 1e3;
    job *jobs = calloc((size_t)o->threads, sizeof(*jobs));
    pthread_t *tids = calloc((size_t)o->threads, sizeof(*tids));
    ok = ok && jobs != NULL && tids != NULL;
    if (ok) {
        jobs[0] = (job){.s = &s, .limit = 1};
        t = now();
        worker(&jobs[0]);
        r->first_ms = (now() - t) * 1e3;
        if (jobs[0].failed) {
            fprintf(stderr, "sign_bench: the first signature with %s failed\n", o->key);
            ERR_print_errors_fp(stderr);
            ok = 0;
        }
    }
    if (go >= 0) {
        char c = ok ? 'r' : 'f';
        if (write(ready, &c, 1) != 1)
            ok = 0;
        while (read(go, &c, 1) > 0)
            ;
    }
    int started = 0;
    double cpu0 = cpu_seconds(), t0 = now();
    for (; ok && started < o->threads; started++) {
        jobs[started] = (job){.s = &s, .seconds = o->seconds, .limit = o->limit};
        if (pthread_create(&tids[started], NULL, worker, &jobs[started]) != 0)
            ok = 0;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(tids[i], NULL);
        r->total += jobs[i].count;
        ok &= !jobs[i].failed;
        for (int b = 0; b < NBUCKETS; b++)
            r->hist[b] += jobs[i].hist[b];
    }
    r->elapsed = now() - t0;
    r->cpu = cpu_seconds() - cpu0;
    ok = ok && r->total > 0 && check(o, &s, jobs[0].sig, jobs[0].siglen);
    if (!ok && started > 0)
        ERR_print_errors_fp(stderr);
    if (s.close != NULL)
        s.close(&s);
    free(jobs);
    free(tids);
    r->ok = ok;
    return ok;
}

/* --processes P: P children run `run` with a common start; their results are summed */
static int run_processes(const options *o, result *sum) {
    int ready[2], go[2];
    result *rs = mmap(NULL, sizeof(result) * (size_t)o->processes, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (rs == MAP_FAILED || pipe(ready) != 0 || pipe(go) != 0)
        return 0;
    pid_t pids[MAX_PROCESSES];
    int n = 0, ok = 1;
    for (; n < o->processes; n++) {
        if ((pids[n] = fork()) < 0) {
            ok = 0;
            break;
        }
        if (pids[n] == 0) {
            close(ready[0]);
            close(go[1]);
            _exit(run(o, &rs[n], ready[1], go[0]) ? 0 : 1);
        }
    }
    close(ready[1]);
    close(go[0]);
    for (int i = 0; i < n; i++) {
        char c;
        if (read(ready[0], &c, 1) != 1 || c != 'r')
            ok = 0;
    }
    close(go[1]); /* everyone starts */
    memset(sum, 0, sizeof(*sum));
    for (int i = 0; i < n; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0 && rs[i].ok;
        sum->total += rs[i].total;
        sum->cpu += rs[i].cpu;
        sum->elapsed = rs[i].elapsed > sum->elapsed ? rs[i].elapsed : sum->elapsed;
        sum->load_ms = rs[i].load_ms > sum->load_ms ? rs[i].load_ms : sum->load_ms;
        sum->first_ms = rs[i].first_ms > sum->first_ms ? rs[i].first_ms : sum->first_ms;
        for (int b = 0; b < NBUCKETS; b++)
            sum->hist[b] += rs[i].hist[b];
    }
    close(ready[0]);
    munmap(rs, sizeof(result) * (size_t)o->processes);
    sum->ok = ok && n == o->processes;
    return sum->ok;
}

static int usage(void) {
    fprintf(stderr, "usage: sign_bench --key URI|FILE|LABEL --alg rsa-pkcs1|rsa-pss|ecdsa|eddsa "
                    "[--digest D] [--seconds T | --count N] [--threads K] [--processes P] "
                    "[--secure-heap BYTES] [--provider-path DIR] [--provider NAME]... "
                    "[--pkcs11 MODULE --token LABEL --pin PIN [--verify-key FILE]]\n");
    return 1;
}

int main(int argc, char **argv) {
    options o = {.digest = "SHA256", .threads = 1, .processes = 1, .seconds = 3};
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage();
        if (strcmp(argv[i], "--key") == 0)
            o.key = v;
        else if (strcmp(argv[i], "--alg") == 0)
            o.alg = v;
        else if (strcmp(argv[i], "--digest") == 0)
            o.digest = v;
        else if (strcmp(argv[i], "--seconds") == 0)
            o.seconds = atof(v);
        else if (strcmp(argv[i], "--count") == 0)
            o.limit = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--threads") == 0)
            o.threads = atoi(v);
        else if (strcmp(argv[i], "--processes") == 0)
            o.processes = atoi(v);
        else if (strcmp(argv[i], "--secure-heap") == 0)
            o.secure_heap = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--provider-path") == 0)
            o.path = v;
        else if (strcmp(argv[i], "--provider") == 0 && o.nproviders < MAX_PROVIDERS)
            o.providers[o.nproviders++] = v;
        else if (strcmp(argv[i], "--pkcs11") == 0)
            o.module = v;
        else if (strcmp(argv[i], "--token") == 0)
            o.token = v;
        else if (strcmp(argv[i], "--pin") == 0)
            o.pin = v;
        else if (strcmp(argv[i], "--verify-key") == 0)
            o.verify_key = v;
        else
            return usage();
    }
    if (o.key == NULL || o.alg == NULL || o.threads < 1 || o.threads > 64 || o.seconds <= 0 ||
        o.processes < 1 || o.processes > MAX_PROCESSES ||
        (o.module != NULL && (o.token == NULL || o.pin == NULL)))
        return usage();
    memset(msg, 0xa5, sizeof(msg));
    result r = {0};
    int ok = o.processes > 1 ? run_processes(&o, &r) : run(&o, &r, -1, -1);
    if (r.total == 0 && !ok)
        return 1;
    printf("key=%s alg=%s digest=%s threads=%d processes=%d seconds=%.2f signatures=%lu "
           "rate=%.1f p50_us=%.0f p99_us=%.0f cpu_us=%.1f load_ms=%.2f first_ms=%.2f "
           "secure_heap=%lu verify=%s\n",
           o.key, o.alg, strcmp(o.alg, "eddsa") == 0 ? "none" : o.digest, o.threads, o.processes,
           r.elapsed, r.total, (double)r.total / r.elapsed, percentile(r.hist, r.total, 0.5),
           percentile(r.hist, r.total, 0.99), r.total ? r.cpu / (double)r.total * 1e6 : 0.0,
           r.load_ms, r.first_ms, o.secure_heap, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
