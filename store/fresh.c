/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Freshness: the MACs on key records, usage counters, approvals and certificates
 * show that a record was written by sealhsm, not that it is the latest one. An
 * older authentic copy put back into the file (resetting max-signatures, or
 * un-revoking a key) would pass them. So every key's records are folded into a
 * hash tree whose root is carried in the MACed audit head, and the head itself is
 * tied to the end of the audit chain:
 *
 *   kd(id)        = SHA-256("k" | id | H(key record) | H(usage) | H(activation) | H(certs)
 *                   | H(label index entry of the record's label) | H(key PIN tries))
 *                   stored as meta "f/k/<id>" (format 1: without the last two)
 *   bucket(p)     = SHA-256("b" | (id | kd) for every key whose id starts with the
 *                   12-bit prefix p, in id order)                (not stored)
 *   node(L, p)    = the 16 child digests of the L-nibble prefix p, L = 0..2, stored
 *                   together as meta "f/n/<L><p>" (512 bytes): one read per level;
 *                   children of level 2 are buckets, of levels 0 and 1 nodes
 *   digest(node)  = SHA-256("n" | its 512 bytes)
 *   root          = digest(node(0, ""))           meta "f/root", and in the audit head
 *
 * Absent records and empty subtrees hash to 32 zero bytes. Every write that changes
 * a key's records calls st_fresh_update in the same transaction, before the audit
 * append that puts the new root into the head. Enforcing paths (signing,
 * approvals, policy changes) call st_fresh_check, which recomputes kd from the
 * records, climbs to the root and compares it with the head's. Replaying records
 * then also means replaying the head, which new records would overwrite: the
 * audit append refuses to write over an existing record. The tree is made of
 * unkeyed hashes, so a writer of the file can recompute it: an update therefore
 * first checks that the stored path still leads to the head's root, and only an
 * append in a transaction that made such an update moves the root in the head
 * (a later append never copies a root it did not compute). Rolling back the whole
 * store (records, head and the tail of the audit log together) is not detectable
 * locally; forwarding the audit log (syslog) is what reveals it.
 */
#include "internal.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH 3 /* nibbles of the bucket prefix: 4096 buckets */

static const int fresh_dbs[] = {ST_DB_KEYS, ST_DB_USAGE, ST_DB_ACTIVATIONS, ST_DB_CERTS};

/* H(label | id it points to) of the label index entry named in a key record (the
 * record's layout, record.c: version, id, u32-prefixed label), zeros when absent:
 * deleting or re-pointing the entry hides the key from `list`. */
static int label_digest(ss_store *s, MDB_txn *txn, const MDB_val *rec, unsigned char h[32],
                        ss_error *e) {
    su_rd r;
    const unsigned char *label;
    size_t n;
    MDB_val v;
    memset(h, 0, 32);
    su_rd_init(&r, rec->mv_data, rec->mv_size);
    su_rd_raw(&r, (unsigned char[1 + SS_KEY_ID_LEN]){0}, 1 + SS_KEY_ID_LEN);
    if (!su_rd_bytes(&r, &label, &n, SS_LABEL_MAX) || n == 0)
        return SU_OK; /* a malformed record fails its own checks */
    int rc = st_get(s, txn, ST_DB_LABELS, label, n, &v, e);
    if (rc == SU_ENOTFOUND)
        return SU_OK;
    if (rc == SU_OK && !st_sha256(s, label, n, v.mv_data, v.mv_size, h))
        rc = su_err(e, SU_EIO, "SHA-256 failed");
    return rc;
}

/* H(the key PIN's try counter, meta "tries/key/<hex id>", login.c), zeros when absent. */
static int kpin_tries_digest(ss_store *s, MDB_txn *txn, const unsigned char *id,
                             unsigned char h[32], ss_error *e) {
    char k[10 + 2 * SS_KEY_ID_LEN + 1];
    MDB_val v;
    memcpy(k, "tries/key/", 10);
    su_hex(k + 10, id, SS_KEY_ID_LEN);
    memset(h, 0, 32);
    int rc = st_get(s, txn, ST_DB_META, k, strlen(k), &v, e);
    if (rc == SU_ENOTFOUND)
        return SU_OK;
    if (rc == SU_OK && !st_sha256(s, v.mv_data, v.mv_size, NULL, 0, h))
        rc = su_err(e, SU_EIO, "SHA-256 failed");
    return rc;
}

static int key_digest(ss_store *s, MDB_txn *txn, const unsigned char *id, unsigned char out[32],
                      int *present, ss_error *e) {
    unsigned char buf[1 + SS_KEY_ID_LEN + 6 * 32];
    size_t n = 1 + SS_KEY_ID_LEN + (s->format >= 2 ? 6 : 4) * 32;
    buf[0] = 'k';
    memcpy(buf + 1, id, SS_KEY_ID_LEN);
    memset(buf + 1 + SS_KEY_ID_LEN + 4 * 32, 0, 64);
    *present = 0;
    for (int i = 0; i < 4; i++) {
        MDB_val v;
        unsigned char *h = buf + 1 + SS_KEY_ID_LEN + 32 * i;
        int rc = st_get(s, txn, fresh_dbs[i], id, SS_KEY_ID_LEN, &v, e);
        if (rc == SU_ENOTFOUND) {
            memset(h, 0, 32);
            continue;
        }
        if (rc != SU_OK)
            return rc;
        if (i == 0)
            *present = 1;
        if (!st_sha256(s, v.mv_data, v.mv_size, NULL, 0, h))
            return su_err(e, SU_EIO, "SHA-256 failed");
        if (i == 0 && s->format >= 2 &&
            (rc = label_digest(s, txn, &v, buf + 1 + SS_KEY_ID_LEN + 4 * 32, e)) != SU_OK)
            return rc;
    }
    if (s->format >= 2) {
        int rc = kpin_tries_digest(s, txn, id, buf + 1 + SS_KEY_ID_LEN + 5 * 32, e);
        if (rc != SU_OK)
            return rc;
    }
    return st_sha256(s, buf, n, NULL, 0, out) ? SU_OK : su_err(e, SU_EIO, "SHA-256 failed");
}

static void kd_key(char out[4 + SS_KEY_ID_LEN], const unsigned char *id) {
    memcpy(out, "f/k/", 4);
    memcpy(out + 4, id, SS_KEY_ID_LEN);
}

static int nibble(const unsigned char *id, int i) {
    return i % 2 == 0 ? id[i / 2] >> 4 : id[i / 2] & 15;
}

/* "f/n/" L and the first L nibbles of id, in hex */
static size_t node_key(char *out, int level, const unsigned char *id) {
    static const char hex[] = "0123456789abcdef";
    size_t n = (size_t)snprintf(out, 16, "f/n/%d", level);
    for (int i = 0; i < level; i++)
        out[n++] = hex[nibble(id, i)];
    return n;
}

static const unsigned char zero32[32];

static int get32(ss_store *s, MDB_txn *txn, const char *k, size_t klen, unsigned char out[32],
                 ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_META, k, klen, &v, e);
    if (rc == SU_ENOTFOUND) {
        memset(out, 0, 32);
        return SU_OK;
    }
    if (rc == SU_OK && v.mv_size != 32)
        return su_err(e, SU_EINTEGRITY, "keystore %s: freshness tree entry is corrupt", s->path);
    if (rc == SU_OK)
        memcpy(out, v.mv_data, 32);
    return rc;
}

/* A node's 16 child digests; all zero when the node is absent (empty subtree). */
static int get_node(ss_store *s, MDB_txn *txn, const char *k, size_t klen,
                    unsigned char node[16 * 32], ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_META, k, klen, &v, e);
    if (rc == SU_ENOTFOUND) {
        memset(node, 0, 16 * 32);
        return SU_OK;
    }
    if (rc == SU_OK && v.mv_size != 16 * 32)
        return su_err(e, SU_EINTEGRITY, "keystore %s: freshness tree node is corrupt", s->path);
    if (rc == SU_OK)
        memcpy(node, v.mv_data, 16 * 32);
    return rc;
}

