/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify_time: `sealhsm audit verify` without the process start and the Argon2id
 * unlock around it, i.e. the records/s of the chain and MAC check itself.
 *
 *   SEALHSM_PIN=... verify_time DIR
 */
#include "sealstore.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: SEALHSM_PIN=... verify_time DIR\n");
        return 1;
    }
    CRYPTO_secure_malloc_init(1 << 16, 32);
    ss_error e = {0};
    su_pin *pin = NULL;
    ss_store *s = NULL;
    ss_audit_report r;
    if (su_pin_from_source("env:SEALHSM_PIN", NULL, &pin, &e) != SU_OK ||
        ss_open(argv[1], NULL, NULL, &s, &e) != SU_OK ||
        ss_login(s, SS_ROLE_USER, NULL, pin, &e) != SU_OK) {
        fprintf(stderr, "verify_time: %s\n", e.msg);
        return 1;
    }
    su_pin_free(pin);
    double t0 = now();
    int rc = ss_audit_verify(s, &r, &e);
    double t = now() - t0;
    if (rc != SU_OK) {
        fprintf(stderr, "verify_time: %s\n", e.msg);
        return 1;
    }
    printf("records=%llu seconds=%.3f rate=%.0f\n", (unsigned long long)r.records, t,
           (double)r.records / t);
    ss_close(s);
    return 0;
}
