/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sealed backups. The file is
 *
 *   "SEALHSM-BACKUP-1" | u32 version | store id (16) | SO slot (u32 len + bytes)
 *   | u64 created (ms) | u32 ntables | per table: u8 table, u64 count,
 *     count x (u32 klen, key, u32 vlen, value)
 *   | HMAC-SHA256(k_backup, all of the above)
 *   | SHA-256(all of the above)
 *
 * Every table is copied as stored: key records stay sealed under the master key,
 * PIN slots stay wrapped under their PINs. Nothing in the file is plaintext
 * secret. The trailing unkeyed SHA-256 tells damage (exit 6) apart from a wrong
 * SO PIN before any KDF work; the HMAC is what makes the file authentic. Restore
 * checks both, parses everything, and only then creates anything.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "SEALHSM-BACKUP-1"
#define MAGIC_LEN 16
#define BACKUP_VERSION 1
#define MAX_BACKUP ((size_t)1 << 34)

typedef struct writer {
    FILE *f;
    EVP_MAC_CTX *mac;
    int failed;
} writer;

static void w_put(writer *w, const void *p, size_t n) {
    if (w->failed || n == 0)
        return;
    if (fwrite(p, 1, n, w->f) != n || EVP_MAC_update(w->mac, p, n) != 1)
        w->failed = 1;
}

static void w_u32(writer *w, uint32_t v) {
    unsigned char b[4];
    su_be32(b, v);
    w_put(w, b, 4);
}

static void w_u64(writer *w, uint64_t v) {
    unsigned char b[8];
    su_be64(b, v);
    w_put(w, b, 8);
}

static bool checksum_file(ss_store *s, FILE *f, unsigned char out[32]) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char buf[65536];
    int ok = c != NULL && EVP_DigestInit_ex2(c, s->sha256, NULL) == 1 && fseek(f, 0, SEEK_SET) == 0;
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        ok = EVP_DigestUpdate(c, buf, n) == 1;
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(c, out, NULL) == 1 && fseek(f, 0, SEEK_END) == 0;
    EVP_MD_CTX_free(c);
    return ok;
}

static int dump_table(ss_store *s, MDB_txn *txn, int db, writer *w, ss_error *e) {
    MDB_stat st;
    MDB_cursor *cur;
    int mrc = mdb_stat(txn, s->dbi[db], &st);
    if (mrc == 0)
        mrc = mdb_cursor_open(txn, s->dbi[db], &cur);
    if (mrc != 0)
        return st_mdb_err(s, mrc, "reading for the backup", e);
    uint8_t t = (uint8_t)db;
    w_put(w, &t, 1);
    w_u64(w, st.ms_entries);
    MDB_val k, v;
    uint64_t n = 0;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
        w_u32(w, (uint32_t)k.mv_size);
        w_put(w, k.mv_data, k.mv_size);
        w_u32(w, (uint32_t)v.mv_size);
        w_put(w, v.mv_data, v.mv_size);
    }
    mdb_cursor_close(cur);
    if (mrc != MDB_NOTFOUND)
        return st_mdb_err(s, mrc, "reading for the backup", e);
    if (n != st.ms_entries)
        return su_err(e, SU_EIO, "keystore %s changed during the backup", s->path);
    return SU_OK;
}

