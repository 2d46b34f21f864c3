/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading and verifying the audit log (docs/reference.md, Audit log; docs/security.md):
 * `audit export` (ss_audit_each) and `audit verify`, which walks every record (on two
 * cores for a long log, docs/bench.md), then checks the head, the freshness tree and
 * the settings it names.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>

int ss_audit_each(ss_store *s, uint64_t since, int (*fn)(const ss_audit_rec *r, void *arg),
                  void *arg, ss_error *e) {
    int rc = st_require_login(s, "reading the audit log", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    MDB_cursor *cur;
    if ((rc = st_read_cursor(s, ST_DB_AUDIT, &txn, &cur, "reading the audit log", e)) != SU_OK)
        return rc;
    int mrc;
    unsigned char k[8];
    su_be64(k, since ? since : 1);
    MDB_val key = {8, k}, v;
    for (mrc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE); mrc == 0;
         mrc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) {
        st_audit_rec r;
        if (key.mv_size != 8 || !st_audit_rec_decode(v.mv_data, v.mv_size, &r)) {
            rc = su_err(e, SU_EINTEGRITY, "audit record %llu is corrupt",
                        key.mv_size == 8 ? (unsigned long long)su_get_be64(key.mv_data) : 0ull);
            break;
        }
        rc = fn(&r.pub, arg);
        st_audit_rec_clear(&r);
        if (rc != 0)
            break;
    }
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        rc = st_mdb_err(s, mrc, "reading the audit log", e);
    st_read_end(txn, cur);
    return rc;
}

#define BAD(n, ...) (r->first_bad = (n), su_err(e, SU_EINTEGRITY, __VA_ARGS__))

/* One hashing and one MAC context for the whole walk: per-record allocations and
 * fetches would dominate a log of millions of records. */
typedef struct walker {
    EVP_MD_CTX *md;
    EVP_MAC_CTX *mac;
} walker;

static bool walk_hash(ss_store *s, walker *w, const unsigned char *content, size_t n,
                      unsigned char out[32]) {
    return EVP_DigestInit_ex2(w->md, s->sha256, NULL) == 1 &&
           EVP_DigestUpdate(w->md, "sealhsm-audit-v1", 16) == 1 &&
           EVP_DigestUpdate(w->md, content, n) == 1 && EVP_DigestFinal_ex(w->md, out, NULL) == 1;
}

static bool walk_mac(walker *w, const unsigned char hash[32], unsigned char out[ST_MAC_LEN]) {
    size_t outl = 0;
    /* a NULL key re-initializes HMAC with the key it already holds */
    return EVP_MAC_init(w->mac, NULL, 0, NULL) == 1 && EVP_MAC_update(w->mac, hash, 32) == 1 &&
           EVP_MAC_final(w->mac, out, &outl, ST_MAC_LEN) == 1 && outl == ST_MAC_LEN;
}

/*
 * A stretch of the log, records from..to (to == 0: to the end), walked with its
 * own read transaction so that two stretches can be checked on two cores. The
 * link into the stretch (its first record's prev_hash) is left to the caller.
 */
typedef struct stretch {
    ss_store *s;
    MDB_txn *txn;
    const st_audit_head *h;
    uint64_t from, to;
    uint64_t walked, next;        /* records checked; the seq expected next */
    int have_first_prev;          /* record `from` was read: first_prev is set */
    int late;                     /* the error came from a check after the chain's */
    unsigned char first_prev[32]; /* prev_hash of record `from` */
    unsigned char last[32];       /* hash of the last record checked */
    ss_audit_report r;
    ss_error e;
    int rc;
} stretch;

