/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Freshness: the MACs on key records, usage counters, approvals and certificates
 * show that a record was written by sealhsm, not that it is the latest one. An
 * older authentic copy put back into the file (resetting max-signatures, or
 * un-revoking a key) would pass them. So every key's records are folded into a
 * hash tree whose root is carried in the MACed audit head, and the head itself is
 * tied to the end of the audit chain:
 *
 *   kd(id)        = SHA-256("k" | id | H(key record) | H(usage) | H(activation) | H(certs))
 *                   stored as meta "f/k/<id>"
 *   bucket(p)     = SHA-256("b" | (id | kd) for every key whose id starts with the
 *                   12-bit prefix p, in id order)                meta "f/n/3<p>"
 *   node(L, p)    = SHA-256("n" | the 16 children of p)          meta "f/n/<L><p>"
 *   root          = node(0, "")                                  in the audit head
 *
 * Absent records and empty subtrees hash to 32 zero bytes. Every write that changes
 * a key's records calls st_fresh_update in the same transaction, before the audit
 * append that puts the new root into the head. Enforcing paths (signing,
 * approvals, policy changes) call st_fresh_check, which recomputes kd from the
 * records, climbs to the root and compares it with the head's. Replaying records
 * then also means replaying the head, which new records would overwrite: the
 * audit append refuses to write over an existing record. Rolling back the whole
 * store (records, head and the tail of the audit log together) is not detectable
 * locally; forwarding the audit log (syslog) is what reveals it.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH 3 /* nibbles of the bucket prefix: 4096 buckets */

static const int fresh_dbs[] = {ST_DB_KEYS, ST_DB_USAGE, ST_DB_ACTIVATIONS, ST_DB_CERTS};

static int key_digest(ss_store *s, MDB_txn *txn, const unsigned char *id, unsigned char out[32],
                      int *present, ss_error *e)
{
    unsigned char buf[1 + SS_KEY_ID_LEN + 4 * 32];
    buf[0] = 'k';
    memcpy(buf + 1, id, SS_KEY_ID_LEN);
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
    }
    return st_sha256(s, buf, sizeof(buf), NULL, 0, out) ? SU_OK
                                                        : su_err(e, SU_EIO, "SHA-256 failed");
}

static void kd_key(char out[4 + SS_KEY_ID_LEN], const unsigned char *id)
{
    memcpy(out, "f/k/", 4);
    memcpy(out + 4, id, SS_KEY_ID_LEN);
}

static int nibble(const unsigned char *id, int i)
{
    return i % 2 == 0 ? id[i / 2] >> 4 : id[i / 2] & 15;
}

/* "f/n/" L hexprefix */
static size_t node_key(char *out, int level, const unsigned char *id, int last)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = (size_t)snprintf(out, 16, "f/n/%d", level);
    for (int i = 0; i < level; i++)
        out[n++] = hex[i == level - 1 && last >= 0 ? last : nibble(id, i)];
    return n;
}