static bool node_empty(const unsigned char node[16 * 32]) {
    for (int c = 0; c < 16; c++)
        if (memcmp(node + 32 * c, zero32, 32) != 0)
            return false;
    return true;
}

static bool node_digest(ss_store *s, const unsigned char node[16 * 32], unsigned char out[32]) {
    if (node_empty(node)) {
        memset(out, 0, 32);
        return true;
    }
    return st_sha256(s, "n", 1, node, 16 * 32, out);
}

/* Stores a value, or removes it when it is all zeros (an empty subtree). */
static int put_or_del(ss_store *s, MDB_txn *txn, const char *k, size_t klen, const unsigned char *v,
                      size_t vlen, int empty, ss_error *e) {
    return empty ? st_del(s, txn, ST_DB_META, k, klen, e)
                 : st_put(s, txn, ST_DB_META, k, klen, v, vlen, e);
}

/* The bucket of id's 12-bit prefix, from the stored per-key digests. */
static int bucket_digest(ss_store *s, MDB_txn *txn, const unsigned char *id, unsigned char out[32],
                         ss_error *e) {
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_META, &cur, "reading the freshness tree", e);
    if (rc != SU_OK)
        return rc;
    char start[4 + SS_KEY_ID_LEN] = {0};
    memcpy(start, "f/k/", 4);
    start[4] = (char)id[0];
    start[5] = (char)(id[1] & 0xf0);
    MDB_val k = {6, start}, v;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestInit_ex2(c, s->sha256, NULL) == 1 &&
             EVP_DigestUpdate(c, "b", 1) == 1;
    size_t n = 0;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); ok && mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *kk = k.mv_data;
        if (k.mv_size != 4 + SS_KEY_ID_LEN || memcmp(kk, "f/k/", 4) != 0 || kk[4] != id[0] ||
            (kk[5] & 0xf0) != (id[1] & 0xf0))
            break;
        ok = v.mv_size == 32 && EVP_DigestUpdate(c, kk + 4, SS_KEY_ID_LEN) == 1 &&
             EVP_DigestUpdate(c, v.mv_data, 32) == 1;
        n++;
    }
    mdb_cursor_close(cur);
    if (ok && n == 0)
        memset(out, 0, 32);
    else if (ok)
        ok = EVP_DigestFinal_ex(c, out, NULL) == 1;
    EVP_MD_CTX_free(c);
    if (mrc != 0 && mrc != MDB_NOTFOUND && ok)
        return st_mdb_err(s, mrc, "reading the freshness tree", e);
    return ok ? SU_OK : su_err(e, SU_EINTEGRITY, "keystore %s: freshness tree is corrupt", s->path);
}

