/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Master-key rotation (`sealhsm rekey`). The freshness tree and the settings list
 * tie every record to the audit head, but an old copy of a PIN slot still holds
 * the master key: whoever knows an old PIN, or the PIN of a removed officer, can
 * unwrap it from a copy of the file. A new master key ends that. Everything
 * sealed or MACed under the old one is redone in one transaction: key records
 * (unsealed and sealed again), counters, approvals, certificate records, the
 * attestation key, every audit MAC and the head; the SO and user slots are
 * rewrapped with their PINs, officer slots with the PINs their officers give,
 * and the other officers are removed. No process may have the keystore open: it
 * would go on writing under the old keys.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key's records, read under the old keys. */
typedef struct held_key {
    st_keyrec r;
    unsigned char *der; /* secure heap; NULL once destroyed */
    size_t derlen;
    st_usage u;
    int has_usage;
    st_activation a;
    ss_blob *chain;
    size_t nchain;
} held_key;

typedef struct held {
    held_key *keys;
    size_t n, cap;
    EVP_PKEY *attest;
    unsigned char *attest_cert;
    size_t attest_certlen;
} held;

static void held_free(held *h) {
    for (size_t i = 0; i < h->n; i++) {
        held_key *k = &h->keys[i];
        if (k->der != NULL)
            OPENSSL_secure_clear_free(k->der, k->derlen);
        ss_blobs_free(k->chain, k->nchain);
        st_keyrec_clear(&k->r);
    }
    free(h->keys);
    EVP_PKEY_free(h->attest);
    OPENSSL_free(h->attest_cert);
    memset(h, 0, sizeof(*h));
}

static int hold_keys(ss_store *s, MDB_txn *txn, held *h, ss_error *e) {
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_KEYS, &cur, "reading keys", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (h->n == h->cap) {
            size_t cap = h->cap ? 2 * h->cap : 16;
            held_key *g = realloc(h->keys, cap * sizeof(*g));
            if (g == NULL) {
                rc = su_err(e, SU_EIO, "out of memory");
                break;
            }
            h->keys = g;
            h->cap = cap;
        }
        held_key *hk = &h->keys[h->n];
        memset(hk, 0, sizeof(*hk));
        if (k.mv_size != SS_KEY_ID_LEN) {
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: malformed key id", s->path);
            break;
        }
        if ((rc = st_key_load(s, txn, NULL, k.mv_data, &hk->r, e)) != SU_OK)
            break;
        h->n++;
        const ss_keyinfo *ki = &hk->r.info;
        if (hk->r.sealed_len > 0)
            rc = st_keyrec_unseal(s, &hk->r, &hk->der, &hk->derlen, e);
        MDB_val uv;
        hk->has_usage = st_get(s, txn, ST_DB_USAGE, ki->id, SS_KEY_ID_LEN, &uv, NULL) == SU_OK;
        if (rc == SU_OK && hk->has_usage)
            rc = st_usage_load(s, txn, ki, &hk->u, e);
        if (rc == SU_OK)
            rc = st_activation_load(s, txn, ki, &hk->a, e);
        if (rc == SU_OK)
            rc = st_certs_load(s, txn, ki->id, &hk->chain, &hk->nchain, e);
    }
    mdb_cursor_close(cur);
    if (rc == SU_OK && mrc != MDB_NOTFOUND)
        rc = st_mdb_err(s, mrc, "reading keys", e);
    return rc;
}

static int store_keys(ss_store *s, MDB_txn *txn, held *h, ss_error *e) {
    int rc = SU_OK;
    for (size_t i = 0; i < h->n && rc == SU_OK; i++) {
        held_key *hk = &h->keys[i];
        const unsigned char *id = hk->r.info.id;
        MDB_val av;
        if (hk->der != NULL)
            rc = st_keyrec_seal(s, &hk->r, hk->der, hk->derlen, e);
        if (rc == SU_OK)
            rc = st_key_store(s, txn, &hk->r, e);
        if (rc == SU_OK && hk->has_usage)
            rc = st_usage_store(s, txn, id, &hk->u, e);
        if (rc == SU_OK && st_get(s, txn, ST_DB_ACTIVATIONS, id, SS_KEY_ID_LEN, &av, NULL) == SU_OK)
            rc = st_activation_store(s, txn, id, &hk->a, e);
        if (rc == SU_OK && hk->nchain > 0)
            rc = st_certs_store(s, txn, id, hk->chain, hk->nchain, e);
    }
    if (rc == SU_OK && h->attest != NULL)
        rc = st_attest_key_store(s, txn, h->attest, h->attest_cert, h->attest_certlen, e);
    return rc;
}

static int load_slot_raw(ss_store *s, MDB_txn *txn, int db, const char *key, st_slot *slot,
                         const char *who, ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, db, key, strlen(key), &v, e);
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_EINTEGRITY, "keystore %s: the PIN slot of %s is missing", s->path, who);
    if (rc == SU_OK && !st_slot_decode(v.mv_data, v.mv_size, slot))
        rc = su_err(e, SU_EINTEGRITY, "keystore %s: the PIN slot of %s is corrupt", s->path, who);
    return rc;
}

