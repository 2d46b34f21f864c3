/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The smaller MACed records of a key, read on every signature and `show`: approvals
 * and activation (store/officer.c), usage counters (store/record.c) and the stored
 * certificate chain (store/cert.c), whose blobs the provider's loader and the tool
 * then parse as X.509. The harness keeps a keystore with one key and per input writes
 * the record behind a valid MAC bound to the key id, then reads it back the way the
 * store does.
 *
 * Input: one selector byte (0 activation, 1 certificates, 2 usage), then the body.
 */
#include "harness.h"

#include <lmdb.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ss_store *S;
static ss_keyinfo *K;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    S = fz_keystore(SS_ROLE_SO);
    ss_keyspec spec = {.label = "k"};
    ss_error e = {0};
    FZ_CHECK(ss_keytype_parse("ec:P-256", &spec.type, &e) == SU_OK);
    ss_policy_default(&spec.policy);
    spec.policy.approvals = 2;
    FZ_CHECK(ss_keygen(S, &spec, &K, &e) == SU_OK);
    return 0;
}

static void put(int db, const unsigned char *body, size_t n, int mac_id_prefix)
{
    unsigned char *v = malloc(n + ST_MAC_LEN + 1);
    FZ_CHECK(v != NULL);
    if (n)
        memcpy(v, body, n);
    if (mac_id_prefix)
        FZ_CHECK(st_hmac(S, S->k_mac, K->id, SS_KEY_ID_LEN, v, n, v + n));
    MDB_txn *txn;
    ss_error e;
    FZ_CHECK(st_txn(S, 1, &txn, &e) == SU_OK);
    FZ_CHECK(st_put(S, txn, db, K->id, SS_KEY_ID_LEN, v, n + (mac_id_prefix ? ST_MAC_LEN : 0), &e) ==
             SU_OK);
    FZ_CHECK(st_commit(S, txn, &e) == SU_OK);
    free(v);
}

/* Times a store writes (su_now() values). Times far outside that range make the policy
 * arithmetic overflow (undefined behaviour: requests-hardening.md #8); they need the MAC
 * key to be written, so the harness keeps them away from the policy checks unless
 * FUZZ_FULL_RANGE=1 (to reproduce #8). The decoders see every value either way. */
static int plausible(int64_t t)
{
    static int full = -1;
    if (full < 0)
        full = getenv("FUZZ_FULL_RANGE") != NULL && strcmp(getenv("FUZZ_FULL_RANGE"), "1") == 0;
    return full || (t >= 0 && t < ((int64_t)1 << 40));
}

/* A certificate record (u32 count, count x u32-length blobs) with a zero-length blob. */
static int has_empty_blob(const unsigned char *p, size_t n)
{
    su_rd r;
    uint32_t cnt;
    su_rd_init(&r, p, n);
    if (!su_rd_u32(&r, &cnt))
        return 0;
    for (uint32_t i = 0; i < cnt; i++) {
        const unsigned char *d;
        size_t len;
        if (!su_rd_bytes(&r, &d, &len, 1 << 20))
            return 0;
        if (len == 0)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned char *body = data + 1;
    size_t n = size - 1;
    ss_error e = {0};
    MDB_txn *txn;
    switch (data[0] % 3) {
    case 0: {
        put(ST_DB_ACTIVATIONS, body, n, 1);
        st_activation a;
        FZ_CHECK(st_txn(S, 0, &txn, &e) == SU_OK);
        int rc = st_activation_load(S, txn, K, &a, &e);
        mdb_txn_abort(txn);
        FZ_CHECK(rc == SU_OK || rc == SU_EINTEGRITY);
        if (rc == SU_OK) {
            FZ_CHECK(a.napprovals <= ST_MAX_APPROVALS);
            int sane = plausible(a.expires);
            for (uint32_t i = 0; i < a.napprovals; i++) {
                FZ_CHECK(strlen(a.approvals[i].name) <= SS_OFFICER_NAME_MAX);
                sane = sane && plausible(a.approvals[i].time);
            }
            if (sane) {
                rc = st_policy_check_activation(K, &a, 1700000000, &e);
                FZ_CHECK(rc == SU_OK || rc == SU_EPOLICY);
            }
        }
        break;
    }
    case 1: {
        put(ST_DB_CERTS, body, n, 1);
        ss_blob *chain = NULL;
        size_t cnt = 0;
        int rc = ss_cert_get(S, K->id, &chain, &cnt, &e);
        if (rc != SU_OK && rc != SU_EINTEGRITY)
            fprintf(stderr, "ss_cert_get: %d: %s\n", rc, e.msg);
        /* Known issue, requests-hardening.md #7: a record holding an empty certificate
         * is reported as "out of memory" (OPENSSL_memdup of 0 bytes). Accepted here only
         * for such records; drop this once the store calls them malformed. */
        FZ_CHECK(rc == SU_OK || rc == SU_EINTEGRITY ||
                 (rc == SU_EIO && strcmp(e.msg, "out of memory") == 0 && has_empty_blob(body, n)));
        for (size_t i = 0; i < cnt; i++) {
            /* what the provider's loader and `show` do with each blob */
            const unsigned char *p = chain[i].data;
            X509 *x = d2i_X509(NULL, &p, (long)chain[i].len);
            X509_free(x);
        }
        ss_blobs_free(chain, cnt);
        break;
    }
    default: {
        /* the counters' MAC covers the id and the decoded fields, not raw bytes: the
         * harness writes the fuzzed fields with a MAC over them */
        unsigned char v[28 + ST_MAC_LEN] = {0};
        memcpy(v, body, n < 28 ? n : 28);
        st_usage u;
        su_rd r;
        su_rd_init(&r, v, 28);
        uint64_t last, start;
        su_rd_u64(&r, &u.signatures);
        su_rd_u64(&r, &last);
        su_rd_u64(&r, &start);
        su_rd_u32(&r, &u.window_count);
        u.last_used = (int64_t)last;
        u.window_start = (int64_t)start;
        FZ_CHECK(st_txn(S, 1, &txn, &e) == SU_OK);
        FZ_CHECK(st_usage_store(S, txn, K->id, &u, &e) == SU_OK);
        FZ_CHECK(st_commit(S, txn, &e) == SU_OK);
        if (n > 28) /* and sometimes a record of another length */
            put(ST_DB_USAGE, body, n, 0);
        st_usage got;
        FZ_CHECK(st_txn(S, 0, &txn, &e) == SU_OK);
        int rc = st_usage_load(S, txn, K, &got, &e);
        mdb_txn_abort(txn);
        FZ_CHECK(rc == SU_OK || rc == SU_EINTEGRITY);
        if (rc == SU_OK && plausible(got.window_start) && plausible(got.last_used)) {
            ss_policy p = K->policy;
            p.max_signatures = 10;
            p.rate_count = 3;
            p.rate_period = 60;
            ss_keyinfo k = *K;
            k.policy = p;
            rc = st_policy_check_counters(&k, &got, 1700000000, &e);
            FZ_CHECK(rc == SU_OK || rc == SU_EPOLICY);
        }
        break;
    }
    }
    return 0;
}
