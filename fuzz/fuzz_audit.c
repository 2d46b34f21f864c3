/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit-record decoder (store/audit_record.c), reached the way an attacker
 * reaches it: through records put into the audit table of a keystore. The harness
 * keeps one small keystore (logged in as the user) and per input replaces its
 * whole log with the records the input describes, then runs `audit verify`
 * (ss_audit_verify), `audit export` (ss_audit_each) and, in some inputs, one more
 * append (which refuses an unauthenticated tail that is not failed unlocks chained
 * to the head).
 *
 * Input: one flags byte, then records as u16 big-endian length + bytes.
 *   flags & 1  fix up: each record is the content only; the harness sets its seq and
 *              prev_hash, appends a valid MAC and writes a matching head, so the
 *              decoder and the chain checks see authentic-looking records
 *   flags & 2  (with 1) leave the last record unauthenticated, as after a failed PIN
 *   flags & 4  key records by the seq they carry instead of 1..n (gaps, reorders)
 *   flags & 8  append one more record afterwards (st_audit_log)
 */
#include "harness.h"

#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECORDS 16

static ss_store *S;
static unsigned char fresh_root[32], global[32];

/* The format 2 head (store/audit_head.c): MAC over auth_seq, auth_hash, the freshness
 * root, the settings digest and the clock floor (0 here). */
static void put_head(MDB_txn *txn, uint64_t seq, const unsigned char hash[32], uint64_t auth_seq,
                     const unsigned char auth_hash[32]) {
    unsigned char v[8 + 32 + 8 + 32 + 32 + 32 + 8 + ST_MAC_LEN], b[8 + 32 + 32 + 32 + 8];
    ss_error e;
    su_be64(v, seq);
    memcpy(v + 8, hash, 32);
    su_be64(v + 40, auth_seq);
    memcpy(v + 48, auth_hash, 32);
    memcpy(v + 80, fresh_root, 32);
    memcpy(v + 112, global, 32);
    su_be64(v + 144, 0);
    su_be64(b, auth_seq);
    memcpy(b + 8, auth_hash, 32);
    memcpy(b + 40, fresh_root, 32);
    memcpy(b + 72, global, 32);
    su_be64(b + 104, 0);
    FZ_CHECK(st_hmac(S, S->k_audit, "head2", 5, b, sizeof(b), v + 152));
    FZ_CHECK(st_put(S, txn, ST_DB_META, "audit/head", 10, v, sizeof(v), &e) == SU_OK);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    S = fz_keystore(SS_ROLE_USER);
    MDB_txn *txn;
    ss_error e;
    FZ_CHECK(st_txn(S, 0, &txn, &e) == SU_OK);
    FZ_CHECK(st_fresh_root(S, txn, fresh_root, &e) == SU_OK);
    FZ_CHECK(st_fresh_global_digest(S, txn, global, &e) == SU_OK);
    mdb_txn_abort(txn);
    return 0;
}

static int visit(const ss_audit_rec *r, void *arg) {
    fz_touch_str(r->user);
    fz_touch_str(r->program);
    fz_touch_str(r->label);
    fz_touch_str(r->reason);
    fz_touch_str(r->digest);
    fz_touch(r->tbs_hash, r->tbs_hash_len);
    fz_touch_str(ss_audit_op_name(r->op));
    fz_touch_str(ss_audit_outcome_name(r->outcome));
    (*(uint64_t *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int flags = data[0];
    int fixup = flags & 1;
    const uint8_t *p = data + 1, *end = data + size;
    MDB_txn *txn;
    ss_error e = {0};
    FZ_CHECK(st_txn(S, 1, &txn, &e) == SU_OK);
    FZ_CHECK(mdb_drop(txn, S->dbi[ST_DB_AUDIT], 0) == 0);

    unsigned char prev[32] = {0}, hash[32] = {0}, auth_hash[32] = {0};
    uint64_t n = 0, auth_seq = 0;
    while (end - p >= 2 && n < MAX_RECORDS) {
        size_t len = (size_t)p[0] << 8 | p[1];
        p += 2;
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        uint64_t seq = ++n;
        unsigned char *rec = malloc(len + 1 + ST_MAC_LEN);
        FZ_CHECK(rec != NULL);
        if (len)
            memcpy(rec, p, len);
        size_t reclen = len;
        p += len;
        if (fixup) {
            if (len >= 1 + 8 + 32) {
                su_be64(rec + 1, seq);
                memcpy(rec + len - 32, prev, 32);
            }
            int authed = !((flags & 2) && end - p < 2);
            FZ_CHECK(st_sha256(S, "sealhsm-audit-v1", 16, rec, len, hash));
            rec[len] = (unsigned char)authed;
            memset(rec + len + 1, 0, ST_MAC_LEN);
            if (authed) {
                FZ_CHECK(st_hmac(S, S->k_audit, hash, 32, NULL, 0, rec + len + 1));
                auth_seq = seq;
                memcpy(auth_hash, hash, 32);
            }
            reclen = len + 1 + ST_MAC_LEN;
            memcpy(prev, hash, 32);
        }
        if ((flags & 4) && len >= 9)
            seq = su_get_be64(rec + 1);
        unsigned char k[8];
        su_be64(k, seq);
        FZ_CHECK(st_put(S, txn, ST_DB_AUDIT, k, 8, rec, reclen, &e) == SU_OK);
        free(rec);
    }
    if (fixup)
        put_head(txn, n, hash, auth_seq, auth_hash);
    FZ_CHECK(st_commit(S, txn, &e) == SU_OK);

    ss_audit_report rep;
    int rc = ss_audit_verify(S, &rep, &e);
    FZ_CHECK(rc == SU_OK || rc == SU_EINTEGRITY);
    FZ_CHECK(rc != SU_OK || rep.records == n);
    uint64_t seen = 0;
    rc = ss_audit_each(S, 0, visit, &seen, &e);
    FZ_CHECK(rc == SU_OK || rc == SU_EINTEGRITY);
    if (flags & 8) {
        st_audit_in in = {.op = SS_OP_SIGN,
                          .outcome = SS_OUT_DENIED,
                          .label = "fuzz",
                          .reason = "fuzz",
                          .digest = "sha256"};
        rc = st_audit_log(S, &in, &e);
        FZ_CHECK(rc == SU_OK || rc == SU_EINTEGRITY);
    }
    return 0;
}