/* Climbs from the bucket of id to the root, one node record per level, putting the
 * recomputed child digest into its slot; with store != 0 writes what changed. */
static int climb(ss_store *s, MDB_txn *txn, const unsigned char *id, int store,
                 unsigned char root[32], ss_error *e) {
    unsigned char d[32], node[16 * 32];
    char k[16];
    int rc = bucket_digest(s, txn, id, d, e);
    for (int level = DEPTH - 1; rc == SU_OK && level >= 0; level--) {
        size_t kl = node_key(k, level, id);
        if ((rc = get_node(s, txn, k, kl, node, e)) != SU_OK)
            break;
        memcpy(node + 32 * nibble(id, level), d, 32);
        if (!node_digest(s, node, d))
            rc = su_err(e, SU_EIO, "SHA-256 failed");
        else if (store)
            rc = put_or_del(s, txn, k, kl, node, sizeof(node), node_empty(node), e);
    }
    if (rc == SU_OK && store)
        rc = put_or_del(s, txn, "f/root", 6, d, 32, memcmp(d, zero32, 32) == 0, e);
    if (rc == SU_OK)
        memcpy(root, d, 32);
    return rc;
}

/* ---- what this handle last verified or wrote ------------------------------------------
 *
 * The climb (a bucket scan and a node record per level, hashed) is the costly part.
 * When the stored root is still the one this handle last verified or wrote, and the
 * key's stored digest is still the one it last saw, nothing on the key's path can
 * have changed; the key's records are still checked against that digest. */

static bool cache_hit(ss_store *s, const unsigned char *id, const unsigned char root[32],
                      const unsigned char kd[32]) {
    int hit = 0;
    pthread_mutex_lock(&s->fresh_mu);
    if (s->fresh_have_root && memcmp(s->fresh_root, root, 32) == 0)
        for (int i = 0; i < s->fresh_n && !hit; i++)
            hit = memcmp(s->fresh_ids[i], id, SS_KEY_ID_LEN) == 0 &&
                  memcmp(s->fresh_kds[i], kd, 32) == 0;
    pthread_mutex_unlock(&s->fresh_mu);
    return hit;
}

