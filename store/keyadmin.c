/* SPDX-License-Identifier: Apache-2.0 */
/* Administering keys (SO verbs): policy, key PIN reset, state, destroy; keys.c creates them. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The end of a change to a key's sealed attributes (policy, key PIN): reseals der (unsealed
 * before the change) under r's new AAD and stores the record. Frees der in any case. */
static int reseal_store(ss_store *s, MDB_txn *txn, st_keyrec *r, int rc, unsigned char *der,
                        size_t derlen, ss_error *e) {
    if (rc == SU_OK)
        rc = st_keyrec_seal(s, r, der, derlen, e);
    if (der != NULL)
        OPENSSL_secure_clear_free(der, derlen);
    if (rc == SU_OK)
        rc = st_key_store(s, txn, r, e);
    return rc;
}

/* Opens a write transaction with the key loaded, for the SO verbs below. */
static int begin_key_change(ss_store *s, const char *label, const char *what, MDB_txn **txn,
                            st_keyrec *r, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_SO, what, e);
    if (rc == SU_OK)
        rc = st_label_valid(label, e);
    if (rc == SU_OK)
        rc = st_txn(s, 1, txn, e);
    if (rc != SU_OK)
        return rc;
    rc = st_key_load(s, *txn, label, NULL, r, e);
    if (rc == SU_OK && r->info.state == SS_STATE_DESTROYED) {
        st_keyrec_clear(r);
        rc = su_err(e, SU_ENOTFOUND, "key %s was destroyed", label);
    } else if (rc == SU_OK && (rc = st_fresh_check(s, *txn, &r->info, e)) != SU_OK) {
        st_keyrec_clear(r); /* a change must not fold older records into the tree */
    }
    if (rc != SU_OK)
        mdb_txn_abort(*txn);
    return rc;
}

/* A revoked key takes no change but destroy: revocation is final. */
static int refuse_revoked(const st_keyrec *r, const char *label, ss_error *e) {
    if (r->info.state != SS_STATE_REVOKED)
        return SU_OK;
    return su_err(e, SU_EPOLICY, "policy: key %s: key is revoked, and revocation is final", label);
}

static int end_key_change(ss_store *s, MDB_txn *txn, st_keyrec *r, int rc, ss_error *e) {
    rc = st_finish(s, txn, rc, e);
    st_keyrec_clear(r);
    return rc;
}

