/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A signer written against sealclient.h alone, for test_daemon.py: signs with
 * one key through the daemon (or the embedded keystore) the way a front end
 * does, verifies every signature with the key's public half, and prints one
 * line per signature "pid=N ok" so the test can match them with audit records.
 *
 *   client_probe SOCKET LABEL once
 *   client_probe SOCKET LABEL fork      parent signs, child signs, parent signs
 *   client_probe SOCKET LABEL threads N M   N threads sign M times each, at once
 *   client_probe SOCKET LABEL restart   signs, waits for a line on stdin, signs
 *
 * SOCKET "-" means the embedded backend ($SEALHSM_KEYSTORE, $SEALHSM_PIN).
 * Exit 0 when every signature verified, else the failing call's SU_* code.
 */
#include "sealclient.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static sc_conn *conn;
static sc_key *key;
static EVP_PKEY *pub;

static int sign_once(void) {
    unsigned char msg[32], dig[32], sig[1024];
    size_t siglen = sizeof(sig);
    unsigned int dlen = 0;
    su_error e = {0};
    int eddsa = key->alg == SC_ALG_ED25519 || key->alg == SC_ALG_ED448, ok;
    sc_sign_req req = {.digest = eddsa ? NULL : "SHA256",
                       .padding = key->alg == SC_ALG_RSA ? SC_PAD_PKCS1 : 0,
                       .tbs = eddsa ? msg : dig,
                       .tbslen = eddsa ? sizeof(msg) : sizeof(dig)};

    RAND_bytes(msg, sizeof(msg));
    EVP_Digest(msg, sizeof(msg), dig, &dlen, EVP_sha256(), NULL);
    int rc = sc_sign(conn, key->id, &req, sig, &siglen, &e);
    if (rc != SU_OK) {
        fprintf(stderr, "pid=%d sign: %s\n", (int)getpid(), e.msg);
        return rc;
    }
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    ok = m != NULL && EVP_DigestVerifyInit(m, NULL, eddsa ? NULL : EVP_sha256(), NULL, pub) == 1 &&
         EVP_DigestVerify(m, sig, siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(m);
    printf("pid=%d %s\n", (int)getpid(), ok ? "ok" : "BAD");
    fflush(stdout);
    return ok ? SU_OK : SU_EINTEGRITY;
}

static int rounds;

static void *thread_main(void *arg) {
    intptr_t bad = 0;
    for (int i = 0; i < rounds; i++)
        if (sign_once() != SU_OK)
            bad = 1;
    return (void *)bad;
}

int main(int argc, char **argv) {
    sc_config cfg = {0};
    su_error e = {0};
    int rc;

    if (argc < 4)
        return 1;
    if (strcmp(argv[1], "-") != 0)
        cfg.daemon = argv[1];
    if ((rc = sc_open(&cfg, &conn, &e)) != SU_OK ||
        (rc = sc_login(conn, NULL, NULL, NULL, NULL, &e)) != SU_OK ||
        (rc = sc_key_find(conn, argv[2], NULL, &key, &e)) != SU_OK) {
        fprintf(stderr, "sealhsm: %s\n", e.msg);
        return rc;
    }
    const unsigned char *p = key->spki;
    pub = d2i_PUBKEY(NULL, &p, (long)key->spki_len);
    if (pub == NULL)
        return SU_EINTEGRITY;
    if (strcmp(argv[3], "once") == 0) {
        rc = sign_once();
    } else if (strcmp(argv[3], "fork") == 0) {
        rc = sign_once();
        pid_t pid = fork();
        if (pid == 0)
            _exit(sign_once());
        int st = 0;
        waitpid(pid, &st, 0);
        if (rc == SU_OK)
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : SU_EIO;
        if (rc == SU_OK)
            rc = sign_once();
    } else if (strcmp(argv[3], "threads") == 0 && argc == 6) {
        int n = atoi(argv[4]);
        pthread_t t[64];
        rounds = atoi(argv[5]);
        if (n < 1 || n > 64)
            return 1;
        for (int i = 0; i < n; i++)
            pthread_create(&t[i], NULL, thread_main, NULL);
        rc = SU_OK;
        for (int i = 0; i < n; i++) {
            void *bad;
            pthread_join(t[i], &bad);
            if (bad != NULL)
                rc = SU_EIO;
        }
    } else if (strcmp(argv[3], "restart") == 0) {
        char line[16];
        rc = sign_once();
        printf("waiting\n");
        fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL)
            return 1;
        /* the daemon went away and came back: the pooled connection is dead */
        if (rc == SU_OK)
            rc = sign_once();
    } else {
        return 1;
    }
    EVP_PKEY_free(pub);
    sc_key_free(key);
    sc_close(conn);
    return rc;
}
