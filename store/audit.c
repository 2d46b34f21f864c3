/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit log (docs/reference.md, Audit log).
 *
 * Record i is   content_i || authenticated (u8) || mac_i
 * where         content_i carries seq, time, who, what, outcome and prev_hash,
 *               h_i = SHA-256("sealhsm-audit-v1" || content_i), prev_hash_i = h_{i-1},
 *               mac_i = HMAC(k_audit, h_i).
 *
 * The head (meta "audit/head") names the last record (seq, h) and the last
 * authenticated one (auth_seq, auth_h). Its MAC covers auth_seq and auth_h, the
 * root of the freshness tree (fresh.c), the digest of the keystore's settings,
 * PIN slots and officers (fresh_global.c) and the clock floor (the latest time
 * an authenticated record was written, clock.c). New records always chain from
 * the head, never from whatever the table ends with, so removing the tail is
 * caught at the next verify.
 *
 * Records written before any unlock (failed PIN attempts) cannot be MACed. They
 * are chained and marked unauthenticated, and stay so: the next authenticated
 * record chains over them (fixing their content), but nothing ever MACs them as
 * if they were authentic. Only `unlock` records with outcome denied or error may
 * lack a MAC; any other record without one was forged (docs/security.md).
 *
 * Format 1 heads (144 bytes, MAC over auth_seq, auth_h and the root only) are
 * read until the keystore is upgraded (upgrade.c).
 */
#include "internal.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Version 2 records add `via` after the program: written for signatures made for a
 * client of sealhsmd. Records of this process stay version 1, byte for byte. */
#define AUDIT_VERSION 1
#define AUDIT_VERSION_VIA 2
#define VIA_DAEMON 1
#define HEAD_KEY "audit/head"

#define HEAD_V1_LEN (8 + 32 + 8 + 32 + 32 + ST_MAC_LEN)
#define HEAD_V2_LEN (HEAD_V1_LEN + 32 + 8)

typedef struct head {
    int v2; /* the format 2 layout */
    uint64_t seq;
    unsigned char hash[32];
    uint64_t auth_seq;
    unsigned char auth_hash[32];
    unsigned char fresh_root[32]; /* root of the freshness tree (fresh.c) */
    unsigned char global[32];     /* settings, slots, officers (fresh_global.c) */
    int64_t floor_ms;             /* latest time an authenticated record was written */
    unsigned char mac[ST_MAC_LEN];
} head;

/* A decoded record; strings are malloc'd. */
typedef struct rec {
    ss_audit_rec pub;
    char *user, *program, *label, *reason, *digest;
    unsigned char tbs[64];
    size_t content_len;
} rec;

const char *ss_audit_op_name(ss_audit_op op) {
    static const char *const names[] = {"init",    "unlock",  "keygen", "import", "policy",
                                        "officer", "approve", "sign",   "state",  "cert",
                                        "backup",  "restore", "pin"};
    return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "unknown";
}

const char *ss_audit_outcome_name(ss_audit_outcome o) {
    return o == SS_OUT_OK ? "ok" : o == SS_OUT_DENIED ? "denied" : "error";
}

static void head_mac(ss_store *s, const head *h, unsigned char out[ST_MAC_LEN]) {
    unsigned char b[8 + 32 + 32 + 32 + 8];
    su_be64(b, h->auth_seq);
    memcpy(b + 8, h->auth_hash, 32);
    memcpy(b + 40, h->fresh_root, 32);
    memcpy(b + 72, h->global, 32);
    su_be64(b + 104, (uint64_t)h->floor_ms);
    if (!st_hmac(s, s->k_audit, h->v2 ? "head2" : "head", h->v2 ? 5 : 4, b, h->v2 ? sizeof(b) : 72,
                 out))
        memset(out, 0, ST_MAC_LEN);
}

/* v2: the layout of format 2, or -1: whichever the stored head has. A session with
 * keys refuses a head of the other layout (an older one put back would otherwise
 * skip what format 2 covers); a failed unlock writes back what it found. */
