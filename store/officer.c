/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dual control: officers approve a key; M distinct approvals within the key's
 * activation TTL activate it for that TTL. The record (approvals pending and
 * the live activation) is MACed and bound to the key id, so editing or copying
 * it between keys is detected.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Drops name's pending approvals (name NULL: none) and, with end_live, the live
 * activation; stores the record only if something changed. */
static int withdraw(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, const char *name, int end_live,
                    uint32_t *withdrawn, int *ended, ss_error *e) {
    st_activation a;
    int rc = st_activation_load(s, txn, k, &a, e);
    if (rc != SU_OK)
        return rc;
    uint32_t kept = 0, dropped = 0;
    for (uint32_t i = 0; i < a.napprovals; i++) {
        if (name != NULL && strcmp(a.approvals[i].name, name) == 0)
            dropped++;
        else
            a.approvals[kept++] = a.approvals[i];
    }
    a.napprovals = kept;
    *ended = end_live && a.expires > su_now();
    if (*ended)
        a.expires = 0;
    if (withdrawn != NULL)
        *withdrawn += dropped;
    return dropped > 0 || *ended ? st_activation_store(s, txn, k->id, &a, e) : SU_OK;
}

int st_activation_end(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, int *ended, ss_error *e) {
    return withdraw(s, txn, k, NULL, 1, NULL, ended, e);
}

int st_officer_withdraw(ss_store *s, MDB_txn *txn, const char *name, uint32_t *withdrawn,
                        uint32_t *ended, ss_error *e) {
    *withdrawn = *ended = 0;
    /* the ids first: the records are rewritten below, under the same transaction */
    MDB_cursor *cur;
    int rc = st_cursor(s, txn, ST_DB_ACTIVATIONS, &cur, "reading approvals", e);
    if (rc != SU_OK)
        return rc;
    unsigned char(*ids)[SS_KEY_ID_LEN] = NULL;
    size_t n = 0;
    MDB_val k, v;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != SS_KEY_ID_LEN)
            continue;
        void *grown = realloc(ids, (n + 1) * sizeof(*ids));
        if (grown == NULL)
            rc = su_err(e, SU_EIO, "out of memory");
        else {
            ids = grown;
            memcpy(ids[n++], k.mv_data, SS_KEY_ID_LEN);
        }
    }
    rc = st_cursor_end(s, cur, rc, mrc, "reading approvals", e);
    for (size_t i = 0; i < n && rc == SU_OK; i++) {
        st_keyrec r;
        int live = 0;
        if ((rc = st_key_load(s, txn, NULL, ids[i], &r, e)) != SU_OK)
            break;
        rc = withdraw(s, txn, &r.info, name, 1, withdrawn, &live, e);
        *ended += (uint32_t)live;
        st_keyrec_clear(&r);
    }
    free(ids);
    return rc;
}

int ss_approve(ss_store *s, const char *label, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_OFFICER, "approving a key", e);
    if (rc == SU_OK)
        rc = st_label_valid(label, e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    st_keyrec r;
    st_activation a;
    rc = st_key_open(s, 1, label, &txn, &r, e);
    if (txn == NULL)
        return rc;
    const ss_keyinfo *k = &r.info;
    if (rc == SU_OK && k->state == SS_STATE_REVOKED)
        rc = su_err(e, SU_EPOLICY, "policy: key %s: key is revoked", label);
    else if (rc == SU_OK && k->policy.approvals == 0)
        rc = su_err(e, SU_EUSAGE, "key %s does not require approvals", label);
    if (rc == SU_OK)
        rc = st_fresh_check(s, txn, k, e);
    if (rc == SU_OK)
        rc = st_activation_load(s, txn, k, &a, e);
    char reason[160];
    if (rc == SU_OK) {
        int64_t now = su_now();
        a.napprovals = st_approvals_renew(s, txn, a.approvals, a.napprovals,
                                          (int64_t)k->policy.activation_ttl, now, NULL);
        if (a.napprovals >= k->policy.approvals) {
            a.expires = now + (int64_t)k->policy.activation_ttl;
            a.napprovals = 0;
            char until[32];
            su_format_time(a.expires, until);
            snprintf(reason, sizeof(reason), "approved by %s; key activated until %s", s->officer,
                     until);
        } else {
            snprintf(reason, sizeof(reason), "approved by %s (%u of %u)", s->officer, a.napprovals,
                     k->policy.approvals);
        }
        rc = st_activation_store(s, txn, k->id, &a, e);
    }
    st_audit_in in = {.op = SS_OP_APPROVE,
                      .outcome = SS_OUT_OK,
                      .key_id = k->id,
                      .label = label,
                      .reason = reason};
    rc = st_finish_audited(s, txn, rc, &in, e);
    st_keyrec_clear(&r);
    return rc;
}
