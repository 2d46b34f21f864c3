/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scale_keygen: fills a keystore with many keys for the scale benchmark, in one
 * process after one SO login (the tool would pay a process start and an Argon2id
 * unlock per key). Bench-only; it calls the public store API, so every key is a
 * normal key: generated with the DRBG, pairwise-tested, sealed, audited and
 * committed durably in its own transaction, exactly as `sealhsm keygen` does.
 *
 *   SEALHSM_SO_PIN=... scale_keygen DIR COUNT [TYPE] [THREADS]
 *
 * Labels are k0000000, k0000001, ... (TYPE default ec:P-256, THREADS default 1:
 * generation runs in parallel, commits are serialized by LMDB). Prints progress to
 * stderr and one key=value line with the wall time and keys/s.
 */
#include "sealstore.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ctx {
    ss_store *s;
    ss_keytype type;
    unsigned long count, next;
    pthread_mutex_t mu;
    int failed;
} ctx;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg) {
    ctx *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        unsigned long i = c->next++;
        int stop = c->failed || i >= c->count;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            return NULL;
        char label[32];
        snprintf(label, sizeof(label), "k%07lu", i);
        ss_keyspec spec = {.label = label, .type = c->type};
        ss_policy_default(&spec.policy);
        ss_error e = {0};
        if (ss_keygen(c->s, &spec, NULL, &e) != SU_OK) {
            fprintf(stderr, "scale_keygen: %s\n", e.msg);
            pthread_mutex_lock(&c->mu);
            c->failed = 1;
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
        if ((i + 1) % 10000 == 0)
            fprintf(stderr, "scale_keygen: %lu keys\n", i + 1);
    }
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: SEALHSM_SO_PIN=... scale_keygen DIR COUNT [TYPE] [THREADS]\n");
        return 1;
    }
    CRYPTO_secure_malloc_init(1 << 16, 32);
    ctx c = {.count = strtoul(argv[2], NULL, 10)};
    int threads = argc > 4 ? atoi(argv[4]) : 1;
    ss_error e = {0};
    su_pin *pin = NULL;
    if (threads < 1 || threads > 64 ||
        ss_keytype_parse(argc > 3 ? argv[3] : "ec:P-256", &c.type, &e) != SU_OK ||
        su_pin_from_source("env:SEALHSM_SO_PIN", NULL, &pin, &e) != SU_OK ||
        ss_open(argv[1], NULL, NULL, &c.s, &e) != SU_OK) {
        fprintf(stderr, "scale_keygen: %s\n", e.msg[0] ? e.msg : "bad arguments");
        return 1;
    }
    double t0 = now();
    int rc = ss_login(c.s, SS_ROLE_SO, NULL, pin, &e);
    su_pin_free(pin);
    if (rc != SU_OK) {
        fprintf(stderr, "scale_keygen: %s\n", e.msg);
        return 1;
    }
    double t_login = now() - t0;
    pthread_mutex_init(&c.mu, NULL);
    pthread_t tids[64];
    t0 = now();
    for (int i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, worker, &c);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    double t = now() - t0;
    printf("keys=%lu threads=%d login_s=%.3f seconds=%.1f rate=%.1f ok=%s\n", c.count, threads,
           t_login, t, (double)c.count / t, c.failed ? "no" : "yes");
    ss_close(c.s);
    return c.failed;
}
