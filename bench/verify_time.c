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
#include <sys/resource.h>
#include <time.h>

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
    double c0 = cpu_seconds(), t0 = now();
    int rc = ss_audit_verify(s, &r, &e);
    double t = now() - t0, c = cpu_seconds() - c0;
    if (rc != SU_OK) {
        fprintf(stderr, "verify_time: %s\n", e.msg);
        return 1;
    }
    printf("records=%llu seconds=%.3f rate=%.0f cpu_seconds=%.3f cpu_rate=%.0f\n",
           (unsigned long long)r.records, t, (double)r.records / t, c,
           c > 0 ? (double)r.records / c : 0.0);
    ss_close(s);
    return 0;
}
