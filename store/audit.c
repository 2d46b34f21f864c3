/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Appending to the audit log (docs/reference.md, Audit log): encoding, chaining and
 * the syslog copy. The record format and its decoder are audit_record.c's, the head
 * audit_head.c's, the walk of `audit verify` audit_verify.c's.
 *
 * Record i is   content_i || authenticated (u8) || mac_i
 * where         content_i carries seq, time, who, what, outcome and prev_hash,
 *               h_i = SHA-256("sealhsm-audit-v1" || content_i), prev_hash_i = h_{i-1},
 *               mac_i = HMAC(k_audit, h_i).
 *
 * New records always chain from the head (audit_head.c), never from whatever the
 * table ends with, so removing the tail is caught at the next verify. An
 * authenticated append moves into the head the freshness root (fresh.c), the
 * digest of settings, slots and officers (fresh_global.c) and the clock floor
 * (clock.c) that this transaction changed.
 *
 * Records written before any unlock (failed PIN attempts) cannot be MACed. They
 * are chained and marked unauthenticated, and stay so: the next authenticated
 * record chains over them (fixing their content), but nothing ever MACs them as
 * if they were authentic. Only `unlock` records with outcome denied or error may
 * lack a MAC; any other record without one was forged (docs/security.md).
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * The records after the authenticated head were written without the audit key:
 * before this authenticated append chains over them they must link up to the
 * head and be failed unlocks, the only records written before a login. Anything
 * else there was put in by someone who writes the file but holds no PIN.
 */
static int check_pending(ss_store *s, MDB_txn *txn, const st_audit_head *h, ss_error *e) {
    unsigned char prev[32];
    memcpy(prev, h->auth_hash, 32);
    for (uint64_t q = h->auth_seq + 1; q <= h->seq; q++) {
        unsigned char k[8], hash[32];
        su_be64(k, q);
        MDB_val v;
        st_audit_rec r;
        int rc = st_get(s, txn, ST_DB_AUDIT, k, 8, &v, e);
        if (rc == SU_ENOTFOUND)
            return su_err(e, SU_EINTEGRITY, "audit record %llu is missing", (unsigned long long)q);
        if (rc != SU_OK)
            return rc;
        if (!st_audit_rec_decode(v.mv_data, v.mv_size, &r))
            return su_err(e, SU_EINTEGRITY, "audit record %llu is corrupt", (unsigned long long)q);
        int linked = r.pub.seq == q && memcmp(r.pub.prev_hash, prev, 32) == 0 &&
                     st_audit_rec_hash(s, v.mv_data, r.content_len, hash);
        int allowed = r.pub.op == SS_OP_UNLOCK && r.pub.outcome != SS_OUT_OK;
        char what[64];
        snprintf(what, sizeof(what), "%s %s", ss_audit_op_name(r.pub.op),
                 ss_audit_outcome_name(r.pub.outcome));
        st_audit_rec_clear(&r);
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
static int head_check(ss_store *s, MDB_txn *txn, const st_audit_head *h, ss_error *e) {
    unsigned char mac[ST_MAC_LEN], hash[32], k[8];
    MDB_val v;
    st_audit_rec r;
    if (h->seq == 0)
        return SU_OK;
    st_audit_head_mac(s, h, mac);
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
    int ok = st_audit_rec_decode(v.mv_data, v.mv_size, &r) && r.pub.seq == h->seq &&
             st_audit_rec_hash(s, v.mv_data, r.content_len, hash) && memcmp(hash, h->hash, 32) == 0;
    st_audit_rec_clear(&r);
    if (!ok)
        return su_err(e, SU_EINTEGRITY,
                      "keystore %s: audit record %llu does not match the audit head", s->path,
                      (unsigned long long)h->seq);
    return SU_OK;
}

int st_audit_append(ss_store *s, MDB_txn *txn, const st_audit_in *in, ss_error *e) {
    st_audit_head h;
    int rc = st_audit_head_load(s, txn, &h, e);
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
    su_buf_u8(&b, in->signer != NULL ? ST_AUDIT_VERSION_VIA : ST_AUDIT_VERSION);
    su_buf_u64(&b, h.seq + 1);
    su_buf_u64(&b, (uint64_t)now_ms);
    su_buf_u32(&b, uid);
    su_buf_str(&b, user);
    su_buf_u32(&b, pid);
    su_buf_str(&b, prog);
    if (in->signer != NULL)
        su_buf_u8(&b, ST_AUDIT_VIA_DAEMON);
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
    int ok = !b.failed && st_audit_rec_hash(s, b.data, clen, hash);
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
        st_audit_head_mac(s, &h, h.mac);
    }
    return st_audit_head_store(s, txn, &h, e);
}

int st_audit_pending_check(ss_store *s, MDB_txn *txn, ss_error *e) {
    st_audit_head h;
    int rc = st_audit_head_authentic(s, txn, &h, e);
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
        st_audit_rec_view rv;
        unsigned char hash[32];
        if (!st_audit_rec_peek(v.mv_data, v.mv_size, &rv)) {
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
        if (!st_audit_rec_hash(s, nv, clen, hash) ||
            !st_hmac(s, s->k_audit, hash, 32, NULL, 0, nv + clen + 1))
            rc = su_err(e, SU_EIO, "HMAC failed");
        MDB_val nval = {v.mv_size, nv};
        if (rc == SU_OK && (mrc = mdb_cursor_put(cur, &k, &nval, MDB_CURRENT)) != 0)
            rc = st_mdb_err(s, mrc, "re-MACing the audit log", e);
        OPENSSL_free(nv);
        (*n)++;
    }
    rc = st_cursor_end(s, cur, rc, mrc, "re-MACing the audit log", e);
    st_audit_head h;
    if (rc == SU_OK)
        rc = st_audit_head_load(s, txn, &h, e);
    if (rc == SU_OK) {
        st_audit_head_mac(s, &h, h.mac);
        rc = st_audit_head_store(s, txn, &h, e);
    }
    return rc;
}

int st_audit_head_upgrade(ss_store *s, MDB_txn *txn, ss_error *e) {
    st_audit_head h;
    unsigned char mac[ST_MAC_LEN];
    int rc = st_audit_head_load_as(s, txn, &h, 0, e);
    if (rc != SU_OK)
        return rc;
    st_audit_head_mac(s, &h, mac); /* the format 1 MAC */
    if (h.seq == 0 || CRYPTO_memcmp(mac, h.mac, ST_MAC_LEN) != 0)
        return su_err(e, SU_EINTEGRITY, "keystore %s: audit head fails its MAC", s->path);
    h.v2 = 1;
    h.floor_ms = 0;
    if ((rc = st_fresh_root(s, txn, h.fresh_root, e)) == SU_OK)
        rc = st_fresh_global_digest(s, txn, h.global, e);
    if (rc != SU_OK)
        return rc;
    st_audit_head_mac(s, &h, h.mac);
    return st_audit_head_store(s, txn, &h, e);
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