static int write_backup(ss_store *s, MDB_txn *txn, const char *tmp, ss_error *e) {
    MDB_val so;
    int rc = st_get(s, txn, ST_DB_META, "slot/so", 7, &so, e);
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_EINTEGRITY, "keystore %s has no SO slot", s->path);
    if (rc != SU_OK)
        return rc;
    writer w = {0};
    /* 0600 whatever the umask: the file holds every PIN slot, open to offline
     * guessing by whoever can read it (docs/security.md, "Backups") */
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    w.f = fd < 0 ? NULL : fdopen(fd, "w+b");
    if (w.f == NULL) {
        rc = su_err(e, SU_EIO, "cannot create %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    w.mac = st_hmac_new(s, s->k_backup);
    if (w.mac == NULL)
        w.failed = 1;
    w_put(&w, MAGIC, MAGIC_LEN);
    w_u32(&w, BACKUP_VERSION);
    w_put(&w, s->store_id, SS_STORE_ID_LEN);
    w_u32(&w, (uint32_t)so.mv_size);
    w_put(&w, so.mv_data, so.mv_size);
    w_u64(&w, (uint64_t)su_now_ms());
    w_u32(&w, ST_DB_COUNT);
    for (int db = 0; db < ST_DB_COUNT && rc == SU_OK && !w.failed; db++)
        rc = dump_table(s, txn, db, &w, e);
    unsigned char mac[ST_MAC_LEN], sum[32];
    size_t maclen = 0;
    int ok = !w.failed && EVP_MAC_final(w.mac, mac, &maclen, sizeof(mac)) == 1 &&
             maclen == ST_MAC_LEN && fwrite(mac, 1, ST_MAC_LEN, w.f) == ST_MAC_LEN &&
             fflush(w.f) == 0;
    /* the checksum covers the file as written, read back from disk */
    ok = ok && checksum_file(s, w.f, sum) && fwrite(sum, 1, 32, w.f) == 32 && fflush(w.f) == 0 &&
         fsync(fileno(w.f)) == 0;
    if (!ok && rc == SU_OK) {
        rc = su_err(e, SU_EIO, "cannot write %s: %s", tmp, strerror(errno));
    }
    EVP_MAC_CTX_free(w.mac);
    if (fclose(w.f) != 0 && rc == SU_OK)
        rc = su_err(e, SU_EIO, "cannot write %s: %s", tmp, strerror(errno));
    return rc;
}

int ss_backup(ss_store *s, const char *out_path, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_SO, "backup", e);
    if (rc != SU_OK)
        return rc;
    char tmp[PATH_MAX], reason[PATH_MAX + 32];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out_path, (long)getpid()) >= (int)sizeof(tmp))
        return su_err(e, SU_EUSAGE, "backup path too long");
    snprintf(reason, sizeof(reason), "backup to %s", out_path);
    MDB_txn *txn;
    if ((rc = st_txn(s, 1, &txn, e)) != SU_OK)
        return rc;
    /* the backup carries its own audit record, so the restored chain shows it */
    st_audit_in in = {.op = SS_OP_BACKUP, .outcome = SS_OUT_OK, .reason = reason};
    rc = st_audit_append(s, txn, &in, e);
    if (rc == SU_OK)
        rc = write_backup(s, txn, tmp, e);
    if (rc != SU_OK) {
        unlink(tmp);
        mdb_txn_abort(txn);
        st_audit_in fail = {
            .op = SS_OP_BACKUP, .outcome = SS_OUT_ERROR, .reason = e ? e->msg : reason};
        st_audit_log(s, &fail, NULL);
        return rc;
    }
    /* The record commits before the file appears under its name: a crash in between
     * leaves a record of an attempted backup, never a backup without a record. */
    if ((rc = st_commit(s, txn, e)) != SU_OK) {
        unlink(tmp);
        return rc;
    }
    if (rename(tmp, out_path) != 0) {
        rc = su_err(e, SU_EIO, "cannot write %s: %s", out_path, strerror(errno));
        unlink(tmp);
        st_audit_in fail = {
            .op = SS_OP_BACKUP, .outcome = SS_OUT_ERROR, .reason = e ? e->msg : "rename failed"};
        st_audit_log(s, &fail, NULL);
        return rc;
    }
    return SU_OK;
}

/* ---- restore ---------------------------------------------------------------------- */

typedef struct entry {
    const unsigned char *k, *v;
    size_t klen, vlen;
} entry;

typedef struct parsed {
    entry *tables[ST_DB_COUNT];
    uint64_t counts[ST_DB_COUNT];
} parsed;

static void parsed_free(parsed *p) {
    for (int i = 0; i < ST_DB_COUNT; i++)
        free(p->tables[i]);
}

static int bad(const char *path, ss_error *e, const char *why) {
    return su_err(e, SU_EINTEGRITY, "backup %s is corrupt or truncated (%s): nothing restored",
                  path, why);
}

static int parse_tables(su_rd *r, parsed *p, const char *path, ss_error *e) {
    uint32_t ntables;
    if (!su_rd_u32(r, &ntables) || ntables != ST_DB_COUNT)
        return bad(path, e, "table count");
    for (uint32_t i = 0; i < ntables; i++) {
        uint8_t t;
        uint64_t n;
        if (!su_rd_u8(r, &t) || t != i || !su_rd_u64(r, &n) || n > r->left / 8)
            return bad(path, e, "table header");
        p->tables[t] = calloc(n ? n : 1, sizeof(entry));
        if (p->tables[t] == NULL)
            return su_err(e, SU_EIO, "out of memory");
        p->counts[t] = n;
        for (uint64_t j = 0; j < n; j++) {
            entry *en = &p->tables[t][j];
            if (!su_rd_bytes(r, &en->k, &en->klen, 511) || en->klen == 0 ||
                !su_rd_bytes(r, &en->v, &en->vlen, 1u << 24))
                return bad(path, e, "entry");
        }
    }
    return r->left == 0 ? SU_OK : bad(path, e, "trailing data");
}

