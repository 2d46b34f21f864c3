/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The clock floor. Validity windows, activation TTLs and rates read the clock of
 * the process that signs; in embedded mode that process chooses it (libfaketime,
 * a container's clock). The audit head keeps the latest time an authenticated
 * record was written (audit_head.c); a clock more than 5 minutes behind it is refused:
 * signatures with the policy rule `clock`, other changes outright. After a genuine
 * correction of the clock the SO re-baselines with `sealhsm clock accept`
 * (clock_accept.c).
 */
#include "internal.h"

#include <stdio.h>

#define SLACK_MS (5 * 60 * 1000)

bool st_clock_is_behind(int64_t now_ms, int64_t floor_ms) {
    return now_ms < floor_ms - SLACK_MS;
}

int st_clock_refusal(ss_store *s, int64_t now_ms, int64_t floor_ms, ss_error *e) {
    char now[32], floor[32];
    su_format_time(now_ms / 1000, now);
    su_format_time(floor_ms / 1000, floor);
    return su_err(e, SU_EPOLICY,
                  "clock: this clock reads %s, more than 5 minutes before the latest time "
                  "keystore %s recorded (%s): correct the clock, or have the SO run "
                  "'sealhsm clock accept'",
                  now, s->path, floor);
}

int st_clock_rule(const ss_keyinfo *k, int64_t now, int64_t floor_ms, ss_error *e) {
    if (!st_clock_is_behind(now * 1000, floor_ms))
        return SU_OK;
    char t[32], f[32];
    su_format_time(now, t);
    su_format_time(floor_ms / 1000, f);
    return su_err(e, SU_EPOLICY,
                  "policy: key %s: clock: this clock reads %s, more than 5 minutes before the "
                  "latest time the keystore recorded (%s)",
                  k->label, t, f);
}

int st_clock_check(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, int64_t now, ss_error *e) {
    int64_t floor_ms;
    int rc = st_audit_head_state(s, txn, NULL, &floor_ms, e);
    return rc == SU_OK ? st_clock_rule(k, now, floor_ms, e) : rc;
}