static void walk_stretch(stretch *st) {
    ss_store *s = st->s;
    const st_audit_head *h = st->h;
    ss_audit_report *r = &st->r;
    ss_error *e = &st->e;
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, st->txn, ST_DB_AUDIT, &cur, "reading the audit log", e);
    if (rc != SU_OK) {
        st->rc = rc;
        return;
    }
    walker w = {EVP_MD_CTX_new(), EVP_MAC_CTX_dup(s->audit_tmpl)};
    if (w.md == NULL || w.mac == NULL)
        rc = su_err(e, SU_EIO, "out of memory");
    unsigned char prev[32] = {0}, startkey[8]; /* record 1 chains from zeros */
    uint64_t expect = st->from;
    su_be64(startkey, st->from);
    MDB_val key = {sizeof(startkey), startkey}, v;
    /* from the very first key when the stretch starts the log: a stray key sorted
     * before record 1 is damage too */
    MDB_cursor_op first = st->from == 1 ? MDB_FIRST : MDB_SET_RANGE;
    for (mrc = rc == SU_OK ? mdb_cursor_get(cur, &key, &v, first) : MDB_NOTFOUND;
         mrc == 0 && rc == SU_OK; mrc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) {
        uint64_t seq = key.mv_size == 8 ? su_get_be64(key.mv_data) : 0;
        const unsigned char *p = v.mv_data;
        st_audit_rec_view rv;
        unsigned char hash[32], want[ST_MAC_LEN];
        if (st->to != 0 && seq > st->to && expect > st->to)
            break; /* the stretch is complete; the next one starts here */
        if (seq != expect) {
            rc = seq > expect ? BAD(expect, "audit record %llu is missing (the log jumps to %llu)",
                                    (unsigned long long)expect, (unsigned long long)seq)
                              : BAD(expect, "audit record %llu: unexpected key in the log",
                                    (unsigned long long)expect);
            break;
        }
        if (!st_audit_rec_peek(p, v.mv_size, &rv)) {
            rc = BAD(seq, "audit record %llu is corrupt", (unsigned long long)seq);
            break;
        }
        const unsigned char *rprev = rv.prev;
        uint64_t rseq = rv.seq;
        size_t clen = rv.content_len;
        int auth = rv.auth, failed_unlock = rv.failed_unlock;
        if (!walk_hash(s, &w, p, clen, hash) || (auth && !walk_mac(&w, hash, want))) {
            rc = su_err(e, SU_EIO, "SHA-256 or HMAC failed");
            break;
        }
        if (seq == st->from) {
            memcpy(st->first_prev, rprev, 32);
            st->have_first_prev = 1;
        }
        if (auth && CRYPTO_memcmp(want, p + clen + 1, ST_MAC_LEN) != 0)
            rc = BAD(seq, "audit record %llu: bad MAC (the record was altered)",
                     (unsigned long long)seq);
        else if (rseq != seq)
            rc = BAD(seq, "audit record %llu: record is out of place (reordered or copied)",
                     (unsigned long long)seq);
        else if ((seq != st->from || st->from == 1) && memcmp(rprev, prev, 32) != 0)
            rc = BAD(seq,
                     "audit record %llu: hash chain broken (a record before it was altered, "
                     "removed, inserted or reordered)",
                     (unsigned long long)seq);
        else if (!auth && !failed_unlock)
            rc = BAD(seq,
                     "audit record %llu has no MAC, and only failed unlocks are written "
                     "without one: forged or altered",
                     (unsigned long long)seq);
        else if (seq == h->auth_seq && memcmp(hash, h->auth_hash, 32) != 0)
            rc = BAD(seq, "audit record %llu does not match the authenticated head",
                     (unsigned long long)seq);
        if (rc != SU_OK) {
            st->late = !(auth && CRYPTO_memcmp(want, p + clen + 1, ST_MAC_LEN) != 0) && rseq == seq;
            break;
        }
        if (!auth)
            r->unauthenticated++;
        r->records++;
        memcpy(prev, hash, 32);
        expect++;
        st->walked++;
    }
    if (rc == SU_OK && mrc != MDB_NOTFOUND && mrc != 0)
        rc = st_mdb_err(s, mrc, "reading the audit log", e);
    mdb_cursor_close(cur);
    EVP_MD_CTX_free(w.md);
    EVP_MAC_CTX_free(w.mac);
    memcpy(st->last, prev, 32);
    st->next = expect;
    st->rc = rc;
}

static void *walk_thread(void *arg) {
    walk_stretch(arg);
    return NULL;
}

/* A shorter log is walked in one stretch: a thread costs more than it saves. */
#define VERIFY_SPLIT_MIN 4096

/*
 * The log in two stretches, records 1..at on a second thread with a read
 * transaction of the same snapshot, and the rest here; the first bad record in
 * log order wins. at == 0: one stretch.
 */
