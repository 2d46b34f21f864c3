/* SPDX-License-Identifier: Apache-2.0 */
/* ss_selftest: passes in the default and in a private library context, honours propq,
 * and every test's failure path is reachable through SEALHSM_SELFTEST_CORRUPT. */
#include "check.h"
#include "sealstore.h"

#include <openssl/err.h>
#include <openssl/provider.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TESTS 64

typedef struct tally {
    int n, failed;
    char names[MAX_TESTS][32];
    int ok[MAX_TESTS];
} tally;

static void record(const char *name, int ok, void *arg) {
    tally *t = arg;
    if (t->n < MAX_TESTS) {
        snprintf(t->names[t->n], sizeof(t->names[0]), "%s", name);
        t->ok[t->n] = ok;
    }
    t->n++;
    t->failed += !ok;
}

static double ms_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void passes_in_default_context(tally *all) {
    ss_error e = {0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ_INT(ss_selftest(NULL, NULL, record, all, &e), SU_OK);
    fprintf(stderr, "self-tests: %d in %.1f ms\n", all->n, ms_since(&t0));
    CHECK(all->n >= 14 && all->n <= MAX_TESTS);
    CHECK_EQ_INT(all->failed, 0);
    CHECK_EQ_INT(ss_selftest(NULL, NULL, NULL, NULL, NULL), SU_OK);
}

static void passes_in_private_context(void) {
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *prov = OSSL_PROVIDER_load(ctx, "default");
    CHECK(prov != NULL);
    tally t = {0};
    ss_error e = {0};
    CHECK_EQ_INT(ss_selftest(ctx, NULL, record, &t, &e), SU_OK);
    CHECK_EQ_INT(t.failed, 0);
    CHECK_EQ_INT(ss_selftest(ctx, "provider=default", NULL, NULL, &e), SU_OK);

    /* propq is really used: nothing matches an unknown provider */
    memset(&t, 0, sizeof(t));
    CHECK_EQ_INT(ss_selftest(ctx, "provider=nosuchprovider", record, &t, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "sha256") != NULL);
    CHECK(t.failed > 0);
    ERR_clear_error();
    OSSL_PROVIDER_unload(prov);
    OSSL_LIB_CTX_free(ctx);
}

/* A context whose only provider has no algorithms: the crypto must come from libctx,
 * so everything but Argon2 (libargon2, not OpenSSL) fails and nothing crashes. */
static void fails_without_algorithms(void) {
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    OSSL_PROVIDER *prov = OSSL_PROVIDER_load(ctx, "base");
    CHECK(prov != NULL);
    tally t = {0};
    ss_error e = {0};
    CHECK_EQ_INT(ss_selftest(ctx, NULL, record, &t, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "self-test sha256 failed") != NULL);
    for (int i = 0; i < t.n && i < MAX_TESTS; i++)
        CHECK_EQ_INT(t.ok[i], strcmp(t.names[i], "argon2id") == 0);
    ERR_clear_error();
    OSSL_PROVIDER_unload(prov);
    OSSL_LIB_CTX_free(ctx);
}

static void corrupt_hook_fails_each_test(const tally *all) {
    for (int i = 0; i < all->n && i < MAX_TESTS; i++) {
        const char *name = all->names[i];
        setenv("SEALHSM_SELFTEST_CORRUPT", name, 1);
        tally t = {0};
        ss_error e = {0};
        CHECK_EQ_INT(ss_selftest(NULL, NULL, record, &t, &e), SU_EINTEGRITY);
        CHECK_EQ_INT(e.code, SU_EINTEGRITY);
        char want[64];
        snprintf(want, sizeof(want), "self-test %s failed", name);
        if (strstr(e.msg, want) == NULL) {
            fprintf(stderr, "corrupting %s: message '%s'\n", name, e.msg);
            CHECK(0);
        }
        CHECK_EQ_INT(t.failed, 1);
        for (int j = 0; j < t.n && j < MAX_TESTS; j++)
            CHECK_EQ_INT(t.ok[j], strcmp(t.names[j], name) != 0);
        ERR_clear_error();
    }
    /* an unknown name corrupts nothing */
    setenv("SEALHSM_SELFTEST_CORRUPT", "no-such-test", 1);
    CHECK_EQ_INT(ss_selftest(NULL, NULL, NULL, NULL, NULL), SU_OK);
    unsetenv("SEALHSM_SELFTEST_CORRUPT");
}

static void default_context(void) {
    tally all = {0};
    passes_in_default_context(&all);
}

/* The names of the self-tests come from a passing run, as the hook is tried on each. */
static void corrupt_hook(void) {
    tally all = {0};
    ss_error e = {0};
    CHECK_EQ_INT(ss_selftest(NULL, NULL, record, &all, &e), SU_OK);
    CHECK(all.n >= 14);
    corrupt_hook_fails_each_test(&all);
}

static int clear_hook(void) {
    return unsetenv("SEALHSM_SELFTEST_CORRUPT");
}

static const check_case cases[] = {
    CHECK_CASE(selftest_default_context, default_context),
    CHECK_CASE(selftest_private_context, passes_in_private_context),
    CHECK_CASE(selftest_without_algorithms, fails_without_algorithms),
    CHECK_CASE(selftest_corrupt_hook, corrupt_hook),
};

CHECK_MAIN(cases, clear_hook, NULL)
