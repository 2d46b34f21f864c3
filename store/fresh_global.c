/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Freshness of the keystore-wide state: the settings (format, id, PIN-try limit,
 * syslog, officer quorum, label), the SO and user PIN slots, the admin activation, the
 * attestation key and every officer's PIN slot. Their MACs or GCM tags show that
 * a copy was written by sealhsm, not that it is the latest one: an older user
 * slot opens with the PIN before `pin change`, a removed officer's slot still
 * holds the master key. So the list of their digests is kept in meta "f/g":
 *
 *   entry   = u8 kind ('m' meta, 'o' officer) | u32 len | name | SHA-256(value)
 *             (32 zero bytes for an absent meta entry)
 *   f/g     = the entries, fixed meta names first, then officers in name order
 *   digest  = SHA-256("g" | f/g)         carried in the MACed audit head
 *
 * A verb that changes any of them checks the list first, then records the new
 * one (st_fresh_global_update); its audit append moves the head's digest. Any
 * other append leaves the head's digest alone, so a file edit is never blessed.
 * Role PIN-try counters are not here: they are raised before a login, without a key
 * (docs/security.md); a key PIN's counter is in that key's digest (fresh.c).
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static const char *const meta_names[] = {
    "format",  "store_id",  "max_tries",  "syslog",      "quorum", "admin/activation",
    "slot/so", "slot/user", "attest/key", "attest/cert", "label",
};
#define NMETA (sizeof(meta_names) / sizeof(meta_names[0]))

static void put_entry(su_buf *b, char kind, const void *name, size_t nlen,
                      const unsigned char h[32]) {
    su_buf_u8(b, (uint8_t)kind);
    su_buf_bytes(b, name, nlen);
    su_buf_put(b, h, 32);
}

/* The list as the tables hold it now. */
static int current_list(ss_store *s, MDB_txn *txn, su_buf *b, ss_error *e) {
    for (size_t i = 0; i < NMETA; i++) {
        MDB_val v;
        unsigned char h[32] = {0};
        int rc = st_get(s, txn, ST_DB_META, meta_names[i], strlen(meta_names[i]), &v, e);
        if (rc != SU_OK && rc != SU_ENOTFOUND)
            return rc;
        if (rc == SU_OK && !st_sha256(s, v.mv_data, v.mv_size, NULL, 0, h))
            return su_err(e, SU_EIO, "SHA-256 failed");
        put_entry(b, 'm', meta_names[i], strlen(meta_names[i]), h);
    }
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_OFFICERS, &cur, "reading officers", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        unsigned char h[32];
        if (!st_sha256(s, v.mv_data, v.mv_size, NULL, 0, h))
            rc = su_err(e, SU_EIO, "SHA-256 failed");
        else
            put_entry(b, 'o', k.mv_data, k.mv_size, h);
    }
    rc = st_cursor_end(s, cur, rc, mrc, "reading officers", e);
    if (rc == SU_OK && b->failed)
        rc = su_err(e, SU_EIO, "out of memory");
    return rc;
}

typedef struct entry {
    char kind;
    const unsigned char *name;
    size_t nlen;
    const unsigned char *h;
} entry;

static bool next_entry(su_rd *r, entry *en) {
    uint8_t kind;
    if (r->left == 0 || !su_rd_u8(r, &kind) ||
        !su_rd_bytes(r, &en->name, &en->nlen, SS_OFFICER_NAME_MAX + 32) || r->left < 32)
        return false;
    en->kind = (char)kind;
    en->h = r->p;
    su_rd_raw(r, (unsigned char[32]){0}, 32);
    return true;
}

static bool find_entry(const unsigned char *list, size_t n, const entry *want, entry *out) {
    su_rd r;
    su_rd_init(&r, list, n);
    while (next_entry(&r, out))
        if (out->kind == want->kind && out->nlen == want->nlen &&
            memcmp(out->name, want->name, want->nlen) == 0)
            return true;
    return false;
}

static void describe(const entry *en, char *out, size_t n) {
    int len = (int)(en->nlen < 64 ? en->nlen : 64);
    if (en->kind == 'o')
        snprintf(out, n, "the PIN slot of officer %.*s", len, (const char *)en->name);
    else if (en->nlen == 7 && memcmp(en->name, "slot/so", 7) == 0)
        snprintf(out, n, "the SO PIN slot");
    else if (en->nlen == 9 && memcmp(en->name, "slot/user", 9) == 0)
        snprintf(out, n, "the user PIN slot");
    else
        snprintf(out, n, "keystore setting '%.*s'", len, (const char *)en->name);
}

/* The first entry present in a but missing from or different in b. */
static bool first_difference(const unsigned char *a, size_t an, const unsigned char *b, size_t bn,
                             entry *diff) {
    su_rd r;
    entry other;
    su_rd_init(&r, a, an);
    while (next_entry(&r, diff))
        if (!find_entry(b, bn, diff, &other) || CRYPTO_memcmp(other.h, diff->h, 32) != 0)
            return true;
    return false;
}

int st_fresh_global_digest(ss_store *s, MDB_txn *txn, unsigned char out[32], ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_META, "f/g", 3, &v, e);
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_EINTEGRITY,
                      "keystore %s: the list of settings, PIN slots and officers is missing",
                      s->path);
    if (rc == SU_OK && !st_sha256(s, "g", 1, v.mv_data, v.mv_size, out))
        rc = su_err(e, SU_EIO, "SHA-256 failed");
    return rc;
}

int st_fresh_global_check(ss_store *s, MDB_txn *txn, ss_error *e) {
    su_buf cur;
    su_buf_init(&cur, 0);
    MDB_val stored;
    unsigned char want[32], have[32];
    char what[128];
    entry diff;
    int rc = current_list(s, txn, &cur, e);
    if (rc == SU_OK)
        rc = st_get(s, txn, ST_DB_META, "f/g", 3, &stored, e);
    if (rc == SU_ENOTFOUND)
        rc =
            su_err(e, SU_EINTEGRITY,
                   "keystore %s: the list of settings, PIN slots and officers is missing", s->path);
    if (rc == SU_OK &&
        (first_difference(cur.data, cur.len, stored.mv_data, stored.mv_size, &diff) ||
         first_difference(stored.mv_data, stored.mv_size, cur.data, cur.len, &diff))) {
        describe(&diff, what, sizeof(what));
        rc = su_err(e, SU_EINTEGRITY,
                    "keystore %s: %s is not the latest one written (replaced, removed, "
                    "re-inserted or rolled back)",
                    s->path, what);
    }
    if (rc == SU_OK)
        rc = st_fresh_global_digest(s, txn, have, e);
    if (rc == SU_OK)
        rc = st_audit_head_state(s, txn, want, NULL, e);
    if (rc == SU_OK && CRYPTO_memcmp(have, want, 32) != 0)
        rc = su_err(e, SU_EINTEGRITY,
                    "keystore %s: settings, PIN slots and officers do not match the "
                    "authenticated audit head (replaced or rolled back)",
                    s->path);
    su_buf_free(&cur);
    return rc;
}

int st_fresh_global_update(ss_store *s, MDB_txn *txn, ss_error *e) {
    su_buf cur;
    su_buf_init(&cur, 0);
    int rc = current_list(s, txn, &cur, e);
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_META, "f/g", 3, cur.data, cur.len, e);
    if (rc == SU_OK)
        s->global_dirty = 1;
    su_buf_free(&cur);
    return rc;
}
