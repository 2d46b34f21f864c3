/* SPDX-License-Identifier: Apache-2.0 */
/*
 * audit_fill: grows a keystore's audit log to a given number of records for the
 * audit-verify benchmark. Bench-only; it signs through the public store API with
 * a key whose policy is `--audit batched`, from several threads, so every record
 * is a real signature record written by the store's own flusher (a durable commit
 * per signature would take about ten minutes per million on this disk).
 *
 *   SEALHSM_PIN=... audit_fill DIR LABEL RECORDS [THREADS]
 *
 * Signs until the log holds RECORDS records (counting those already there), then
 * closes the store (which flushes the queue) and prints one key=value line.
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
    unsigned char id[SS_KEY_ID_LEN];
    unsigned long todo;
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
    unsigned char tbs[32];
    memset(tbs, 0x5a, sizeof(tbs));
    ss_sign_req req = {.digest = "sha256", .tbs = tbs, .tbslen = sizeof(tbs)};
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int stop = c->failed || c->todo == 0;
        if (!stop)
            c->todo--;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            return NULL;
        unsigned char sig[256];
        size_t siglen = sizeof(sig);
        ss_error e = {0};
        if (ss_sign(c->s, c->id, &req, sig, &siglen, &e) != SU_OK) {
            fprintf(stderr, "audit_fill: %s\n", e.msg);
            pthread_mutex_lock(&c->mu);
            c->failed = 1;
            pthread_mutex_unlock(&c->mu);
            return NULL;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: SEALHSM_PIN=... audit_fill DIR LABEL RECORDS [THREADS]\n");
        return 1;
    }
    CRYPTO_secure_malloc_init(1 << 20, 32);
    ctx c = {0};
    unsigned long want = strtoul(argv[3], NULL, 10);
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    ss_error e = {0};
    su_pin *pin = NULL;
    ss_keyinfo *k = NULL;
    ss_audit_report rep;
    if (threads < 1 || threads > 64 ||
        su_pin_from_source("env:SEALHSM_PIN", NULL, &pin, &e) != SU_OK ||
        ss_open(argv[1], NULL, NULL, &c.s, &e) != SU_OK ||
        ss_login(c.s, SS_ROLE_USER, NULL, pin, &e) != SU_OK ||
        ss_key_get(c.s, argv[2], NULL, &k, &e) != SU_OK) {
        fprintf(stderr, "audit_fill: %s\n", e.msg[0] ? e.msg : "bad arguments");
        return 1;
    }
    su_pin_free(pin);
    if (!k->policy.audit_batched) {
        fprintf(stderr, "audit_fill: key %s must have --audit batched\n", argv[2]);
        return 1;
    }
    memcpy(c.id, k->id, SS_KEY_ID_LEN);
    ss_keyinfo_free(k);
    /* how many records there are already: the verify report counts them */
    if (ss_audit_verify(c.s, &rep, &e) != SU_OK) {
        fprintf(stderr, "audit_fill: %s\n", e.msg);
        return 1;
    }
    c.todo = rep.records < want ? want - rep.records : 0;
    unsigned long signed_n = c.todo;
    pthread_mutex_init(&c.mu, NULL);
    pthread_t tids[64];
    double t0 = now();
    for (int i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, worker, &c);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    ss_close(c.s);
    double t = now() - t0;
    printf("records=%lu added=%lu threads=%d seconds=%.1f rate=%.1f ok=%s\n", want, signed_n,
           threads, t, (double)signed_n / t, c.failed ? "no" : "yes");
    return c.failed;
}