int ss_key_set_policy(ss_store *s, const char *label, const ss_policy *p, const su_pin *key_pin,
                      ss_error *e) {
    MDB_txn *txn;
    st_keyrec r;
    ss_keyspec spec = {.label = label, .policy = *p};
    int rc = st_keyspec_check(s, &spec, "changing a policy", e);
    if (rc == SU_OK)
        rc = st_quorum_check_approvals(s, p->approvals, label, e);
    if (rc == SU_OK)
        rc = begin_key_change(s, label, "changing a policy", &txn, &r, e);
    if (rc != SU_OK)
        return rc;
    unsigned char *der = NULL;
    size_t derlen = 0;
    rc = refuse_revoked(&r, label, e);
    if (rc == SU_OK && r.info.policy.approvals > 0) {
        st_activation a;
        rc = st_fresh_check(s, txn, &r.info, e);
        if (rc == SU_OK)
            rc = st_activation_load(s, txn, &r.info, &a, e);
        if (rc == SU_OK)
            rc = st_policy_check_activation(&r.info, &a, su_now(), e);
        if (rc == SU_EPOLICY) {
            st_audit_in in = {.op = SS_OP_POLICY,
                              .outcome = SS_OUT_DENIED,
                              .key_id = r.info.id,
                              .label = label,
                              .reason = e ? e->msg : "approvals missing"};
            ss_error ignore;
            if (st_audit_append(s, txn, &in, &ignore) == SU_OK)
                st_commit(s, txn, &ignore);
            else
                mdb_txn_abort(txn);
            st_keyrec_clear(&r);
            return SU_EPOLICY;
        }
    }
    if (rc == SU_OK && p->approvals < r.info.policy.approvals &&
        (rc = st_quorum_require(s, txn, "lowering --approvals", e)) == SU_EPOLICY) {
        mdb_txn_abort(txn);
        st_keyrec_clear(&r);
        st_quorum_denied(s, SS_OP_POLICY, e);
        return rc;
    }
    if (rc == SU_OK)
        rc = st_keyrec_unseal(s, &r, &der, &derlen, e);
    /* an activation granted under a smaller quorum does not outlive a larger one */
    int raised = rc == SU_OK && p->approvals > r.info.policy.approvals, ended = 0;
    if (rc == SU_OK) {
        r.info.policy = *p;
        if (!p->key_pin)
            r.has_kpin = 0;
        else if (key_pin != NULL || !r.has_kpin)
            rc = st_kpin_make(s, txn, &r, key_pin, e);
    }
    rc = reseal_store(s, txn, &r, rc, der, derlen, e);
    if (rc == SU_OK && raised)
        rc = st_activation_end(s, txn, &r.info, &ended, e);
    if (rc == SU_OK) {
        char reason[120] = "policy changed, digest ";
        unsigned char dg[32];
        if (ss_policy_digest(p, dg, NULL) == SU_OK)
            su_hex(reason + strlen(reason), dg, 16);
        if (ended)
            strcat(reason, "; activation ended (more approvals needed)");
        rc = st_key_audit(s, txn, SS_OP_POLICY, SS_OUT_OK, &r.info, reason, e);
    }
    return end_key_change(s, txn, &r, rc, e);
}

int ss_pin_reset_key(ss_store *s, const char *label, const su_pin *new_pin, ss_error *e) {
    MDB_txn *txn;
    st_keyrec r;
    int rc = begin_key_change(s, label, "resetting a key PIN", &txn, &r, e);
    if (rc != SU_OK)
        return rc;
    unsigned char *der = NULL;
    size_t derlen = 0;
    rc = refuse_revoked(&r, label, e);
    if (rc == SU_OK && !r.info.policy.key_pin)
        rc = su_err(e, SU_EUSAGE, "key %s has no key PIN (its policy has no --key-pin)", label);
    else if (rc == SU_OK && new_pin == NULL)
        rc = su_err(e, SU_ENOPIN, "key %s: no new key PIN", label);
    /* the verifier is bound to the sealed record (AAD): reseal with the new one */
    if (rc == SU_OK)
        rc = st_keyrec_unseal(s, &r, &der, &derlen, e);
    if (rc == SU_OK)
        rc = st_kpin_make(s, txn, &r, new_pin, e);
    rc = reseal_store(s, txn, &r, rc, der, derlen, e);
    if (rc == SU_OK)
        rc = st_kpin_tries_clear(s, txn, &r.info, e);
    if (rc == SU_OK)
        rc = st_key_audit(s, txn, SS_OP_PIN, SS_OUT_OK, &r.info,
                          "key PIN reset by the SO; key PIN lockout cleared", e);
    return end_key_change(s, txn, &r, rc, e);
}