static int head_load_as(ss_store *s, MDB_txn *txn, head *h, int v2, ss_error *e) {
    MDB_val v;
    memset(h, 0, sizeof(*h));
    h->v2 = v2 == 1 || (v2 < 0 && s->format >= 2);
    int rc = st_get(s, txn, ST_DB_META, HEAD_KEY, strlen(HEAD_KEY), &v, e);
    if (rc == SU_ENOTFOUND)
        return SU_OK; /* empty log: only during init */
    if (rc != SU_OK)
        return rc;
    if (v2 < 0)
        h->v2 = v.mv_size == HEAD_V2_LEN;
    su_rd r;
    uint64_t floor = 0;
    su_rd_init(&r, v.mv_data, v.mv_size);
    su_rd_u64(&r, &h->seq);
    su_rd_raw(&r, h->hash, 32);
    su_rd_u64(&r, &h->auth_seq);
    su_rd_raw(&r, h->auth_hash, 32);
    su_rd_raw(&r, h->fresh_root, 32);
    if (h->v2) {
        su_rd_raw(&r, h->global, 32);
        su_rd_u64(&r, &floor);
        h->floor_ms = (int64_t)floor;
    }
    su_rd_raw(&r, h->mac, ST_MAC_LEN);
    if (!su_rd_done(&r) || h->auth_seq > h->seq)
        return su_err(e, SU_EINTEGRITY, "keystore %s: audit head is corrupt", s->path);
    return SU_OK;
}

static int head_load(ss_store *s, MDB_txn *txn, head *h, ss_error *e) {
    /* before a login the format read at open may be older than the file's */
    return head_load_as(s, txn, h, s->k_audit != NULL ? s->format >= 2 : -1, e);
}

static int head_store(ss_store *s, MDB_txn *txn, const head *h, ss_error *e) {
    unsigned char v[HEAD_V2_LEN];
    su_be64(v, h->seq);
    memcpy(v + 8, h->hash, 32);
    su_be64(v + 40, h->auth_seq);
    memcpy(v + 48, h->auth_hash, 32);
    memcpy(v + 80, h->fresh_root, 32);
    size_t n = 112;
    if (h->v2) {
        memcpy(v + 112, h->global, 32);
        su_be64(v + 144, (uint64_t)h->floor_ms);
        n = 152;
    }
    memcpy(v + n, h->mac, ST_MAC_LEN);
    return st_put(s, txn, ST_DB_META, HEAD_KEY, strlen(HEAD_KEY), v, n + ST_MAC_LEN, e);
}

static int rec_hash(ss_store *s, const unsigned char *content, size_t n, unsigned char out[32]) {
    return st_sha256(s, "sealhsm-audit-v1", 16, content, n, out);
}

/* A string field of a record: bounded, no NUL (what su_rd_str accepts). */
static int peek_str(su_rd *r, const unsigned char **p, size_t *n, size_t max) {
    return su_rd_bytes(r, p, n, max) && memchr(*p, 0, *n) == NULL;
}

/* The fields of a record, pointing into it: nothing is copied out. */
typedef struct rec_view {
    uint64_t seq;
    uint64_t time;
    uint32_t uid, pid;
    uint8_t version, op, outcome, via;
    const unsigned char *user, *program, *kid, *label, *reason, *digest, *tbs, *prev;
    size_t user_len, program_len, kidlen, label_len, reason_len, digest_len, tbslen;
    size_t content_len;
    int auth;
    int failed_unlock; /* an unlock denied or failed: the only records written unMACed */
} rec_view;

/*
 * The one walker over the record format: the structure of a record without
 * copying anything out, what `audit verify` needs for every one of possibly
 * millions of records; rec_decode copies the strings out of it. v->seq is set
 * (for the error message) even when the record is refused.
 */