/* The slot must open with pin and hold the current master key. */
static int check_pin(ss_store *s, const st_slot *slot, const su_pin *pin, const char *who,
                     ss_error *e) {
    unsigned char *mk = OPENSSL_secure_zalloc(ST_KEY_LEN);
    if (mk == NULL)
        return su_err(e, SU_EIO, "out of secure memory");
    int rc = pin == NULL ? SU_EPIN : st_slot_open(s, slot, pin, mk, e);
    if (rc == SU_OK && CRYPTO_memcmp(mk, s->mk, ST_KEY_LEN) != 0)
        rc = SU_EPIN; /* a slot of another master key */
    if (rc == SU_EPIN)
        rc = su_err(e, SU_EPIN, "wrong PIN for %s", who);
    OPENSSL_secure_clear_free(mk, ST_KEY_LEN);
    return rc;
}

/* Rewraps slot (kept parameters) with pin under the session's new master key. */
static int rewrap(ss_store *s, MDB_txn *txn, const st_slot *old, const su_pin *pin, ss_error *e) {
    st_slot slot;
    int rc = st_slot_make(s, (ss_role)old->role, old->role == SS_ROLE_OFFICER ? old->name : NULL,
                          s->mk, pin, old->m_kib, old->t, old->p, &slot, e);
    if (rc == SU_OK)
        rc = st_put_slot(s, txn, &slot, e);
    OPENSSL_cleanse(&slot, sizeof(slot));
    return rc;
}

static const su_pin *officer_pin(const ss_officer_pin *off, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(off[i].name, name) == 0)
            return off[i].pin;
    return NULL;
}

/* Officers: rewrapped with their PINs (checked first), or removed. */
static int officers(ss_store *s, MDB_txn *txn, const ss_officer_pin *off, size_t n, int rewrite,
                    ss_rekey_report *rep, ss_error *e) {
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_OFFICERS, &cur, "reading officers", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k, v;
    char(*gone)[SS_OFFICER_NAME_MAX + 1] = NULL;
    size_t ngone = 0;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        st_slot slot;
        char who[SS_OFFICER_NAME_MAX + 16];
        if (!st_slot_decode(v.mv_data, v.mv_size, &slot) || slot.role != SS_ROLE_OFFICER ||
            k.mv_size != strlen(slot.name) || memcmp(k.mv_data, slot.name, k.mv_size) != 0) {
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: an officer's PIN slot is corrupt", s->path);
            break;
        }
        snprintf(who, sizeof(who), "officer %s", slot.name);
        const su_pin *pin = officer_pin(off, n, slot.name);
        if (pin != NULL && !rewrite) {
            rc = check_pin(s, &slot, pin, who, e);
            rep->officers_kept++;
        } else if (pin != NULL) {
            rc = rewrap(s, txn, &slot, pin, e);
        } else if (rewrite) {
            char(*grown)[SS_OFFICER_NAME_MAX + 1] = realloc(gone, (ngone + 1) * sizeof(*gone));
            if (grown == NULL) {
                rc = su_err(e, SU_EIO, "out of memory");
            } else {
                gone = grown; /* removed after the walk, not under the cursor */
                memcpy(gone[ngone++], slot.name, sizeof(slot.name));
            }
        } else {
            rep->officers_removed++;
        }
        OPENSSL_cleanse(&slot, sizeof(slot));
    }
    mdb_cursor_close(cur);
    if (rc == SU_OK && mrc != MDB_NOTFOUND)
        rc = st_mdb_err(s, mrc, "reading officers", e);
    for (size_t i = 0; rc == SU_OK && i < ngone; i++) {
        char key[128];
        rc = st_del(s, txn, ST_DB_OFFICERS, gone[i], strlen(gone[i]), e);
        st_slot_key(key, sizeof(key), "tries", SS_ROLE_OFFICER, gone[i]);
        if (rc == SU_OK)
            rc = st_del(s, txn, ST_DB_META, key, strlen(key), e);
    }
    free(gone);
    for (size_t i = 0; rc == SU_OK && !rewrite && i < n; i++) {
        MDB_val ov;
        if (st_get(s, txn, ST_DB_OFFICERS, off[i].name, strlen(off[i].name), &ov, NULL) != SU_OK)
            rc = su_err(e, SU_ENOTFOUND, "officer %s does not exist", off[i].name);
    }
    return rc;
}

