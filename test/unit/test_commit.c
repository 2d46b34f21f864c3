/* SPDX-License-Identifier: Apache-2.0 */
/* The durable commit under load: processes and threads signing with one key at once,
 * a handle used across fork(), and a full map failing closed. */
#include "../../store/internal.h"
#include "check.h"
#include "store_fixture.h"

#include <lmdb.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Several processes signing with one key at once: every signature counted and
 * audited exactly once (LMDB serializes the write transactions). */
static void test_concurrent_writers(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "shared", "ec:P-256");
    ss_close(s);
    enum { PROCS = 4, SIGS = 25 };
    for (int p = 0; p < PROCS; p++) {
        if (fork() == 0) {
            ss_store *c = NULL;
            int bad = ss_open(dir, NULL, NULL, &c, &e) != SU_OK ||
                      ss_login(c, SS_ROLE_USER, NULL, user_pin, &e) != SU_OK;
            for (int i = 0; i < SIGS && !bad; i++)
                bad = sign_verify(c, k, &e) != SU_OK;
            if (bad)
                fprintf(stderr, "child: %s\n", e.msg);
            ss_close(c);
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        wait(&st);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "shared", NULL, &after, &e), SU_OK);
    if (after != NULL)
        CHECK_EQ_INT(after->signatures, PROCS * SIGS);
    ss_keyinfo_free(after);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(k);
}

/* Threads of one process share commits (group commit); nothing is lost. */
typedef struct thread_arg {
    ss_store *s;
    const ss_keyinfo *k;
    int failures;
} thread_arg;

static void *signer(void *p) {
    thread_arg *a = p;
    ss_error e;
    for (int i = 0; i < 50; i++)
        if (sign_verify(a->s, a->k, &e) != SU_OK)
            a->failures++;
    return NULL;
}

static void test_threads(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "threads", "ec:P-256");
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    enum { N = 4 };
    pthread_t t[N];
    thread_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (thread_arg){s, k, 0};
        pthread_create(&t[i], NULL, signer, &args[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(args[i].failures, 0);
    }
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "threads", NULL, &after, &e), SU_OK);
    if (after != NULL)
        CHECK_EQ_INT(after->signatures, N * 50);
    ss_keyinfo_free(after);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(k);
}

/* A handle opened and logged in before fork() keeps working in the children (as
 * in nginx workers): each child gets its own LMDB environment; nothing is lost. */
static void test_fork(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "forked", "ec:P-256");
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    for (int p = 0; p < 3; p++) {
        if (fork() == 0) {
            int bad = 0;
            for (int i = 0; i < 10 && !bad; i++)
                bad = sign_verify(s, k, &e) != SU_OK;
            if (bad)
                fprintf(stderr, "child: %s\n", e.msg);
            ss_close(s);
            _exit(bad);
        }
    }
    for (int p = 0; p < 3; p++) {
        int st;
        wait(&st);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "forked", NULL, &after, &e), SU_OK);
    if (after != NULL)
        CHECK_EQ_INT(after->signatures, 32);
    ss_keyinfo_free(after);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(k);
}

/* A full map fails the signature closed: error, no signature, no audit gap. */
static void test_map_full(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "full", "ec:P-256");
    ss_close(s);
    struct stat st;
    char data[400];
    snprintf(data, sizeof(data), "%s/data.mdb", dir);
    CHECK(stat(data, &st) == 0);
    char mib[32];
    snprintf(mib, sizeof(mib), "%lld", (long long)(st.st_size >> 20) + 1);
    setenv("SEALHSM_MAP_MIB", mib, 1);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    int rc = SU_OK;
    unsigned char dg[32] = {1}, sig[256];
    for (int i = 0; i < 100000 && rc == SU_OK; i++) {
        size_t siglen = sizeof(sig);
        memset(sig, 0, sizeof(sig));
        ss_sign_req req = {.digest = "SHA256", .tbs = dg, .tbslen = 32};
        rc = ss_sign(s, k->id, &req, sig, &siglen, &e);
    }
    CHECK_EQ_INT(rc, SU_EIO);
    CHECK(strstr(e.msg, "full") != NULL);
    /* nothing was written into the caller's buffer on failure */
    unsigned char zero[256] = {0};
    CHECK(memcmp(sig, zero, sizeof(sig)) == 0);
    ss_close(s);
    unsetenv("SEALHSM_MAP_MIB");
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "full", NULL, &after, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(after);
    ss_keyinfo_free(k);
}

static const check_case cases[] = {
    CHECK_CASE(concurrent_writers, test_concurrent_writers),
    CHECK_CASE(threads, test_threads),
    CHECK_CASE(fork, test_fork),
    CHECK_CASE(map_full, test_map_full),
};

CHECK_MAIN(cases, store_fixture_setup, store_fixture_teardown)
