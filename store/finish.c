/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The end of a verb's write transaction: commit what succeeded, abort what did not,
 * and audit the event in the same transaction, so a change is never durable without
 * its record (docs/security.md).
 */
#include "internal.h"

int st_finish(ss_store *s, MDB_txn *txn, int rc, ss_error *e) {
    if (rc != SU_OK) {
        mdb_txn_abort(txn);
        return rc;
    }
    return st_commit(s, txn, e);
}

int st_finish_audited(ss_store *s, MDB_txn *txn, int rc, const st_audit_in *in, ss_error *e) {
    if (rc == SU_OK)
        rc = st_audit_append(s, txn, in, e);
    return st_finish(s, txn, rc, e);
}