static int verify_walk(ss_store *s, MDB_txn *txn, const st_audit_head *h, uint64_t at,
                       ss_audit_report *r, ss_error *e) {
    stretch a = {.s = s, .txn = txn, .h = h, .from = 1}, b = a;
    MDB_txn *txn2 = NULL;
    int split = at > 0 && st_txn(s, 0, &txn2, NULL) == SU_OK;
    if (split && mdb_txn_id(txn2) != mdb_txn_id(txn)) {
        mdb_txn_abort(txn2);
        split = 0;
    }
    if (split) {
        a.txn = txn2;
        a.to = at;
        b.from = at + 1;
        pthread_t t;
        int threaded = pthread_create(&t, NULL, walk_thread, &a) == 0;
        walk_stretch(&b);
        if (threaded)
            pthread_join(t, NULL);
        else
            walk_stretch(&a);
        mdb_txn_abort(txn2);
    } else {
        walk_stretch(&a);
    }
    stretch *last = &a;
    int rc = a.rc;
    *r = a.r;
    if (rc != SU_OK && e != NULL)
        *e = a.e;
    if (split && rc == SU_OK) {
        r->records += b.r.records;
        r->unauthenticated += b.r.unauthenticated;
        /* at record b.from the chain is checked after its MAC and place, before
         * the authentication rules: what the one-stretch walk would report first */
        int b_first = b.rc != SU_OK && b.r.first_bad == b.from && !b.late;
        if (b.have_first_prev && !b_first && memcmp(b.first_prev, a.last, 32) != 0)
            rc = BAD(b.from,
                     "audit record %llu: hash chain broken (a record before it was altered, "
                     "removed, inserted or reordered)",
                     (unsigned long long)b.from);
        else if ((rc = b.rc) != SU_OK) {
            r->first_bad = b.r.first_bad;
            if (e != NULL)
                *e = b.e;
        }
        if (b.walked > 0)
            last = &b;
    }
    if (rc != SU_OK)
        return rc;
    uint64_t expect = last->next;
    const unsigned char *prev = last->last;
    /* the authenticated part of the head first: it cannot have been rolled back */
    int authed = expect - 1 < h->auth_seq;
    if (authed || expect - 1 < h->seq)
        return BAD(expect,
                   "audit record %llu is missing: the log ends at record %llu but its %shead "
                   "names record %llu",
                   (unsigned long long)expect, (unsigned long long)(expect - 1),
                   authed ? "authenticated " : "",
                   (unsigned long long)(authed ? h->auth_seq : h->seq));
    if (expect - 1 != h->seq || memcmp(prev, h->hash, 32) != 0)
        return BAD(expect - 1,
                   "audit record %llu does not match the head (the log ends there but its "
                   "head names record %llu)",
                   (unsigned long long)(expect - 1), (unsigned long long)h->seq);
    return SU_OK;
}

int ss_audit_verify(ss_store *s, ss_audit_report *r, ss_error *e) {
    return st_audit_verify_at(s, ST_AUDIT_SPLIT_HALF, r, e);
}

int st_audit_verify_at(ss_store *s, uint64_t at, ss_audit_report *r, ss_error *e) {
    ss_audit_report local;
    if (r == NULL)
        r = &local;
    memset(r, 0, sizeof(*r));
    int rc = st_require_login(s, "verifying the audit log", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    if ((rc = st_txn(s, 0, &txn, e)) != SU_OK)
        return rc;
    st_audit_head h;
    rc = st_audit_head_load(s, txn, &h, e);
    if (rc == SU_OK) {
        unsigned char mac[ST_MAC_LEN];
        st_audit_head_mac(s, &h, mac);
        if (h.seq == 0)
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: audit head is missing", s->path);
        else if (CRYPTO_memcmp(mac, h.mac, ST_MAC_LEN) != 0)
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: audit head fails its MAC", s->path);
        else
            rc = verify_walk(s, txn, &h,
                             at != ST_AUDIT_SPLIT_HALF   ? at
                             : h.seq >= VERIFY_SPLIT_MIN ? h.seq / 2
                                                         : 0,
                             r, e);
    }
    if (rc == SU_OK)
        rc = st_fresh_verify_all(s, txn, e);
    if (rc == SU_OK)
        rc = st_fresh_global_check(s, txn, e);
    mdb_txn_abort(txn);
    return rc;
}