static void cache_note(ss_store *s, const unsigned char *id, const unsigned char root[32],
                       const unsigned char kd[32]) {
    pthread_mutex_lock(&s->fresh_mu);
    memcpy(s->fresh_root, root, 32);
    s->fresh_have_root = 1;
    int i;
    for (i = 0; i < s->fresh_n && memcmp(s->fresh_ids[i], id, SS_KEY_ID_LEN) != 0; i++)
        ;
    if (i == s->fresh_n) {
        if (s->fresh_n < ST_FRESH_CACHE)
            s->fresh_n++;
        else
            i = (int)(id[0] % ST_FRESH_CACHE); /* any slot will do */
    }
    memcpy(s->fresh_ids[i], id, SS_KEY_ID_LEN);
    memcpy(s->fresh_kds[i], kd, 32);
    pthread_mutex_unlock(&s->fresh_mu);
}

static bool deferred(const ss_store *s, const unsigned char *id) {
    for (size_t i = 0; i < s->fresh_ndirty; i++)
        if (memcmp(s->fresh_dirty[i], id, SS_KEY_ID_LEN) == 0)
            return true;
    return false;
}

static int update_now(ss_store *s, MDB_txn *txn, const unsigned char *id, ss_error *e) {
    unsigned char kd[32], root[32], want[32];
    char k[4 + SS_KEY_ID_LEN];
    int present;
    /* the path as stored must lead to the root this transaction started from (the
     * head's) or last wrote: otherwise the climb would fold a forged sibling in */
    int rc = s->fresh_moved ? st_fresh_root(s, txn, want, e) : st_audit_head_root(s, txn, want, e);
    if (rc == SU_OK)
        rc = climb(s, txn, id, 0, root, e);
    if (rc == SU_OK && CRYPTO_memcmp(root, want, 32) != 0)
        return su_err(e, SU_EINTEGRITY,
                      "keystore %s: key records do not match the authenticated audit head "
                      "(replaced or rolled back)",
                      s->path);
    if (rc == SU_OK)
        rc = key_digest(s, txn, id, kd, &present, e);
    kd_key(k, id);
    if (rc == SU_OK)
        rc = present ? st_put(s, txn, ST_DB_META, k, sizeof(k), kd, 32, e)
                     : st_del(s, txn, ST_DB_META, k, sizeof(k), e);
    if (rc == SU_OK)
        rc = climb(s, txn, id, 1, root, e);
    if (rc == SU_OK)
        s->fresh_moved = 1;
    if (rc == SU_OK && present)
        cache_note(s, id, root, kd);
    return rc;
}

int st_fresh_update(ss_store *s, MDB_txn *txn, const unsigned char *id, ss_error *e) {
    if (!s->fresh_defer)
        return update_now(s, txn, id, e);
    if (deferred(s, id))
        return SU_OK;
    if (s->fresh_ndirty == ST_FRESH_BATCH) /* a full list: settle this one now */
        return update_now(s, txn, id, e);
    memcpy(s->fresh_dirty[s->fresh_ndirty++], id, SS_KEY_ID_LEN);
    return SU_OK;
}

void st_fresh_defer(ss_store *s) {
    s->fresh_defer = 1;
    s->fresh_ndirty = 0;
}

void st_fresh_discard(ss_store *s) {
    s->fresh_defer = 0;
    s->fresh_ndirty = 0;
}

int st_fresh_settle(ss_store *s, MDB_txn *txn, ss_error *e) {
    int rc = SU_OK;
    s->fresh_defer = 0;
    for (size_t i = 0; rc == SU_OK && i < s->fresh_ndirty; i++)
        rc = update_now(s, txn, s->fresh_dirty[i], e);
    if (rc == SU_OK && s->fresh_ndirty > 0)
        rc = st_audit_head_refresh(s, txn, e);
    s->fresh_ndirty = 0;
    return rc;
}

int st_fresh_root(ss_store *s, MDB_txn *txn, unsigned char root[32], ss_error *e) {
    return get32(s, txn, "f/root", 6, root, e);
}