static int rec_peek(const unsigned char *p, size_t n, rec_view *v) {
    su_rd rd;
    v->version = 0;
    v->op = 0;
    v->outcome = 0;
    v->via = VIA_DAEMON;
    if (n < 1 + ST_MAC_LEN)
        return 0;
    su_rd_init(&rd, p, n - 1 - ST_MAC_LEN);
    su_rd_u8(&rd, &v->version);
    su_rd_u64(&rd, &v->seq);
    su_rd_u64(&rd, &v->time);
    su_rd_u32(&rd, &v->uid);
    int ok = peek_str(&rd, &v->user, &v->user_len, 256);
    su_rd_u32(&rd, &v->pid);
    ok = ok && peek_str(&rd, &v->program, &v->program_len, 256);
    if (v->version == AUDIT_VERSION_VIA)
        su_rd_u8(&rd, &v->via);
    su_rd_u8(&rd, &v->op);
    su_rd_bytes(&rd, &v->kid, &v->kidlen, SS_KEY_ID_LEN);
    ok = ok && peek_str(&rd, &v->label, &v->label_len, SS_LABEL_MAX);
    su_rd_u8(&rd, &v->outcome);
    ok = ok && peek_str(&rd, &v->reason, &v->reason_len, SS_REASON_MAX + 512) &&
         peek_str(&rd, &v->digest, &v->digest_len, 64);
    su_rd_bytes(&rd, &v->tbs, &v->tbslen, 64);
    v->prev = rd.p;
    su_rd_raw(&rd, (unsigned char[32]){0}, 32);
    v->auth = p[n - 1 - ST_MAC_LEN];
    v->content_len = n - 1 - ST_MAC_LEN;
    v->failed_unlock = v->op == SS_OP_UNLOCK && v->outcome != SS_OUT_OK;
    return ok && su_rd_done(&rd) &&
           (v->version == AUDIT_VERSION || v->version == AUDIT_VERSION_VIA) &&
           v->via == VIA_DAEMON && v->op <= SS_OP_PIN && v->outcome <= SS_OUT_ERROR &&
           (v->kidlen == 0 || v->kidlen == SS_KEY_ID_LEN) && v->auth <= 1;
}

