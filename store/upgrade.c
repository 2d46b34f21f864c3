/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every login checks, and the format upgrade it runs first.
 *
 * Format 1 (sealhsm before the integrity round of docs/security.md) bound key
 * records to the audit head but not the label index, settings, PIN slots or
 * officers, and had no clock floor. A format 1 keystore is upgraded in place at
 * the first login with a key (or `sealhsm upgrade`): its head and freshness tree
 * are checked under the format 1 rules, then the tree is rebuilt with the label
 * index, the list of settings, slots and officers is recorded, and the head is
 * rewritten in the format 2 layout, all in one transaction with its own audit
 * record. The audit chain is kept as it is.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static int read_format(ss_store *s, MDB_txn *txn, uint32_t *fmt, ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_META, "format", 6, &v, e);
    if (rc == SU_OK && v.mv_size == 4)
        *fmt = su_get_be32(v.mv_data);
    else if (rc == SU_OK || rc == SU_ENOTFOUND)
        rc = su_err(e, SU_EINTEGRITY, "keystore %s: bad format version", s->path);
    return rc;
}

int st_upgrade_in(ss_store *s, MDB_txn *txn, ss_error *e) {
    uint32_t from = 0;
    int rc = read_format(s, txn, &from, e);
    if (rc != SU_OK || from >= ST_FORMAT_VERSION) {
        if (rc == SU_OK)
            s->format = from;
        return rc;
    }
    s->format = from;
    /* nothing unchecked is carried over: the old head and tree must be intact */
    rc = st_fresh_verify_all(s, txn, e);
    if (rc == SU_OK) {
        unsigned char b[4];
        su_be32(b, ST_FORMAT_VERSION);
        s->format = ST_FORMAT_VERSION;
        rc = st_put(s, txn, ST_DB_META, "format", 6, b, 4, e);
    }
    if (rc == SU_OK)
        rc = st_fresh_rebuild(s, txn, e);
    if (rc == SU_OK)
        rc = st_fresh_global_update(s, txn, e);
    if (rc == SU_OK)
        rc = st_audit_head_upgrade(s, txn, e);
    if (rc == SU_OK) {
        char reason[96];
        snprintf(reason, sizeof(reason), "keystore format upgraded from %u to %u", from,
                 ST_FORMAT_VERSION);
        st_audit_in in = {.op = SS_OP_INIT, .outcome = SS_OUT_OK, .reason = reason};
        rc = st_audit_append(s, txn, &in, e);
    }
    if (rc != SU_OK)
        s->format = from;
    return rc;
}

int st_upgrade(ss_store *s, ss_error *e) {
    MDB_txn *txn;
    int rc = st_txn(s, 1, &txn, e);
    if (rc != SU_OK)
        return rc;
    uint32_t before = s->format;
    rc = st_upgrade_in(s, txn, e);
    if (rc == SU_OK && s->format != before)
        return st_commit(s, txn, e);
    mdb_txn_abort(txn);
    return rc;
}

int st_login_check(ss_store *s, ss_error *e) {
    int rc = s->format < ST_FORMAT_VERSION ? st_upgrade(s, e) : SU_OK;
    MDB_txn *txn;
    if (rc == SU_OK)
        rc = st_txn(s, 0, &txn, e);
    if (rc != SU_OK)
        return rc;
    uint32_t fmt = 0;
    rc = read_format(s, txn, &fmt, e);
    if (rc == SU_OK && fmt != s->format) /* upgraded by another process meanwhile */
        s->format = fmt;
    if (rc == SU_OK)
        rc = st_fresh_global_check(s, txn, e);
    if (rc == SU_OK)
        rc = st_audit_pending_check(s, txn, e);
    mdb_txn_abort(txn);
    return rc;
}

uint32_t ss_format(const ss_store *s) {
    return s->format;
}