static int load_tables(ss_store *s, const parsed *p, ss_error *e) {
    MDB_txn *txn;
    int rc = st_txn(s, 1, &txn, e);
    for (int t = 0; t < ST_DB_COUNT && rc == SU_OK; t++) {
        for (uint64_t j = 0; j < p->counts[t] && rc == SU_OK; j++) {
            const entry *en = &p->tables[t][j];
            /* PIN try counters start afresh: restore is how a locked SO is recovered */
            if (t == ST_DB_META && ((en->klen > 6 && memcmp(en->k, "tries/", 6) == 0) ||
                                    (en->klen > 8 && memcmp(en->k, "pending/", 8) == 0)))
                continue;
            rc = st_put(s, txn, t, en->k, en->klen, en->v, en->vlen, e);
        }
    }
    if (rc == SU_OK) {
        MDB_val v;
        rc = st_get(s, txn, ST_DB_META, "max_tries", 9, &v, e);
        if (rc == SU_OK && v.mv_size == 4)
            s->max_tries = su_get_be32(v.mv_data);
        else
            rc = su_err(e, SU_EINTEGRITY, "backup has no PIN try limit");
    }
    if (rc == SU_OK) {
        /* a backup of an older format is upgraded as it is restored (upgrade.c) */
        s->format = 1;
        rc = st_upgrade_in(s, txn, e);
    }
    if (rc == SU_OK) {
        char reason[PATH_MAX + 32];
        snprintf(reason, sizeof(reason), "restored from a backup into %s", s->path);
        st_audit_in in = {.op = SS_OP_RESTORE, .outcome = SS_OUT_OK, .reason = reason};
        rc = st_audit_append(s, txn, &in, e);
    }
    if (rc == SU_OK)
        return st_commit(s, txn, e);
    if (txn != NULL)
        mdb_txn_abort(txn);
    return rc;
}

static int restore_into(ss_store *t, const parsed *p, ss_error *e) {
    int rc = st_make_dirs(t->path, e);
    if (rc != SU_OK)
        return rc;
    rc = st_env_open(t, 1, e);
    if (rc == SU_OK)
        rc = load_tables(t, p, e);
    return rc;
}

/* The keystore's own meta entries must agree with the backup's header. */
static int check_meta(const parsed *p, const unsigned char *store_id, const char *path,
                      ss_error *e) {
    int have_id = 0, have_fmt = 0;
    for (uint64_t j = 0; j < p->counts[ST_DB_META]; j++) {
        const entry *en = &p->tables[ST_DB_META][j];
        if (en->klen == 8 && memcmp(en->k, "store_id", 8) == 0)
            have_id = en->vlen == SS_STORE_ID_LEN && memcmp(en->v, store_id, SS_STORE_ID_LEN) == 0;
        if (en->klen == 6 && memcmp(en->k, "format", 6) == 0)
            have_fmt =
                en->vlen == 4 && su_get_be32(en->v) >= 1 && su_get_be32(en->v) <= ST_FORMAT_VERSION;
    }
    if (!have_fmt)
        return su_err(e, SU_EIO, "backup %s holds a keystore format this sealhsm cannot read",
                      path);
    if (!have_id)
        return bad(path, e, "keystore id");
    return SU_OK;
}

/* The header every backup starts with (see the top of this file). */
typedef struct header {
    unsigned char store_id[SS_STORE_ID_LEN];
    uint32_t version;
    const unsigned char *slot;
    size_t slotlen;
    uint64_t created;
} header;

#define HEADER_MAX (MAGIC_LEN + 4 + SS_STORE_ID_LEN + 4 + 1024 + 8)