int ss_key_set_state(ss_store *s, const char *label, ss_state st, const char *reason, ss_error *e) {
    MDB_txn *txn;
    st_keyrec r;
    if (st != SS_STATE_ACTIVE && st != SS_STATE_DISABLED && st != SS_STATE_REVOKED)
        return su_err(e, SU_EUSAGE, "key %s: use destroy to destroy a key", label);
    if (reason != NULL && strlen(reason) > SS_REASON_MAX)
        return su_err(e, SU_EUSAGE, "key %s: reason longer than %d bytes", label, SS_REASON_MAX);
    int rc = begin_key_change(s, label, "changing a key's state", &txn, &r, e);
    if (rc != SU_OK)
        return rc;
    rc = refuse_revoked(&r, label, e);
    char *nr = rc == SU_OK ? strdup(reason ? reason : "") : NULL;
    if (rc == SU_OK && nr == NULL)
        rc = su_err(e, SU_EIO, "out of memory");
    if (rc == SU_OK) {
        free(r.info.state_reason);
        r.info.state_reason = nr;
        r.info.state = st;
        r.info.state_time = su_now();
        rc = st_key_store(s, txn, &r, e);
    }
    if (rc == SU_OK) {
        char why[SS_REASON_MAX + 32];
        snprintf(why, sizeof(why), "%s%s%s", ss_state_name(st), nr[0] ? ": " : "", nr);
        rc = st_key_audit(s, txn, SS_OP_STATE, SS_OUT_OK, &r.info, why, e);
    }
    return end_key_change(s, txn, &r, rc, e);
}

/*
 * LMDB is copy-on-write: the pages that held the sealed record stay in the file as
 * free pages after the tombstone is written. A compacting copy writes live pages
 * only; it replaces data.mdb atomically, so no file of the keystore keeps them.
 */
static int compact(ss_store *s, ss_error *e) {
    char tmp[PATH_MAX], data[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/data.mdb.compact", s->path);
    snprintf(data, sizeof(data), "%s/data.mdb", s->path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return su_err(e, SU_EIO, "keystore %s: cannot create %s: %s", s->path, tmp,
                      strerror(errno));
    int mrc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    int synced = mrc == 0 && fsync(fd) == 0;
    close(fd);
    if (!synced) {
        unlink(tmp);
        return mrc ? st_mdb_err(s, mrc, "compacting", e)
                   : su_err(e, SU_EIO, "keystore %s: cannot sync %s", s->path, tmp);
    }
    if (rename(tmp, data) != 0) {
        unlink(tmp);
        return su_err(e, SU_EIO, "keystore %s: cannot replace data.mdb: %s", s->path,
                      strerror(errno));
    }
    int dfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return st_env_reopen(s, e);
}

int ss_key_destroy(ss_store *s, const char *label, ss_error *e) {
    MDB_txn *txn;
    st_keyrec r;
    int rc = st_require_role(s, SS_ROLE_SO, "destroying a key", e);
    if (rc == SU_OK)
        rc = st_env_exclusive(s, e);
    if (rc == SU_OK)
        rc = begin_key_change(s, label, "destroying a key", &txn, &r, e);
    if (rc != SU_OK)
        return rc;
    OPENSSL_cleanse(r.sealed, r.sealed_len);
    OPENSSL_free(r.sealed);
    r.sealed = NULL;
    r.sealed_len = 0;
    memset(r.nonce, 0, sizeof(r.nonce));
    r.has_kpin = 0;
    r.info.state = SS_STATE_DESTROYED;
    r.info.state_time = su_now();
    rc = st_key_store(s, txn, &r, e);
    if (rc == SU_OK)
        rc = st_del(s, txn, ST_DB_CERTS, r.info.id, SS_KEY_ID_LEN, e);
    if (rc == SU_OK)
        rc = st_del(s, txn, ST_DB_ACTIVATIONS, r.info.id, SS_KEY_ID_LEN, e);
    if (rc == SU_OK)
        rc = st_fresh_update(s, txn, r.info.id, e);
    if (rc == SU_OK)
        rc = st_key_audit(s, txn, SS_OP_STATE, SS_OUT_OK, &r.info, "destroyed (zeroized)", e);
    rc = end_key_change(s, txn, &r, rc, e);
    if (rc == SU_OK) {
        rc = compact(s, e);
        if (rc != SU_OK && e != NULL) {
            char why[sizeof(e->msg)];
            snprintf(why, sizeof(why), "%s", e->msg);
            su_err(e, rc,
                   "key %s was destroyed, but compacting failed (%s): freed pages may "
                   "keep its sealed bytes until the next destroy",
                   label, why);
        }
    }
    return rc;
}
