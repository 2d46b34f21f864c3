/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sealhsm verify`: the whole keystore, not just what one command touches. Every
 * key record, its counters, approvals and certificates against their MACs; every
 * entry of the label index and of the per-key tables against the key it belongs
 * to; the PIN slots, officers and admin activation; the freshness tree and the
 * list of settings against the authenticated head; then the audit log.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* A key id that keys a per-key table must name a key record. */
static int check_orphans(ss_store *s, MDB_txn *txn, int db, const char *what, ss_error *e) {
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, db, &cur, "verifying", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        MDB_val rec;
        char name[2 * SS_KEY_ID_LEN + 8];
        st_key_name(name, sizeof(name), NULL, k.mv_size == SS_KEY_ID_LEN ? k.mv_data : NULL);
        if (k.mv_size != SS_KEY_ID_LEN ||
            st_get(s, txn, ST_DB_KEYS, k.mv_data, SS_KEY_ID_LEN, &rec, NULL) != SU_OK)
            rc = su_err(e, SU_EINTEGRITY, "%s record of key %s belongs to no key (inserted)", what,
                        name);
    }
    rc = st_cursor_end(s, cur, rc, mrc, "verifying", e);
    return rc;
}

static int check_keys(ss_store *s, MDB_txn *txn, ss_verify_report *r, ss_error *e) {
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_KEYS, &cur, "verifying keys", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        st_keyrec kr;
        st_usage u;
        st_activation a;
        ss_blob *chain = NULL;
        size_t n = 0;
        if (k.mv_size != SS_KEY_ID_LEN) {
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: malformed key id", s->path);
            break;
        }
        if ((rc = st_key_load(s, txn, NULL, k.mv_data, &kr, e)) != SU_OK)
            break;
        rc = st_label_points_here(s, txn, &kr.info, e);
        if (rc == SU_OK)
            rc = st_fresh_key_current(s, txn, &kr.info, e); /* names the key by label */
        if (rc == SU_OK)
            rc = st_usage_load(s, txn, &kr.info, &u, e);
        if (rc == SU_OK)
            rc = st_activation_load(s, txn, &kr.info, &a, e);
        if (rc == SU_OK)
            rc = st_certs_load(s, txn, kr.info.id, &chain, &n, e);
        ss_blobs_free(chain, n);
        st_keyrec_clear(&kr);
        r->keys++;
    }
    rc = st_cursor_end(s, cur, rc, mrc, "verifying keys", e);
    return rc;
}

static int check_labels(ss_store *s, MDB_txn *txn, ss_verify_report *r, ss_error *e) {
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_LABELS, &cur, "verifying labels", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char label[SS_LABEL_MAX + 1];
        st_keyrec kr;
        if (k.mv_size == 0 || k.mv_size > SS_LABEL_MAX) {
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: label index is corrupt", s->path);
            break;
        }
        memcpy(label, k.mv_data, k.mv_size);
        label[k.mv_size] = '\0';
        /* loading by label checks that the record it names carries this label */
        if ((rc = st_key_load(s, txn, label, NULL, &kr, e)) == SU_OK)
            st_keyrec_clear(&kr);
        r->labels++;
    }
    rc = st_cursor_end(s, cur, rc, mrc, "verifying labels", e);
    return rc;
}

static int check_slot(ss_store *s, const MDB_val *v, ss_role role, const char *name,
                      const char *who, ss_error *e) {
    st_slot slot;
    int ok = st_slot_decode(v->mv_data, v->mv_size, &slot) && slot.role == (uint8_t)role &&
             (name == NULL || strcmp(slot.name, name) == 0);
    return ok ? SU_OK
              : su_err(e, SU_EINTEGRITY, "keystore %s: the PIN slot of %s is corrupt", s->path,
                       who);
}

static int check_slots(ss_store *s, MDB_txn *txn, ss_verify_report *r, ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_META, "slot/so", 7, &v, e);
    if (rc == SU_OK)
        rc = check_slot(s, &v, SS_ROLE_SO, NULL, "the SO", e);
    if (rc == SU_OK && (rc = st_get(s, txn, ST_DB_META, "slot/user", 9, &v, e)) == SU_OK)
        rc = check_slot(s, &v, SS_ROLE_USER, NULL, "the user", e);
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_EINTEGRITY, "keystore %s: a role's PIN slot is missing", s->path);
    MDB_cursor *cur;
    if (rc == SU_OK)
        rc = st_cursor(s, txn, ST_DB_OFFICERS, &cur, "verifying officers", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char name[SS_OFFICER_NAME_MAX + 1], who[SS_OFFICER_NAME_MAX + 16];
        size_t n = k.mv_size < SS_OFFICER_NAME_MAX ? k.mv_size : SS_OFFICER_NAME_MAX;
        memcpy(name, k.mv_data, n);
        name[n] = '\0';
        snprintf(who, sizeof(who), "officer %s", name);
        rc = k.mv_size > SS_OFFICER_NAME_MAX
                 ? su_err(e, SU_EINTEGRITY, "keystore %s: officer name too long", s->path)
                 : check_slot(s, &v, SS_ROLE_OFFICER, name, who, e);
        r->officers++;
    }
    rc = st_cursor_end(s, cur, rc, mrc, "verifying officers", e);
    return rc;
}

static bool has_prefix(const MDB_val *k, const char *p) {
    size_t n = strlen(p);
    return k->mv_size > n && memcmp(k->mv_data, p, n) == 0;
}

static bool is_key(const MDB_val *k, const char *name) {
    return k->mv_size == strlen(name) && memcmp(k->mv_data, name, k->mv_size) == 0;
}

/* Every meta entry is one sealhsm writes: the settings and slots (checked by the
 * settings list), the freshness tree (a per-key digest needs its key), the head, and
 * the unauthenticated PIN-try counters and attempt markers (docs/security.md). */
static int check_meta(ss_store *s, MDB_txn *txn, ss_error *e) {
    static const char *const names[] = {
        "format",           "store_id",  "max_tries",  "syslog",      "quorum",
        "slot/so",          "slot/user", "attest/key", "attest/cert", "audit/head",
        "admin/activation", "f/g",       "f/root",     "label"};
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_META, &cur, "verifying", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int known =
            has_prefix(&k, "f/n/") || has_prefix(&k, "tries/") || has_prefix(&k, "pending/");
        for (size_t i = 0; !known && i < sizeof(names) / sizeof(names[0]); i++)
            known = is_key(&k, names[i]);
        MDB_val rec;
        if (!known && k.mv_size == 4 + SS_KEY_ID_LEN && has_prefix(&k, "f/k/")) {
            known = 1;
            if (st_get(s, txn, ST_DB_KEYS, (const char *)k.mv_data + 4, SS_KEY_ID_LEN, &rec,
                       NULL) != SU_OK)
                rc = su_err(e, SU_EINTEGRITY,
                            "keystore %s: a freshness digest names no key (inserted)", s->path);
        }
        if (!known)
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: unknown entry '%.*s' in meta (inserted)",
                        s->path, (int)(k.mv_size < 64 ? k.mv_size : 64), (const char *)k.mv_data);
    }
    rc = st_cursor_end(s, cur, rc, mrc, "verifying", e);
    return rc;
}

int ss_verify(ss_store *s, ss_verify_report *r, ss_error *e) {
    ss_verify_report local;
    if (r == NULL)
        r = &local;
    memset(r, 0, sizeof(*r));
    int rc = st_require_login(s, "verifying the keystore", e);
    MDB_txn *txn;
    if (rc == SU_OK)
        rc = st_txn(s, 0, &txn, e);
    if (rc != SU_OK)
        return rc;
    uint32_t q;
    rc = st_fresh_global_check(s, txn, e);
    if (rc == SU_OK)
        rc = check_meta(s, txn, e);
    if (rc == SU_OK)
        rc = check_slots(s, txn, r, e);
    if (rc == SU_OK)
        rc = st_admin_check(s, txn, e);
    if (rc == SU_OK)
        rc = st_quorum_effective(s, txn, NULL, &q, e);
    if (rc == SU_OK)
        rc = check_keys(s, txn, r, e);
    if (rc == SU_OK)
        rc = check_labels(s, txn, r, e);
    if (rc == SU_OK)
        rc = check_orphans(s, txn, ST_DB_USAGE, "usage", e);
    if (rc == SU_OK)
        rc = check_orphans(s, txn, ST_DB_ACTIVATIONS, "approvals", e);
    if (rc == SU_OK)
        rc = check_orphans(s, txn, ST_DB_CERTS, "certificate", e);
    if (rc == SU_OK)
        rc = st_fresh_verify_all(s, txn, e);
    mdb_txn_abort(txn);
    if (rc == SU_OK)
        rc = ss_audit_verify(s, &r->audit, e);
    return rc;
}
