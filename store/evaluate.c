/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sign-time evaluation of one key and one request (docs/reference.md, Policy): the
 * same sequence for ss_sign's first look and for the committer's authoritative check, so
 * the order of the rules, and so which refusal wins, is written once.
 */
#include "internal.h"

int st_sign_eval(ss_store *s, MDB_txn *txn, st_eval_mode mode, int64_t floor_ms,
                 const ss_keyinfo *k, const ss_sign_req *req, int64_t now, st_usage *u,
                 ss_error *e) {
    st_activation a;
    int rc = SU_OK;
    if (mode == ST_EVAL_COMMIT) {
        rc = st_fresh_check(s, txn, k, e);
        if (rc == SU_OK)
            rc = st_clock_rule(k, now, floor_ms, e);
    } else if (k->policy.audit_batched) {
        /* batched keys release before the commit: the clock rule must hold here (the
         * commit checks it for the others) */
        rc = st_clock_check(s, txn, k, now, e);
    }
    if (rc == SU_OK)
        rc = st_usage_load(s, txn, k, u, e);
    if (rc == SU_OK)
        rc = st_activation_load(s, txn, k, &a, e);
    if (rc == SU_OK)
        rc = st_policy_check_static(s, k, req, now, e);
    if (rc == SU_OK)
        rc = st_policy_check_activation(k, &a, now, e);
    if (rc == SU_OK)
        rc = st_policy_check_counters(k, u, now, e);
    return rc;
}
