/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: a process that uses the store the way the tool does, then waits,
 * so a test can read its memory (/proc/PID/mem) after the unlock.
 *
 * usage: memprobe DIR so|user PINFILE [LABEL]
 *   opens DIR, reads the PIN from PINFILE (as --pin-file does), logs in as the role,
 *   and with LABEL (user role) makes one signature with it (SHA-256, PKCS#1 v1.5 for
 *   RSA, the message itself for EdDSA); then prints
 *   "READY <pid>" and blocks until stdin is closed, and exits 0.
 * The secure heap is set up as the tool sets it up (tools/main.c).
 */
#include "sealstore.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: memprobe DIR so|user PINFILE [LABEL]\n");
        return 1;
    }
    CRYPTO_secure_malloc_init(1 << 16, 32);
    ss_role role = strcmp(argv[2], "so") == 0 ? SS_ROLE_SO : SS_ROLE_USER;
    char spec[4200];
    snprintf(spec, sizeof(spec), "file:%s", argv[3]);
    ss_error e = {0};
    su_pin *pin = NULL;
    ss_store *s = NULL;
    int rc = su_pin_from_source(spec, NULL, &pin, &e);
    if (rc == SU_OK)
        rc = ss_open(argv[1], NULL, NULL, &s, &e);
    if (rc == SU_OK)
        rc = ss_login(s, role, NULL, pin, &e);
    su_pin_free(pin);
    if (rc == SU_OK && argc > 4) {
        ss_keyinfo *k = NULL;
        unsigned char tbs[32], sig[1024];
        size_t siglen = sizeof(sig);
        EVP_Digest("memprobe", 8, tbs, NULL, EVP_sha256(), NULL);
        ss_sign_req req = {.digest = "sha256", .tbs = tbs, .tbslen = 32};
        rc = ss_key_get(s, argv[4], NULL, &k, &e);
        if (rc == SU_OK && (k->type.alg == SS_ALG_ED25519 || k->type.alg == SS_ALG_ED448))
            req.digest = NULL; /* EdDSA signs the message itself */
        else if (rc == SU_OK && k->type.alg == SS_ALG_RSA)
            req.padding = SS_PAD_PKCS1;
        if (rc == SU_OK)
            rc = ss_sign(s, k->id, &req, sig, &siglen, &e);
        ss_keyinfo_free(k);
    }
    if (rc != SU_OK) {
        fprintf(stderr, "memprobe: %s\n", e.msg);
        ss_close(s);
        return rc;
    }
    printf("READY %ld\n", (long)getpid());
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
        ;
    ss_close(s);
    CRYPTO_secure_malloc_done();
    return 0;
}
