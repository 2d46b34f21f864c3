/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit head (meta "audit/head", docs/reference.md, Audit log): it names the
 * last record (seq, h) and the last authenticated one (auth_seq, auth_h). Its MAC
 * covers auth_seq and auth_h, the root of the freshness tree (fresh.c), the digest
 * of the keystore's settings, PIN slots and officers (fresh_global.c) and the clock
 * floor (the latest time an authenticated record was written, clock.c). Those files
 * read the head from here and the ones above them (fresh.c, audit.c) write what
 * they computed into it: the head calls none of them.
 *
 * Format 1 heads (144 bytes, MAC over auth_seq, auth_h and the root only) are
 * read until the keystore is upgraded (upgrade.c).
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <string.h>

#define HEAD_KEY "audit/head"

#define HEAD_V1_LEN (8 + 32 + 8 + 32 + 32 + ST_MAC_LEN)
#define HEAD_V2_LEN (HEAD_V1_LEN + 32 + 8)

void st_audit_head_mac(ss_store *s, const st_audit_head *h, unsigned char out[ST_MAC_LEN]) {
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
int st_audit_head_load_as(ss_store *s, MDB_txn *txn, st_audit_head *h, int v2, ss_error *e) {
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

int st_audit_head_load(ss_store *s, MDB_txn *txn, st_audit_head *h, ss_error *e) {
    /* before a login the format read at open may be older than the file's */
    return st_audit_head_load_as(s, txn, h, s->k_audit != NULL ? s->format >= 2 : -1, e);
}

int st_audit_head_store(ss_store *s, MDB_txn *txn, const st_audit_head *h, ss_error *e) {
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

/* The authenticated head of txn (its MAC checked). */
int st_audit_head_authentic(ss_store *s, MDB_txn *txn, st_audit_head *h, ss_error *e) {
    unsigned char mac[ST_MAC_LEN];
    int rc = st_audit_head_load(s, txn, h, e);
    if (rc != SU_OK)
        return rc;
    st_audit_head_mac(s, h, mac);
    if (h->seq == 0 || CRYPTO_memcmp(mac, h->mac, ST_MAC_LEN) != 0)
        return su_err(e, SU_EINTEGRITY, "keystore %s: audit head fails its MAC", s->path);
    return SU_OK;
}

int st_audit_head_state(ss_store *s, MDB_txn *txn, unsigned char global[32], int64_t *floor_ms,
                        ss_error *e) {
    st_audit_head h;
    int rc = st_audit_head_authentic(s, txn, &h, e);
    if (rc == SU_OK && global != NULL)
        memcpy(global, h.global, 32);
    if (rc == SU_OK && floor_ms != NULL)
        *floor_ms = h.floor_ms;
    return rc;
}

int st_audit_head_root(ss_store *s, MDB_txn *txn, unsigned char root[32], ss_error *e) {
    st_audit_head h;
    int rc = st_audit_head_authentic(s, txn, &h, e);
    if (rc == SU_OK)
        memcpy(root, h.fresh_root, 32);
    return rc;
}