static int rekey_in(ss_store *s, MDB_txn *txn, const su_pin *so_pin, const su_pin *user_pin,
                    const ss_officer_pin *off, size_t n, unsigned char *newmk, held *h,
                    ss_rekey_report *rep, ss_error *e) {
    st_slot so, user;
    uint32_t q = 0;
    int rc = st_fresh_global_check(s, txn, e);
    if (rc == SU_OK)
        rc = st_quorum_require(s, txn, "rekey", e);
    if (rc == SU_OK)
        rc = st_quorum_effective(s, txn, NULL, &q, e);
    if (rc == SU_OK)
        rc = load_slot_raw(s, txn, ST_DB_META, "slot/so", &so, "the SO", e);
    if (rc == SU_OK)
        rc = load_slot_raw(s, txn, ST_DB_META, "slot/user", &user, "the user", e);
    if (rc == SU_OK)
        rc = check_pin(s, &so, so_pin, "the SO", e);
    if (rc == SU_OK)
        rc = check_pin(s, &user, user_pin, "the user", e);
    if (rc == SU_OK)
        rc = officers(s, txn, off, n, 0, rep, e);
    if (rc == SU_OK && rep->officers_kept < q)
        rc = su_err(e, SU_EPOLICY,
                    "policy: rekey would keep %llu officers, fewer than the quorum of %u: the "
                    "officers must give their PINs (--officer-pin NAME=FILE)",
                    (unsigned long long)rep->officers_kept, q);
    /* everything under the old keys first, checked as it is read */
    if (rc == SU_OK)
        rc = hold_keys(s, txn, h, e);
    if (rc == SU_OK)
        rc = st_attest_key_load(s, txn, &h->attest, &h->attest_cert, &h->attest_certlen, e);
    if (rc == SU_OK)
        rc = st_audit_pending_check(s, txn, e);
    if (rc == SU_OK)
        rc = st_random(s, newmk, ST_KEY_LEN, e);
    if (rc == SU_OK)
        rc = st_session_keys(s, newmk, 1, e);
    if (rc != SU_OK)
        goto out;
    /* under the new keys: the tree as stored was checked by the caller's verify */
    s->fresh_moved = 1;
    rc = rewrap(s, txn, &so, so_pin, e);
    if (rc == SU_OK)
        rc = rewrap(s, txn, &user, user_pin, e);
    if (rc == SU_OK)
        rc = officers(s, txn, off, n, 1, rep, e);
    if (rc == SU_OK) /* an admin activation under the old MAC key is gone with it */
        rc = st_del(s, txn, ST_DB_META, "admin/activation", 16, e);
    if (rc == SU_OK)
        rc = store_keys(s, txn, h, e);
    if (rc == SU_OK)
        rc = st_audit_remac(s, txn, &rep->records, e);
    if (rc == SU_OK)
        rc = st_fresh_global_update(s, txn, e);
    rep->keys = h->n;
    char reason[160];
    snprintf(reason, sizeof(reason),
             "master key rotated: %llu keys resealed, %llu officers rewrapped, %llu removed",
             (unsigned long long)rep->keys, (unsigned long long)rep->officers_kept,
             (unsigned long long)rep->officers_removed);
    st_audit_in in = {.op = SS_OP_PIN, .outcome = SS_OUT_OK, .reason = reason};
    if (rc == SU_OK)
        rc = st_audit_append(s, txn, &in, e);
out:
    OPENSSL_cleanse(&so, sizeof(so));
    OPENSSL_cleanse(&user, sizeof(user));
    return rc;
}

int ss_rekey(ss_store *s, const su_pin *so_pin, const su_pin *user_pin,
             const ss_officer_pin *officers_in, size_t n, ss_rekey_report *report, ss_error *e) {
    ss_rekey_report local;
    if (report == NULL)
        report = &local;
    memset(report, 0, sizeof(*report));
    int rc = st_require_role(s, SS_ROLE_SO, "rekey", e);
    if (rc == SU_OK)
        rc = st_env_exclusive(s, e);
    /* the whole keystore under the old keys first: nothing unchecked is carried over */
    if (rc == SU_OK)
        rc = ss_verify(s, NULL, e);
    if (rc != SU_OK)
        return rc;
    unsigned char *oldmk = OPENSSL_secure_malloc(ST_KEY_LEN);
    unsigned char *newmk = OPENSSL_secure_zalloc(ST_KEY_LEN);
    MDB_txn *txn = NULL;
    held h = {0};
    if (oldmk == NULL || newmk == NULL)
        rc = su_err(e, SU_EIO, "out of secure memory");
    else
        memcpy(oldmk, s->mk, ST_KEY_LEN);
    if (rc == SU_OK)
        rc = st_txn(s, 1, &txn, e);
    if (rc == SU_OK)
        rc = rekey_in(s, txn, so_pin, user_pin, officers_in, n, newmk, &h, report, e);
    if (rc == SU_OK) {
        rc = st_commit(s, txn, e);
        txn = NULL;
    }
    if (txn != NULL)
        mdb_txn_abort(txn);
    held_free(&h);
    if (rc != SU_OK && oldmk != NULL) {
        ss_error ignore;
        st_session_keys(s, oldmk, 1, &ignore); /* the session goes on under the old keys */
    }
    pthread_mutex_lock(&s->fresh_mu);
    s->fresh_have_root = 0; /* roots noted under the old keys' records */
    s->fresh_n = 0;
    pthread_mutex_unlock(&s->fresh_mu);
    if (rc == SU_EPOLICY)
        st_quorum_denied(s, SS_OP_PIN, e);
    if (oldmk != NULL)
        OPENSSL_secure_clear_free(oldmk, ST_KEY_LEN);
    if (newmk != NULL)
        OPENSSL_secure_clear_free(newmk, ST_KEY_LEN);
    return rc;
}