static int read_header(su_rd *r, header *h, const char *path, ss_error *e) {
    unsigned char magic[MAGIC_LEN];
    su_rd_raw(r, magic, MAGIC_LEN);
    su_rd_u32(r, &h->version);
    su_rd_raw(r, h->store_id, SS_STORE_ID_LEN);
    su_rd_bytes(r, &h->slot, &h->slotlen, 1024);
    su_rd_u64(r, &h->created);
    if (r->failed || memcmp(magic, MAGIC, MAGIC_LEN) != 0)
        return bad(path, e, "not a sealhsm backup");
    if (h->version != BACKUP_VERSION)
        return su_err(e, SU_EIO, "backup %s has version %u; this sealhsm reads version %u", path,
                      h->version, BACKUP_VERSION);
    return SU_OK;
}

int ss_backup_info(const char *in_path, int64_t *created_ms,
                   unsigned char store_id[SS_STORE_ID_LEN], ss_error *e) {
    FILE *f = fopen(in_path, "rb");
    if (f == NULL)
        return su_err(e, errno == ENOENT ? SU_ENOTFOUND : SU_EIO, "cannot open %s: %s", in_path,
                      strerror(errno));
    unsigned char buf[HEADER_MAX];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    su_rd r;
    su_rd_init(&r, buf, n);
    header h;
    int rc = read_header(&r, &h, in_path, e);
    if (rc == SU_OK) {
        *created_ms = (int64_t)h.created;
        memcpy(store_id, h.store_id, SS_STORE_ID_LEN);
    }
    return rc;
}

int ss_restore(const char *in_path, const char *new_dir, const su_pin *so_pin, OSSL_LIB_CTX *libctx,
               ss_error *e) {
    unsigned char *buf = NULL, sum[32];
    size_t n = 0;
    int rc = st_check_restore_target(new_dir, e);
    if (rc == SU_OK)
        rc = su_read_file(in_path, MAX_BACKUP, &buf, &n, e);
    if (rc != SU_OK)
        return rc;
    ss_store *t = st_store_new(new_dir, libctx, NULL);
    if (t == NULL) {
        free(buf);
        return su_err(e, SU_EIO, "out of memory");
    }
    if (n < MAGIC_LEN + 4 + SS_STORE_ID_LEN + 4 + 8 + 4 + ST_MAC_LEN + 32 ||
        !st_sha256(t, buf, n - 32, NULL, 0, sum) || CRYPTO_memcmp(sum, buf + n - 32, 32) != 0) {
        st_store_free(t);
        free(buf);
        return bad(in_path, e, "checksum mismatch");
    }
    size_t body = n - 32 - ST_MAC_LEN;
    su_rd r;
    su_rd_init(&r, buf, body);
    header h;
    st_slot slot;
    unsigned char *store_id = h.store_id;
    rc = read_header(&r, &h, in_path, e);
    if (rc == SU_OK && (!st_slot_decode(h.slot, h.slotlen, &slot) || slot.role != SS_ROLE_SO))
        rc = bad(in_path, e, "SO slot");
    unsigned char *mk = rc == SU_OK ? OPENSSL_secure_zalloc(ST_KEY_LEN) : NULL;
    if (rc == SU_OK && mk == NULL)
        rc = su_err(e, SU_EIO, "out of secure memory");
    if (rc == SU_OK) {
        memcpy(t->store_id, store_id, SS_STORE_ID_LEN);
        rc = st_slot_open(t, &slot, so_pin, mk, e);
        if (rc == SU_EPIN)
            rc = su_err(e, SU_EPIN, "wrong SO PIN for backup %s", in_path);
    }
    if (rc == SU_OK)
        rc = st_session_keys(t, mk, 1, e);
    unsigned char mac[ST_MAC_LEN];
    if (rc == SU_OK && (!st_hmac(t, t->k_backup, buf, body, NULL, 0, mac) ||
                        CRYPTO_memcmp(mac, buf + body, ST_MAC_LEN) != 0))
        rc = su_err(e, SU_EINTEGRITY,
                    "backup %s fails its authentication check (altered?): nothing restored",
                    in_path);
    parsed p;
    memset(&p, 0, sizeof(p));
    if (rc == SU_OK)
        rc = parse_tables(&r, &p, in_path, e);
    if (rc == SU_OK)
        rc = check_meta(&p, store_id, in_path, e);
    int created_any = 0;
    if (rc == SU_OK) {
        created_any = 1;
        rc = restore_into(t, &p, e);
    }
    parsed_free(&p);
    if (mk != NULL)
        OPENSSL_secure_clear_free(mk, ST_KEY_LEN);
    OPENSSL_cleanse(&slot, sizeof(slot));
    st_store_free(t);
    if (rc != SU_OK && created_any)
        st_remove_store_files(new_dir);
    free(buf);
    return rc;
}
