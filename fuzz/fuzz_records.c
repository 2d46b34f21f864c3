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
#include <stdlib.h>
#include <string.h>

static ss_store *S;
static ss_keyinfo *K;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    S = fz_keystore(SS_ROLE_SO);
    ss_keyspec spec = {.label = "k"};
    ss_error e = {0};
    /* --approvals 2 needs two officers */
    su_pin *op = su_pin_new(FZ_USER_PIN, strlen(FZ_USER_PIN));
    FZ_CHECK(ss_officer_add(S, "alice", op, &e) == SU_OK);
    FZ_CHECK(ss_officer_add(S, "bob", op, &e) == SU_OK);
    su_pin_free(op);
    FZ_CHECK(ss_keytype_parse("ec:P-256", &spec.type, &e) == SU_OK);
    ss_policy_default(&spec.policy);
    spec.policy.approvals = 2;
    FZ_CHECK(ss_keygen(S, &spec, &K, &e) == SU_OK);
    return 0;
}

static void put(int db, const unsigned char *body, size_t n, int mac_id_prefix) {
    unsigned char *v = malloc(n + ST_MAC_LEN + 1);
    FZ_CHECK(v != NULL);
    if (n)
        memcpy(v, body, n);
    if (mac_id_prefix)
        FZ_CHECK(st_hmac(S, S->k_mac, K->id, SS_KEY_ID_LEN, v, n, v + n));
    MDB_txn *txn;
    ss_error e;
    FZ_CHECK(st_txn(S, 1, &txn, &e) == SU_OK);
    FZ_CHECK(st_put(S, txn, db, K->id, SS_KEY_ID_LEN, v, n + (mac_id_prefix ? ST_MAC_LEN : 0),
                    &e) == SU_OK);
    FZ_CHECK(st_commit(S, txn, &e) == SU_OK);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
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
            for (uint32_t i = 0; i < a.napprovals; i++)
                FZ_CHECK(strlen(a.approvals[i].name) <= SS_OFFICER_NAME_MAX);
            /* any stored time, however far off, is judged without overflow (#8) */
            rc = st_policy_check_activation(K, &a, 1700000000, &e);
            FZ_CHECK(rc == SU_OK || rc == SU_EPOLICY);
        }
        break;
    }
    case 1: {
        put(ST_DB_CERTS, body, n, 1);
        ss_blob *chain = NULL;
        size_t cnt = 0;
        int rc = ss_cert_get(S, K->id, &chain, &cnt, &e);
        FZ_CHECK(rc == SU_OK || rc == SU_EINTEGRITY);
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
        /* the new root into the head, as the audit append of a real change does: the
         * next update checks the tree against it */
        FZ_CHECK(st_audit_head_refresh(S, txn, &e) == SU_OK);
        FZ_CHECK(st_commit(S, txn, &e) == SU_OK);
        if (n > 28) /* and sometimes a record of another length */
            put(ST_DB_USAGE, body, n, 0);
        st_usage got;
        FZ_CHECK(st_txn(S, 0, &txn, &e) == SU_OK);
        int rc = st_usage_load(S, txn, K, &got, &e);
        mdb_txn_abort(txn);
        FZ_CHECK(rc == SU_OK || rc == SU_EINTEGRITY);
        if (rc == SU_OK) {
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
