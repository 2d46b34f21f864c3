/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sealhsm clock accept` (docs/reference.md): the SO re-baselines the clock floor
 * (clock.c) after a genuine correction of the clock, with an audit record whose
 * append moves the floor to now. Above the audit append, which clock.c is below.
 */
#include "internal.h"

#include <stdio.h>

int ss_clock_accept(ss_store *s, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_SO, "accepting the clock", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    int64_t floor_ms = 0;
    if ((rc = st_txn(s, 1, &txn, e)) != SU_OK)
        return rc;
    rc = st_audit_head_state(s, txn, NULL, &floor_ms, e);
    char reason[128], was[32], now[32];
    su_format_time(floor_ms / 1000, was);
    su_format_time(su_now(), now);
    snprintf(reason, sizeof(reason), "clock accepted: latest recorded time moved from %s to %s",
             was, now);
    s->clock_rebase = 1;
    st_audit_in in = {.op = SS_OP_STATE, .outcome = SS_OUT_OK, .reason = reason};
    if (rc == SU_OK)
        rc = st_audit_append(s, txn, &in, e);
    s->clock_rebase = 0;
    if (rc != SU_OK) {
        mdb_txn_abort(txn);
        return rc;
    }
    return st_commit(s, txn, e);
}