/* k's records against its stored digest; kd gets the digest. */
static int key_current(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, unsigned char kd[32],
                       ss_error *e) {
    unsigned char stored[32];
    char key[4 + SS_KEY_ID_LEN];
    int present;
    int rc = key_digest(s, txn, k->id, kd, &present, e);
    kd_key(key, k->id);
    if (rc == SU_OK)
        rc = get32(s, txn, key, sizeof(key), stored, e);
    if (rc == SU_OK && CRYPTO_memcmp(kd, stored, 32) != 0)
        return su_err(e, SU_EINTEGRITY,
                      "key %s: its records are not the latest ones written (replaced or rolled "
                      "back)",
                      k->label);
    return rc;
}

int st_fresh_key_current(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, ss_error *e) {
    unsigned char kd[32];
    return key_current(s, txn, k, kd, e);
}

int st_fresh_check(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, ss_error *e) {
    unsigned char kd[32], root[32], want[32];
    /* changed by this very transaction (group commit): checked when first touched */
    if (s->fresh_defer && deferred(s, k->id))
        return SU_OK;
    int rc = key_current(s, txn, k, kd, e);
    if (rc == SU_OK)
        rc = st_audit_head_root(s, txn, want, e);
    if (rc == SU_OK)
        rc = st_fresh_root(s, txn, root, e);
    if (rc == SU_OK && CRYPTO_memcmp(root, want, 32) == 0 && cache_hit(s, k->id, root, kd))
        return SU_OK;
    if (rc == SU_OK)
        rc = climb(s, txn, k->id, 0, root, e);
    if (rc == SU_OK && CRYPTO_memcmp(root, want, 32) != 0)
        return su_err(e, SU_EINTEGRITY,
                      "key %s: keystore records do not match the authenticated audit head "
                      "(replaced or rolled back)",
                      k->label);
    if (rc == SU_OK)
        cache_note(s, k->id, root, kd);
    return rc;
}

/* Whole-store check for `audit verify`: every key's digest against its records,
 * and the root rebuilt bottom-up from all digests against the head. */