static char *rec_str(const unsigned char *p, size_t n) {
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static void rec_clear(rec *r) {
    free(r->user);
    free(r->program);
    free(r->label);
    free(r->reason);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

/* A record with its strings copied out (malloc'd): accepts exactly what rec_peek
 * accepts. */
static int rec_decode(const unsigned char *p, size_t n, rec *r) {
    rec_view v;
    memset(r, 0, sizeof(*r));
    if (!rec_peek(p, n, &v))
        return 0;
    r->user = rec_str(v.user, v.user_len);
    r->program = rec_str(v.program, v.program_len);
    r->label = rec_str(v.label, v.label_len);
    r->reason = rec_str(v.reason, v.reason_len);
    r->digest = rec_str(v.digest, v.digest_len);
    if (r->user == NULL || r->program == NULL || r->label == NULL || r->reason == NULL ||
        r->digest == NULL) {
        rec_clear(r);
        return 0;
    }
    r->pub.seq = v.seq;
    r->pub.time_ms = (int64_t)v.time;
    r->pub.uid = v.uid;
    r->pub.pid = v.pid;
    r->pub.op = (ss_audit_op)v.op;
    r->pub.outcome = (ss_audit_outcome)v.outcome;
    r->pub.has_key = v.kidlen == SS_KEY_ID_LEN;
    if (r->pub.has_key)
        memcpy(r->pub.key_id, v.kid, SS_KEY_ID_LEN);
    memcpy(r->tbs, v.tbs, v.tbslen);
    r->pub.tbs_hash = v.tbslen ? r->tbs : NULL;
    r->pub.tbs_hash_len = v.tbslen;
    memcpy(r->pub.prev_hash, v.prev, 32);
    r->pub.user = r->user;
    r->pub.program = r->program;
    r->pub.via_daemon = v.version == AUDIT_VERSION_VIA;
    r->pub.label = r->label[0] ? r->label : NULL;
    r->pub.reason = r->reason;
    r->pub.digest = r->digest;
    r->pub.authenticated = v.auth;
    memcpy(r->pub.mac, p + n - ST_MAC_LEN, ST_MAC_LEN);
    r->content_len = v.content_len;
    return 1;
}

/*
 * The records after the authenticated head were written without the audit key:
 * before this authenticated append chains over them they must link up to the
 * head and be failed unlocks, the only records written before a login. Anything
 * else there was put in by someone who writes the file but holds no PIN.
 */
static int check_pending(ss_store *s, MDB_txn *txn, const head *h, ss_error *e) {
    unsigned char prev[32];
    memcpy(prev, h->auth_hash, 32);
    for (uint64_t q = h->auth_seq + 1; q <= h->seq; q++) {
        unsigned char k[8], hash[32];
        su_be64(k, q);
        MDB_val v;
        rec r;
        int rc = st_get(s, txn, ST_DB_AUDIT, k, 8, &v, e);
        if (rc == SU_ENOTFOUND)
            return su_err(e, SU_EINTEGRITY, "audit record %llu is missing", (unsigned long long)q);
        if (rc != SU_OK)
            return rc;
        if (!rec_decode(v.mv_data, v.mv_size, &r))
            return su_err(e, SU_EINTEGRITY, "audit record %llu is corrupt", (unsigned long long)q);
        int linked = r.pub.seq == q && memcmp(r.pub.prev_hash, prev, 32) == 0 &&
                     rec_hash(s, v.mv_data, r.content_len, hash);
        int allowed = r.pub.op == SS_OP_UNLOCK && r.pub.outcome != SS_OUT_OK;
        char what[64];
        snprintf(what, sizeof(what), "%s %s", ss_audit_op_name(r.pub.op),
                 ss_audit_outcome_name(r.pub.outcome));
        rec_clear(&r);
        if (!linked)
            return su_err(e, SU_EINTEGRITY,
                          "audit record %llu: hash chain broken (a record before it was "
                          "altered, removed, inserted or reordered)",
                          (unsigned long long)q);
        if (!allowed)
            return su_err(e, SU_EINTEGRITY,
                          "audit record %llu: a '%s' record without a MAC (only failed unlocks "
                          "are written before a login): forged",
                          (unsigned long long)q, what);
        memcpy(prev, hash, 32);
    }
    return SU_OK;
}

/* One line per record for a central collector; the hash ties it to the chain. Every
 * free-text value is quoted and escaped (su_quote), and cut so that the whole line
 * fits one syslog datagram: each key appears once, with the real value. */
static void queue_syslog(ss_store *s, uint64_t seq, const char *user, uint32_t uid,
                         const char *prog, const st_audit_in *in, const unsigned char hash[32]) {
    char line[2048], kid[2 * SS_KEY_ID_LEN + 1] = "-", th[129] = "-", h[65];
    char quser[160], qprog[160], qlabel[400], qdigest[64] = "-", qreason[700];
    if (in->key_id != NULL)
        su_hex(kid, in->key_id, SS_KEY_ID_LEN);
    if (in->tbs_hash != NULL && in->tbs_hash_len <= 64)
        su_hex(th, in->tbs_hash, in->tbs_hash_len);
    su_hex(h, hash, 32);
    su_quote(quser, sizeof(quser), user);
    su_quote(qprog, sizeof(qprog), prog);
    if (in->label != NULL)
        su_quote(qlabel, sizeof(qlabel), in->label);
    else
        snprintf(qlabel, sizeof(qlabel), "-");
    if (in->digest != NULL)
        su_quote(qdigest, sizeof(qdigest), in->digest);
    su_quote(qreason, sizeof(qreason), in->reason);
    snprintf(line, sizeof(line),
             "audit seq=%llu op=%s outcome=%s user=%s uid=%u program=%s%s label=%s key_id=%s "
             "digest=%s tbs_hash=%s hash=%s reason=%s",
             (unsigned long long)seq, ss_audit_op_name(in->op), ss_audit_outcome_name(in->outcome),
             quser, (unsigned)uid, qprog, in->signer != NULL ? " via=daemon" : "", qlabel, kid,
             qdigest, th, h, qreason);
    st_syslog_add(s, in->outcome != SS_OUT_OK, line);
}

/*
 * Before an authenticated append: the head must carry a valid MAC and name the
 * record that really ends the log, or the new record (and the head's new MAC)
 * would launder a damaged head.
 */
static int head_check(ss_store *s, MDB_txn *txn, const head *h, ss_error *e) {
    unsigned char mac[ST_MAC_LEN], hash[32], k[8];
    MDB_val v;
    rec r;
    if (h->seq == 0)
        return SU_OK;
    head_mac(s, h, mac);
    if (CRYPTO_memcmp(mac, h->mac, ST_MAC_LEN) != 0)
        return su_err(e, SU_EINTEGRITY, "keystore %s: audit head fails its MAC", s->path);
    /* the head names the record this handle appended last: already known to match */
    if (h->seq == s->last_seq && memcmp(h->hash, s->last_hash, 32) == 0)
        return SU_OK;
    su_be64(k, h->seq);
    int rc = st_get(s, txn, ST_DB_AUDIT, k, 8, &v, e);
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_EINTEGRITY,
                      "keystore %s: the audit head names record %llu, which is missing", s->path,
                      (unsigned long long)h->seq);
    if (rc != SU_OK)
        return rc;
    int ok = rec_decode(v.mv_data, v.mv_size, &r) && r.pub.seq == h->seq &&
             rec_hash(s, v.mv_data, r.content_len, hash) && memcmp(hash, h->hash, 32) == 0;
    rec_clear(&r);
    if (!ok)
        return su_err(e, SU_EINTEGRITY,
                      "keystore %s: audit record %llu does not match the audit head", s->path,
                      (unsigned long long)h->seq);
    return SU_OK;
}

int st_audit_append(ss_store *s, MDB_txn *txn, const st_audit_in *in, ss_error *e) {
    head h;
    int rc = head_load(s, txn, &h, e);
    if (rc == SU_OK && s->k_audit != NULL)
        rc = head_check(s, txn, &h, e);
    if (rc != SU_OK)
        return rc;
    if (s->k_audit != NULL && !h.v2 && h.seq > 0)
        return su_err(e, SU_EIO, "keystore %s has format %u: log in as SO or user to upgrade it",
                      s->path, s->format);
    if (s->k_audit != NULL && h.seq > h.auth_seq && (rc = check_pending(s, txn, &h, e)) != SU_OK)
        return rc;
    int64_t now_ms = su_now_ms();
    /* the clock floor: an authenticated success is not recorded with a clock that
     * runs well behind what the keystore has already recorded (clock.c) */
    if (s->k_audit != NULL && in->outcome == SS_OUT_OK && in->op != SS_OP_UNLOCK &&
        !s->clock_rebase && st_clock_is_behind(now_ms, h.floor_ms))
        return st_clock_refusal(s, now_ms, h.floor_ms, e);

    if ((uint32_t)getuid() != s->uid)
        st_who(s); /* within the write txn: one writer at a time */
    const char *user = s->user, *prog = s->program;
    uint32_t uid = (uint32_t)getuid(), pid = (uint32_t)getpid();
    if (in->signer != NULL) {
        user = in->signer->user != NULL ? in->signer->user : "";
        prog = in->signer->program != NULL ? in->signer->program : "";
        uid = in->signer->uid;
        pid = in->signer->pid;
    }
    su_buf b;
    su_buf_init(&b, 0);
    su_buf_u8(&b, in->signer != NULL ? AUDIT_VERSION_VIA : AUDIT_VERSION);
    su_buf_u64(&b, h.seq + 1);
    su_buf_u64(&b, (uint64_t)now_ms);
    su_buf_u32(&b, uid);
    su_buf_str(&b, user);
    su_buf_u32(&b, pid);
    su_buf_str(&b, prog);
    if (in->signer != NULL)
        su_buf_u8(&b, VIA_DAEMON);
    su_buf_u8(&b, (uint8_t)in->op);
    su_buf_bytes(&b, in->key_id, in->key_id ? SS_KEY_ID_LEN : 0);
    su_buf_str(&b, in->label);
    su_buf_u8(&b, (uint8_t)in->outcome);
    su_buf_str(&b, in->reason);
    su_buf_str(&b, in->digest);
    su_buf_bytes(&b, in->tbs_hash, in->tbs_hash_len);
    su_buf_put(&b, h.hash, 32);
    size_t clen = b.len;
    unsigned char hash[32], mac[ST_MAC_LEN] = {0};
    int ok = !b.failed && rec_hash(s, b.data, clen, hash);
    if (ok && s->k_audit != NULL)
        ok = st_hmac(s, s->k_audit, hash, 32, NULL, 0, mac);
    su_buf_u8(&b, s->k_audit != NULL);
    su_buf_put(&b, mac, ST_MAC_LEN);
    if (!ok || b.failed) {
        su_buf_free(&b);
        return su_err(e, SU_EIO, "cannot build the audit record");
    }
    unsigned char k[8];
    su_be64(k, h.seq + 1);
    /* the head names the end of the log: a record already there means the head was
     * put back to an earlier state, and appending would overwrite history */
    MDB_val existing;
    rc = st_get(s, txn, ST_DB_AUDIT, k, 8, &existing, e);
    if (rc == SU_OK)
        rc = su_err(e, SU_EINTEGRITY,
                    "keystore %s: the audit log extends past its head (record %llu exists): "
                    "the head was rolled back",
                    s->path, (unsigned long long)(h.seq + 1));
    else if (rc == SU_ENOTFOUND)
        rc = SU_OK;
    if (rc != SU_OK) {
        su_buf_free(&b);
        return rc;
    }
    if (s->syslog)
        queue_syslog(s, h.seq + 1, user, uid, prog, in, hash);
    rc = st_put(s, txn, ST_DB_AUDIT, k, 8, b.data, b.len, e);
    su_buf_free(&b);
    if (rc != SU_OK)
        return rc;
    h.seq++;
    memcpy(h.hash, hash, 32);
    s->last_seq = h.seq; /* if the transaction aborts, the head will not name it */
    memcpy(s->last_hash, hash, 32);
    if (s->k_audit != NULL) {
        /* the root moves only with records this transaction changed (after checking
         * the tree it started from, fresh.c), never to bless a file edit */
        if (s->fresh_moved && (rc = st_fresh_root(s, txn, h.fresh_root, e)) != SU_OK)
            return rc;
        /* the digest of settings, slots and officers moves only with a change made
         * (and checked) in this very transaction, never to bless a file edit */
        if (s->global_dirty && (rc = st_fresh_global_digest(s, txn, h.global, e)) != SU_OK)
            return rc;
        if (s->clock_rebase || now_ms > h.floor_ms)
            h.floor_ms = now_ms;
        h.auth_seq = h.seq;
        memcpy(h.auth_hash, hash, 32);
        head_mac(s, &h, h.mac);
    }
    return head_store(s, txn, &h, e);
}

/* The authenticated head of txn (its MAC checked). */
static int head_authentic(ss_store *s, MDB_txn *txn, head *h, ss_error *e) {
    unsigned char mac[ST_MAC_LEN];
    int rc = head_load(s, txn, h, e);
    if (rc != SU_OK)
        return rc;
    head_mac(s, h, mac);
    if (h->seq == 0 || CRYPTO_memcmp(mac, h->mac, ST_MAC_LEN) != 0)
        return su_err(e, SU_EINTEGRITY, "keystore %s: audit head fails its MAC", s->path);
    return SU_OK;
}

int st_audit_head_state(ss_store *s, MDB_txn *txn, unsigned char global[32], int64_t *floor_ms,
                        ss_error *e) {
    head h;
    int rc = head_authentic(s, txn, &h, e);
    if (rc == SU_OK && global != NULL)
        memcpy(global, h.global, 32);
    if (rc == SU_OK && floor_ms != NULL)
        *floor_ms = h.floor_ms;
    return rc;
}

int st_audit_pending_check(ss_store *s, MDB_txn *txn, ss_error *e) {
    head h;
    int rc = head_authentic(s, txn, &h, e);
    return rc == SU_OK && h.seq > h.auth_seq ? check_pending(s, txn, &h, e) : rc;
}

int st_audit_remac(ss_store *s, MDB_txn *txn, uint64_t *n, ss_error *e) {
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_AUDIT, &cur, "re-MACing the audit log", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k, v;
    *n = 0;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rec_view rv;
        unsigned char hash[32];
        if (!rec_peek(v.mv_data, v.mv_size, &rv)) {
            rc = su_err(e, SU_EINTEGRITY, "audit record %llu is corrupt",
                        (unsigned long long)rv.seq);
            break;
        }
        size_t clen = rv.content_len;
        if (!rv.auth)
            continue;
        unsigned char *nv = OPENSSL_malloc(v.mv_size);
        if (nv == NULL) {
            rc = su_err(e, SU_EIO, "out of memory");
            break;
        }
        memcpy(nv, v.mv_data, v.mv_size);
        if (!rec_hash(s, nv, clen, hash) ||
            !st_hmac(s, s->k_audit, hash, 32, NULL, 0, nv + clen + 1))
            rc = su_err(e, SU_EIO, "HMAC failed");
        MDB_val nval = {v.mv_size, nv};
        if (rc == SU_OK && (mrc = mdb_cursor_put(cur, &k, &nval, MDB_CURRENT)) != 0)
            rc = st_mdb_err(s, mrc, "re-MACing the audit log", e);
        OPENSSL_free(nv);
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (rc == SU_OK && mrc != MDB_NOTFOUND)
        rc = st_mdb_err(s, mrc, "re-MACing the audit log", e);
    head h;
    if (rc == SU_OK)
        rc = head_load(s, txn, &h, e);
    if (rc == SU_OK) {
        head_mac(s, &h, h.mac);
        rc = head_store(s, txn, &h, e);
    }
    return rc;
}

int st_audit_head_upgrade(ss_store *s, MDB_txn *txn, ss_error *e) {
    head h;
    unsigned char mac[ST_MAC_LEN];
    int rc = head_load_as(s, txn, &h, 0, e);
    if (rc != SU_OK)
        return rc;
    head_mac(s, &h, mac); /* the format 1 MAC */
    if (h.seq == 0 || CRYPTO_memcmp(mac, h.mac, ST_MAC_LEN) != 0)
        return su_err(e, SU_EINTEGRITY, "keystore %s: audit head fails its MAC", s->path);
    h.v2 = 1;
    h.floor_ms = 0;
    if ((rc = st_fresh_root(s, txn, h.fresh_root, e)) == SU_OK)
        rc = st_fresh_global_digest(s, txn, h.global, e);
    if (rc != SU_OK)
        return rc;
    head_mac(s, &h, h.mac);
    return head_store(s, txn, &h, e);
}

int st_audit_head_refresh(ss_store *s, MDB_txn *txn, ss_error *e) {
    head h;
    int rc = head_load(s, txn, &h, e);
    if (rc == SU_OK && s->k_audit != NULL)
        rc = st_fresh_root(s, txn, h.fresh_root, e);
    if (rc != SU_OK || s->k_audit == NULL)
        return rc;
    head_mac(s, &h, h.mac);
    return head_store(s, txn, &h, e);
}

int st_audit_head_root(ss_store *s, MDB_txn *txn, unsigned char root[32], ss_error *e) {
    head h;
    int rc = head_authentic(s, txn, &h, e);
    if (rc == SU_OK)
        memcpy(root, h.fresh_root, 32);
    return rc;
}

int st_audit_log(ss_store *s, const st_audit_in *in, ss_error *e) {
    MDB_txn *txn;
    int rc = st_txn(s, 1, &txn, e);
    if (rc != SU_OK)
        return rc;
    rc = st_audit_append(s, txn, in, e);
    if (rc != SU_OK) {
        mdb_txn_abort(txn);
        return rc;
    }
    return st_commit(s, txn, e);
}

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
        rec r;
        if (key.mv_size != 8 || !rec_decode(v.mv_data, v.mv_size, &r)) {
            rc = su_err(e, SU_EINTEGRITY, "audit record %llu is corrupt",
                        key.mv_size == 8 ? (unsigned long long)su_get_be64(key.mv_data) : 0ull);
            break;
        }
        rc = fn(&r.pub, arg);
        rec_clear(&r);
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

static int walk_hash(ss_store *s, walker *w, const unsigned char *content, size_t n,
                     unsigned char out[32]) {
    return EVP_DigestInit_ex2(w->md, s->sha256, NULL) == 1 &&
           EVP_DigestUpdate(w->md, "sealhsm-audit-v1", 16) == 1 &&
           EVP_DigestUpdate(w->md, content, n) == 1 && EVP_DigestFinal_ex(w->md, out, NULL) == 1;
}

static int walk_mac(walker *w, const unsigned char hash[32], unsigned char out[ST_MAC_LEN]) {
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
    const head *h;
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
    const head *h = st->h;
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
        rec_view rv;
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
        if (!rec_peek(p, v.mv_size, &rv)) {
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
static int verify_walk(ss_store *s, MDB_txn *txn, const head *h, uint64_t at, ss_audit_report *r,
                       ss_error *e) {
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
    if (expect - 1 < h->auth_seq)
        return BAD(expect,
                   "audit record %llu is missing: the log is truncated (it ends at record %llu "
                   "but the authenticated head names record %llu)",
                   (unsigned long long)expect, (unsigned long long)(expect - 1),
                   (unsigned long long)h->auth_seq);
    if (expect - 1 < h->seq)
        return BAD(expect,
                   "audit record %llu is missing: the log ends at record %llu but its head "
                   "names record %llu",
                   (unsigned long long)expect, (unsigned long long)(expect - 1),
                   (unsigned long long)h->seq);
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
    head h;
    rc = head_load(s, txn, &h, e);
    if (rc == SU_OK) {
        unsigned char mac[ST_MAC_LEN];
        head_mac(s, &h, mac);
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
