/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lmdb_commit: the cost of one durable LMDB commit on the disk under DIR, the
 * floor under every durable signature (one audit record, one commit).
 *
 *   lmdb_commit DIR [N [DBS]]
 *
 * Opens an environment in DIR (created, must be empty or a previous lmdb_commit
 * environment) with default flags (full sync), then N times: a write txn putting
 * one ~300-byte value under a new key, commit. With DBS > 1 each transaction puts
 * one value into each of DBS named databases, the shape of a signature's commit
 * (audit record, audit head, usage counters). Prints one key=value line with the
 * median and mean commit time. Links liblmdb only.
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "lmdb_commit: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: lmdb_commit DIR [N [DBS]]\n");
        return 1;
    }
    int n = argc > 2 ? atoi(argv[2]) : 500, ndbs = argc > 3 ? atoi(argv[3]) : 1;
    if (n < 1 || n > 1000000 || ndbs < 1 || ndbs > 8) {
        fprintf(stderr, "lmdb_commit: N must be 1..1000000, DBS 1..8\n");
        return 1;
    }
    mkdir(argv[1], 0700);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi[8];
    int rc = mdb_env_create(&env);
    if (rc != 0)
        return fail("create", rc);
    mdb_env_set_mapsize(env, (size_t)256 << 20);
    mdb_env_set_maxdbs(env, 8);
    if ((rc = mdb_env_open(env, argv[1], 0, 0600)) != 0)
        return fail(argv[1], rc);
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
        return fail("open", rc);
    for (int d = 0; d < ndbs; d++) {
        char name[8];
        snprintf(name, sizeof(name), "db%d", d);
        if ((rc = mdb_dbi_open(txn, ndbs > 1 ? name : NULL, MDB_CREATE, &dbi[d])) != 0)
            return fail("open", rc);
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return fail("open", rc);

    unsigned char value[300];
    memset(value, 0x5a, sizeof(value));
    double *t = calloc((size_t)n, sizeof(*t)), total = 0;
    if (t == NULL)
        return 1;
    for (int i = 0; i < n; i++) {
        uint64_t k = (uint64_t)i;
        MDB_val key = {sizeof(k), &k}, val = {sizeof(value), value};
        double t0 = now();
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
            return fail("begin", rc);
        for (int d = 0; d < ndbs; d++)
            if ((rc = mdb_put(txn, dbi[d], &key, &val, 0)) != 0)
                return fail("put", rc);
        if ((rc = mdb_txn_commit(txn)) != 0)
            return fail("commit", rc);
        t[i] = now() - t0;
        total += t[i];
    }
    qsort(t, (size_t)n, sizeof(*t), cmp);
    printf("commits=%d dbs=%d median_ms=%.4f mean_ms=%.4f p90_ms=%.4f rate=%.1f\n", n, ndbs,
           t[n / 2] * 1e3, total / n * 1e3, t[n * 9 / 10] * 1e3, 1 / t[n / 2]);
    free(t);
    mdb_env_close(env);
    return 0;
}