int st_fresh_verify_all(ss_store *s, MDB_txn *txn, ss_error *e) {
    enum { BUCKETS = 1 << (4 * DEPTH) };
    unsigned char(*nodes)[32] = calloc(BUCKETS, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    MDB_cursor *cur = NULL;
    int rc = nodes != NULL && c != NULL ? SU_OK : su_err(e, SU_EIO, "out of memory");
    int mrc = rc == SU_OK ? mdb_cursor_open(txn, s->dbi[ST_DB_KEYS], &cur) : 0;
    if (mrc != 0)
        rc = st_mdb_err(s, mrc, "reading keys", e);
    MDB_val k, v;
    long bucket = -1;
    for (mrc = rc == SU_OK ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : MDB_NOTFOUND;
         rc == SU_OK && mrc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const unsigned char *id = k.mv_data;
        unsigned char kd[32], stored[32];
        char key[4 + SS_KEY_ID_LEN];
        int present;
        if (k.mv_size != SS_KEY_ID_LEN) {
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: malformed key id", s->path);
            break;
        }
        kd_key(key, id);
        rc = key_digest(s, txn, id, kd, &present, e);
        if (rc == SU_OK)
            rc = get32(s, txn, key, sizeof(key), stored, e);
        if (rc == SU_OK && CRYPTO_memcmp(kd, stored, 32) != 0) {
            char name[2 * SS_KEY_ID_LEN + 8];
            st_key_name(name, sizeof(name), NULL, id);
            rc = su_err(e, SU_EINTEGRITY,
                        "key %s: its records are not the latest ones written (replaced or "
                        "rolled back)",
                        name);
        }
        long b = (long)(id[0] << 4 | id[1] >> 4);
        if (rc == SU_OK && b != bucket) {
            if (bucket >= 0 && EVP_DigestFinal_ex(c, nodes[bucket], NULL) != 1)
                rc = su_err(e, SU_EIO, "SHA-256 failed");
            bucket = b;
            if (EVP_DigestInit_ex2(c, s->sha256, NULL) != 1 || EVP_DigestUpdate(c, "b", 1) != 1)
                rc = su_err(e, SU_EIO, "SHA-256 failed");
        }
        if (rc == SU_OK &&
            (EVP_DigestUpdate(c, id, SS_KEY_ID_LEN) != 1 || EVP_DigestUpdate(c, kd, 32) != 1))
            rc = su_err(e, SU_EIO, "SHA-256 failed");
    }
    if (rc == SU_OK && mrc != MDB_NOTFOUND)
        rc = st_mdb_err(s, mrc, "reading keys", e);
    if (rc == SU_OK && bucket >= 0 && EVP_DigestFinal_ex(c, nodes[bucket], NULL) != 1)
        rc = su_err(e, SU_EIO, "SHA-256 failed");
    if (cur != NULL)
        mdb_cursor_close(cur);
    /* fold the buckets into the node records, level by level, checking each stored
     * record on the way (later per-key checks read them as siblings) */
    for (int level = DEPTH - 1; rc == SU_OK && level >= 0; level--) {
        int width = 1 << (4 * level);
        for (int p = 0; rc == SU_OK && p < width; p++) {
            unsigned char node[16 * 32], stored[16 * 32], id[2] = {0};
            char nk[16];
            for (int ch = 0; ch < 16; ch++)
                memcpy(node + 32 * ch, nodes[p * 16 + ch], 32);
            /* the prefix p as the leading nibbles of an id, for its key */
            unsigned pref = (unsigned)p << (4 * (4 - level));
            id[0] = (unsigned char)(pref >> 8);
            id[1] = (unsigned char)pref;
            size_t kl = node_key(nk, level, id);
            rc = get_node(s, txn, nk, kl, stored, e);
            if (rc == SU_OK && memcmp(node, stored, sizeof(node)) != 0)
                rc = su_err(e, SU_EINTEGRITY, "keystore %s: freshness tree node %.*s is damaged",
                            s->path, (int)kl, nk);
            if (rc == SU_OK && !node_digest(s, node, nodes[p]))
                rc = su_err(e, SU_EIO, "SHA-256 failed");
        }
    }
    unsigned char want[32];
    if (rc == SU_OK)
        rc = st_audit_head_root(s, txn, want, e);
    if (rc == SU_OK && CRYPTO_memcmp(nodes[0], want, 32) != 0)
        rc = su_err(e, SU_EINTEGRITY,
                    "keystore %s: key records do not match the authenticated audit head "
                    "(replaced or rolled back)",
                    s->path);
    EVP_MD_CTX_free(c);
    free(nodes);
    return rc;
}

int st_fresh_rebuild(ss_store *s, MDB_txn *txn, ss_error *e) {
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_META, &cur, "rebuilding the freshness tree", e);
    if (rc != SU_OK)
        return rc;
    MDB_val k = {2, "f/"}, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         mrc == 0 && k.mv_size >= 3 && memcmp(k.mv_data, "f/", 2) == 0;) {
        /* f/g (fresh_global.c) is not part of the tree */
        if (k.mv_size == 3 && memcmp(k.mv_data, "f/g", 3) == 0)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        else if ((mrc = mdb_cursor_del(cur, 0)) == 0)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(cur);
    if (mrc != 0 && mrc != MDB_NOTFOUND && mrc != EINVAL)
        return st_mdb_err(s, mrc, "rebuilding the freshness tree", e);
    pthread_mutex_lock(&s->fresh_mu);
    s->fresh_have_root = 0;
    s->fresh_n = 0;
    pthread_mutex_unlock(&s->fresh_mu);
    s->fresh_moved = 1; /* an empty tree: the updates below start from it */
    if ((rc = st_cursor(s, txn, ST_DB_KEYS, &cur, "rebuilding the freshness tree", e)) != SU_OK)
        return rc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        unsigned char id[SS_KEY_ID_LEN];
        if (k.mv_size != SS_KEY_ID_LEN) {
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: malformed key id", s->path);
            break;
        }
        memcpy(id, k.mv_data, SS_KEY_ID_LEN);
        rc = update_now(s, txn, id, e);
    }
    rc = st_cursor_end(s, cur, rc, mrc, "rebuilding the freshness tree", e);
    return rc;
}

/* Lives here, above the head (audit_head.c), since it computes the root to put in it. */
int st_audit_head_refresh(ss_store *s, MDB_txn *txn, ss_error *e) {
    st_audit_head h;
    int rc = st_audit_head_load(s, txn, &h, e);
    if (rc == SU_OK && s->k_audit != NULL)
        rc = st_fresh_root(s, txn, h.fresh_root, e);
    if (rc != SU_OK || s->k_audit == NULL)
        return rc;
    st_audit_head_mac(s, &h, h.mac);
    return st_audit_head_store(s, txn, &h, e);
}