static int get32(ss_store *s, MDB_txn *txn, const char *k, size_t klen, unsigned char out[32],
                 ss_error *e)
{
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

static int put32(ss_store *s, MDB_txn *txn, const char *k, size_t klen, const unsigned char d[32],
                 ss_error *e)
{
    static const unsigned char zero[32];
    if (memcmp(d, zero, 32) == 0)
        return st_del(s, txn, ST_DB_META, k, klen, e);
    return st_put(s, txn, ST_DB_META, k, klen, d, 32, e);
}

/* The bucket of id's 12-bit prefix, from the stored per-key digests. */
static int bucket_digest(ss_store *s, MDB_txn *txn, const unsigned char *id, unsigned char out[32],
                         ss_error *e)
{
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

/* node(level, prefix of id) from its 16 stored children, with child `own` = d. */
static int node_digest(ss_store *s, MDB_txn *txn, const unsigned char *id, int level, int own,
                       const unsigned char d[32], unsigned char out[32], ss_error *e)
{
    unsigned char buf[1 + 16 * 32];
    static const unsigned char zero[32];
    buf[0] = 'n';
    int empty = 1;
    for (int ch = 0; ch < 16; ch++) {
        unsigned char *slot = buf + 1 + 32 * ch;
        if (ch == own) {
            memcpy(slot, d, 32);
        } else {
            char k[16];
            /* a child's key: this node's prefix plus nibble ch */
            size_t kl = node_key(k, level + 1, id, ch);
            int rc = get32(s, txn, k, kl, slot, e);
            if (rc != SU_OK)
                return rc;
        }
        empty &= memcmp(slot, zero, 32) == 0;
    }
    if (empty) {
        memset(out, 0, 32);
        return SU_OK;
    }
    return st_sha256(s, buf, sizeof(buf), NULL, 0, out) ? SU_OK
                                                        : su_err(e, SU_EIO, "SHA-256 failed");
}

/* Climbs from the bucket of id to the root; with store != 0 writes each node. */
static int climb(ss_store *s, MDB_txn *txn, const unsigned char *id, int store,
                 unsigned char root[32], ss_error *e)
{
    unsigned char d[32];
    char k[16];
    int rc = bucket_digest(s, txn, id, d, e);
    if (rc == SU_OK && store) {
        size_t kl = node_key(k, DEPTH, id, -1);
        rc = put32(s, txn, k, kl, d, e);
    }
    for (int level = DEPTH - 1; rc == SU_OK && level >= 0; level--) {
        rc = node_digest(s, txn, id, level, nibble(id, level), d, d, e);
        if (rc == SU_OK && store) {
            size_t kl = node_key(k, level, id, -1);
            rc = put32(s, txn, k, kl, d, e);
        }
    }
    if (rc == SU_OK)
        memcpy(root, d, 32);
    return rc;
}

int st_fresh_update(ss_store *s, MDB_txn *txn, const unsigned char *id, ss_error *e)
{
    unsigned char kd[32], root[32];
    char k[4 + SS_KEY_ID_LEN];
    int present;
    int rc = key_digest(s, txn, id, kd, &present, e);
    kd_key(k, id);
    if (rc == SU_OK)
        rc = present ? st_put(s, txn, ST_DB_META, k, sizeof(k), kd, 32, e)
                     : st_del(s, txn, ST_DB_META, k, sizeof(k), e);
    return rc == SU_OK ? climb(s, txn, id, 1, root, e) : rc;
}

int st_fresh_root(ss_store *s, MDB_txn *txn, unsigned char root[32], ss_error *e)
{
    return get32(s, txn, "f/n/0", 5, root, e);
}

int st_fresh_check(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, ss_error *e)
{
    unsigned char kd[32], stored[32], root[32], want[32];
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
    if (rc == SU_OK)
        rc = climb(s, txn, k->id, 0, root, e);
    if (rc == SU_OK)
        rc = st_audit_head_root(s, txn, want, e);
    if (rc == SU_OK && CRYPTO_memcmp(root, want, 32) != 0)
        return su_err(e, SU_EINTEGRITY,
                      "key %s: keystore records do not match the authenticated audit head "
                      "(replaced or rolled back)",
                      k->label);
    return rc;
}

/* Whole-store check for `audit verify`: every key's digest against its records,
 * and the root rebuilt bottom-up from all digests against the head. */
int st_fresh_verify_all(ss_store *s, MDB_txn *txn, ss_error *e)
{
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
        if (rc == SU_OK && (EVP_DigestUpdate(c, id, SS_KEY_ID_LEN) != 1 ||
                            EVP_DigestUpdate(c, kd, 32) != 1))
            rc = su_err(e, SU_EIO, "SHA-256 failed");
    }
    if (rc == SU_OK && mrc != MDB_NOTFOUND)
        rc = st_mdb_err(s, mrc, "reading keys", e);
    if (rc == SU_OK && bucket >= 0 && EVP_DigestFinal_ex(c, nodes[bucket], NULL) != 1)
        rc = su_err(e, SU_EIO, "SHA-256 failed");
    if (cur != NULL)
        mdb_cursor_close(cur);
    /* fold 16 children into their parent, level by level, in place */
    static const unsigned char zero[32];
    for (int width = BUCKETS / 16; rc == SU_OK && width >= 1; width /= 16) {
        for (int p = 0; p < width; p++) {
            unsigned char buf[1 + 16 * 32];
            int empty = 1;
            buf[0] = 'n';
            for (int ch = 0; ch < 16; ch++) {
                memcpy(buf + 1 + 32 * ch, nodes[p * 16 + ch], 32);
                empty &= memcmp(nodes[p * 16 + ch], zero, 32) == 0;
            }
            if (empty)
                memset(nodes[p], 0, 32);
            else if (!st_sha256(s, buf, sizeof(buf), NULL, 0, nodes[p]))
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
