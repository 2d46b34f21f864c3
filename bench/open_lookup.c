/* SPDX-License-Identifier: Apache-2.0 */
/*
 * open_lookup: what a signer pays before its first signature, in parts:
 *   open   ss_open (directory checks, LMDB environment, tables),
 *   login  ss_login as the user (Argon2id unlock plus its durable try marker),
 *   lookup ss_key_get of one label (label index, record MAC, usage, certs).
 * The environment is process-wide in the store, so each repetition runs in a fresh
 * process: bench/run calls this program several times and takes medians.
 * OpenSSL's own first fetches in a process (loading the default provider, building
 * its name map) are paid by any OpenSSL program, PEM keys included, and would
 * otherwise land in ss_open: they are done first and reported as warmup_ms.
 *
 *   SEALHSM_PIN=... open_lookup DIR LABEL [LOOKUPS]
 *
 * LOOKUPS (default 1000) further lookups of the same label give the warm lookup time.
 */
#include "sealstore.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const ss_error *e) {
    fprintf(stderr, "open_lookup: %s\n", e->msg);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: SEALHSM_PIN=... open_lookup DIR LABEL [LOOKUPS]\n");
        return 1;
    }
    long n = argc > 3 ? atol(argv[3]) : 1000;
    CRYPTO_secure_malloc_init(1 << 16, 32);
    ss_error e = {0};
    su_pin *pin = NULL;
    ss_store *s = NULL;
    ss_keyinfo *k = NULL;
    if (su_pin_from_source("env:SEALHSM_PIN", NULL, &pin, &e) != SU_OK)
        return fail(&e);
    double tw = now();
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MD_free(md);
    EVP_CIPHER_free(c);
    EVP_MAC_free(mac);
    double t0 = now();
    if (ss_open(argv[1], NULL, NULL, &s, &e) != SU_OK)
        return fail(&e);
    double t1 = now();
    if (ss_login(s, SS_ROLE_USER, NULL, pin, &e) != SU_OK)
        return fail(&e);
    double t2 = now();
    if (ss_key_get(s, argv[2], NULL, &k, &e) != SU_OK)
        return fail(&e);
    double t3 = now();
    ss_keyinfo_free(k);
    for (long i = 0; i < n; i++) {
        if (ss_key_get(s, argv[2], NULL, &k, &e) != SU_OK)
            return fail(&e);
        ss_keyinfo_free(k);
    }
    double t4 = now();
    su_pin_free(pin);
    printf("warmup_ms=%.3f open_ms=%.3f login_ms=%.1f lookup_ms=%.3f open_lookup_ms=%.3f "
           "warm_lookup_us=%.1f\n",
           (t0 - tw) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3,
           (t1 - t0 + t3 - t2) * 1e3, n > 0 ? (t4 - t3) / (double)n * 1e6 : 0.0);
    ss_close(s);
    return 0;
}
