/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to store/: the handle, the on-disk records and the helpers the verbs share.
 * One section per file, bottom floor first: a file calls only into the files of the
 * sections above its own (scripts/check-layers prints what is left of the one cycle).
 */
#ifndef SEALSTORE_INTERNAL_H
#define SEALSTORE_INTERNAL_H

#include "sealstore.h"

#include <lmdb.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sys/types.h>

#define ST_FORMAT_VERSION 2 /* 2: head covers settings, slots, officers and the clock */
#define ST_KEY_LEN 32
#define ST_MAC_LEN 32
#define ST_SALT_LEN 16
#define ST_NONCE_LEN 12
#define ST_TAG_LEN 16
#define ST_SESSION_KEYS 5 /* master key + four HKDF subkeys */
#define ST_FRESH_CACHE 64
#define ST_FRESH_BATCH 256

/* Named databases of the LMDB environment. */
enum {
    ST_DB_META,        /* format, ids, params, PIN slots, try counters, audit head */
    ST_DB_KEYS,        /* key id -> sealed key record */
    ST_DB_LABELS,      /* label -> key id */
    ST_DB_USAGE,       /* key id -> MACed usage counters */
    ST_DB_AUDIT,       /* big-endian seq -> audit record */
    ST_DB_CERTS,       /* key id -> MACed certificate chain */
    ST_DB_OFFICERS,    /* officer name -> PIN slot */
    ST_DB_ACTIVATIONS, /* key id -> MACed approvals and activation */
    ST_DB_COUNT
};

typedef struct st_env st_env; /* process-wide shared LMDB environment (env.c) */
typedef struct st_cached_key st_cached_key;
/* records (record.c), named before their section by policy.c and keycache.c */
typedef struct st_keyrec st_keyrec;
typedef struct st_usage st_usage;
typedef struct st_activation st_activation;

/* A signature waiting for its durable commit (gate.c). */
typedef struct st_gate_item {
    const unsigned char *id;
    const ss_sign_req *req;
    unsigned char th[64]; /* the to-be-signed hash for the audit record */
    size_t thlen;
    int rc;
    ss_error err;
    int done;
    struct st_gate_item *next;
} st_gate_item;

/* A signature of a key with `--audit batched`, released before its record commits. */
typedef struct st_batched {
    unsigned char id[SS_KEY_ID_LEN];
    char digest[32];
    unsigned char th[64];
    size_t thlen;
    int has_signer; /* signer (its strings in user/program) stands for a daemon client */
    ss_signer signer;
    char user[64], program[64];
    struct st_batched *next;
} st_batched;

/* The committer of a store handle (gate.c): concurrent signers share transactions. */
typedef struct st_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    st_gate_item *head, *tail; /* signatures waiting for their commit */
    st_batched *bhead, *btail; /* batched records waiting for the next commit */
    pthread_cond_t bcv;        /* wakes the committer */
    pthread_t committer;       /* the committer thread */
    int committer_running, committer_stop;
    int batch_failed; /* a flush failed: batched keys stop signing */
    ss_error batch_err;
    int returning;  /* signers the last commit released that have not submitted again */
    long linger_us; /* how long a commit waits for them: half the last commit's time */
    pid_t pid;      /* the process whose committer and queues these are (fork check) */
} st_gate;

struct ss_store {
    char *path;
    st_env *shared;
    MDB_env *env;
    MDB_dbi dbi[ST_DB_COUNT];
    OSSL_LIB_CTX *libctx;
    char *propq;
    unsigned char store_id[SS_STORE_ID_LEN];
    char label[SS_STORE_LABEL_MAX + 1];
    uint32_t max_tries;
    int syslog;      /* copy committed audit records to syslog */
    uint32_t format; /* the keystore's format version (upgraded at login) */
    /* the write transaction in progress changed settings, slots or officers
     * (fresh_global.c): its audit append may move the head's digest of them */
    int global_dirty;
    int clock_rebase; /* `clock accept`: the next append sets the clock floor to now */
    int fresh_moved;  /* the write transaction in progress moved the freshness root */

    /* session: set by ss_login, wiped by ss_logout */
    ss_role role;
    char *officer;
    unsigned char *keys;     /* secure heap: ST_SESSION_KEYS * ST_KEY_LEN */
    const unsigned char *mk; /* the master key: kept for SO sessions only, else NULL */
    const unsigned char *k_seal, *k_mac, *k_audit, *k_backup;

    st_gate gate;

    /* fetched once (crypto.c) */
    EVP_MD *sha256;
    EVP_CIPHER *gcm;
    EVP_MAC *hmac;
    EVP_MAC_CTX *mac_tmpl, *audit_tmpl; /* keyed with k_mac / k_audit for the session */
    /* keyed HMAC contexts ready for reuse (re-initialized, not re-allocated) */
    pthread_mutex_t mac_mu;
    EVP_MAC_CTX *mac_free[2][8];
    int mac_nfree[2];
    EVP_MD_CTX *md_free[8]; /* SHA-256 contexts, same lock */
    int md_nfree;

    /* unsealed keys kept for signing, only when the secure heap is on (keycache.c) */
    pthread_mutex_t cache_mu;
    st_cached_key *cache;

    /* freshness: what this handle last verified or wrote (fresh.c) */
    pthread_mutex_t fresh_mu;
    unsigned char fresh_root[32];
    int fresh_have_root, fresh_n;
    unsigned char fresh_ids[ST_FRESH_CACHE][SS_KEY_ID_LEN], fresh_kds[ST_FRESH_CACHE][32];
    /* tree updates put off to the end of a committer transaction */
    int fresh_defer;
    size_t fresh_ndirty;
    unsigned char fresh_dirty[ST_FRESH_BATCH][SS_KEY_ID_LEN];

    uint64_t last_seq; /* the audit record this handle appended last */
    unsigned char last_hash[32];

    char user[64], program[64]; /* who, for audit records */
    uint32_t uid;               /* whose name user is */
};

/* ==== floor 0: files that call nothing else in store/ ========================================= */
/* ---- names.c: spellings and names, used inside the store only (and by the fuzzers) ----------- */

/* EC curve name ("P-256") or NULL. */
const char *ss_keytype_curve(ss_keytype t);
/* One spelling per digest for records and messages: the policy spelling, "sha1" /
 * "md5" for the forbidden families, "none" for NULL (EdDSA), else lowercased into buf. */
const char *ss_digest_canon(const char *name, char *buf, size_t n);
/* Output size in bytes of one digest flag, 0 if not a single known flag. */
size_t ss_digest_size(unsigned flag);
/* SU_EUSAGE unless label is a valid key label (non-empty, short, no control characters). */
int st_label_valid(const char *label, ss_error *e);
/* The id of a key for messages: its label, or its hex id. */
void st_key_name(char *out, size_t outlen, const char *label, const unsigned char *id);

/* ---- session.c: who the handle is and the role checks of the verbs --------------------------- */

/* The OS user named in audit records, looked up again when the uid changed. */
void st_who(ss_store *s);
int st_require_role(ss_store *s, ss_role role, const char *what, ss_error *e);
int st_require_login(ss_store *s, const char *what, ss_error *e);

/* ---- env.c: LMDB environment, transactions, errors ------------------------------------------- */

/* Opens (or shares) the environment of dir; create=1 creates the named databases. */
int st_env_open(ss_store *s, int create, ss_error *e);
void st_env_close(ss_store *s);
/* Closes and reopens the environment, e.g. after the data file was replaced.
 * Fails unless this handle is the environment's only user in the process. */
int st_env_exclusive(ss_store *s, ss_error *e);
int st_env_reopen(ss_store *s, ss_error *e);

int st_txn(ss_store *s, int write, MDB_txn **txn, ss_error *e);
/* Queues a syslog line for the write transaction in progress; sent after its commit. */
void st_syslog_add(ss_store *s, int denied, const char *line);
/* A cursor on one table in txn; `what` names the activity in error messages. */
int st_cursor(ss_store *s, MDB_txn *txn, int db, MDB_cursor **cur, const char *what, ss_error *e);
/* Closes the cursor of a walk that stopped on mrc (the last mdb_cursor_get result) with rc;
 * returns rc, or st_mdb_err's error when rc is SU_OK and the walk did not reach the end. */
int st_cursor_end(ss_store *s, MDB_cursor *cur, int rc, int mrc, const char *what, ss_error *e);
/* A read transaction with a cursor on one table; end both with st_read_end. */
int st_read_cursor(ss_store *s, int db, MDB_txn **txn, MDB_cursor **cur, const char *what,
                   ss_error *e);
void st_read_end(MDB_txn *txn, MDB_cursor *cur);
/* Commits; on failure the transaction is gone and e says why. */
int st_commit(ss_store *s, MDB_txn *txn, ss_error *e);
/* Maps an LMDB return code to SU_* with a message naming the keystore. */
int st_mdb_err(ss_store *s, int rc, const char *what, ss_error *e);

int st_get(ss_store *s, MDB_txn *txn, int db, const void *k, size_t klen, MDB_val *v,
           ss_error *e); /* SU_ENOTFOUND when absent (no message set) */
int st_put(ss_store *s, MDB_txn *txn, int db, const void *k, size_t klen, const void *v,
           size_t vlen, ss_error *e);
int st_del(ss_store *s, MDB_txn *txn, int db, const void *k, size_t klen, ss_error *e);

/* ---- crypto.c: the symmetric primitives in the handle's library context ---------------------- */

int st_random(ss_store *s, unsigned char *out, size_t n, ss_error *e);
int st_argon2id(const su_pin *pin, const unsigned char salt[ST_SALT_LEN], uint32_t m_kib,
                uint32_t t, uint32_t p, unsigned char out[ST_KEY_LEN], ss_error *e);
/* The primitives below use the algorithms s fetched once from its library context
 * (s may be NULL: the default context, fetched per call). They return true when done,
 * false when OpenSSL failed (the caller names the object in its error). */
bool st_hkdf(const ss_store *s, const unsigned char *ikm, const unsigned char *salt, size_t saltlen,
             const char *info, unsigned char out[ST_KEY_LEN]);
/* A fresh HMAC-SHA256 context keyed with key (for streaming). */
EVP_MAC_CTX *st_hmac_new(const ss_store *s, const unsigned char *key);
/* HMAC-SHA256 over a || b; with s->k_mac or s->k_audit it reuses a keyed template. */
bool st_hmac(const ss_store *s, const unsigned char key[ST_KEY_LEN], const void *a, size_t alen,
             const void *b, size_t blen, unsigned char out[ST_MAC_LEN]);
bool st_sha256(const ss_store *s, const void *a, size_t alen, const void *b, size_t blen,
               unsigned char out[32]);
/* AES-256-GCM. seal: out gets ct||tag (len + ST_TAG_LEN). open: out gets len - ST_TAG_LEN
 * bytes; false on tag mismatch (out is then wiped). */
bool st_gcm_seal(const ss_store *s, const unsigned char key[ST_KEY_LEN],
                 const unsigned char nonce[ST_NONCE_LEN], const void *aad, size_t aadlen,
                 const unsigned char *in, size_t len, unsigned char *out);
bool st_gcm_open(const ss_store *s, const unsigned char key[ST_KEY_LEN],
                 const unsigned char nonce[ST_NONCE_LEN], const void *aad, size_t aadlen,
                 const unsigned char *in, size_t len, unsigned char *out);
/* Fetches the algorithms once per handle; keyed MAC templates once per session. */
bool st_algs_fetch(ss_store *s);
void st_algs_free(ss_store *s);
bool st_mac_templates(ss_store *s);
void st_mac_templates_free(ss_store *s);

/* ---- pkcs8.c: PKCS#8 DER of a private key and back ------------------------------------------- */

/* PKCS#8 DER of pkey in secure memory; free with OPENSSL_secure_clear_free(der, len). */
int st_pkcs8(const EVP_PKEY *pkey, unsigned char **der, size_t *len, ss_error *e);
int st_pkey_from_pkcs8(ss_store *s, const unsigned char *der, size_t len, EVP_PKEY **out,
                       ss_error *e);

/* ---- keycache.c: unsealed keys, secure heap only --------------------------------------------- */

/* The cached key of this record (a new reference), or NULL. */
EVP_PKEY *st_keycache_get(ss_store *s, const st_keyrec *r);
void st_keycache_put(ss_store *s, const st_keyrec *r, EVP_PKEY *pkey);
void st_keycache_clear(ss_store *s);

/* ==== floor 1 ================================================================================= */
/* ---- slot.c: PIN slots (the master key wrapped under Argon2id(PIN)) -------------------------- */

typedef struct st_slot {
    uint8_t role;
    char name[SS_OFFICER_NAME_MAX + 1];
    uint32_t m_kib, t, p;
    unsigned char salt[ST_SALT_LEN];
    unsigned char nonce[ST_NONCE_LEN];
    unsigned char wrapped[ST_KEY_LEN + ST_TAG_LEN];
} st_slot;

int st_slot_make(ss_store *s, ss_role role, const char *name, const unsigned char *mk,
                 const su_pin *pin, uint32_t m_kib, uint32_t t, uint32_t p, st_slot *out,
                 ss_error *e);
/* Unwraps the master key of slot with pin into mk (ST_KEY_LEN bytes). Returns SU_OK;
 * SU_EPIN, e untouched, when pin does not open the slot (the caller counts the try and
 * names who); SU_EINTEGRITY for Argon2id parameters no keystore has, SU_EIO. */
int st_slot_open(ss_store *s, const st_slot *slot, const su_pin *pin, unsigned char *mk,
                 ss_error *e);
void st_slot_encode(const st_slot *slot, su_buf *out);
/* A stored slot; false when p[0..n) is not exactly one (the caller says which). */
bool st_slot_decode(const unsigned char *p, size_t n, st_slot *out);
/* meta key of a role's slot / try counter: "slot/so", "tries/officer/NAME", ... */
void st_slot_key(char *out, size_t outlen, const char *kind, ss_role role, const char *name);
/* Stores a role's slot in meta, an officer's in the officers table. */
int st_put_slot(ss_store *s, MDB_txn *txn, const st_slot *slot, ss_error *e);
/* Derives the session subkeys from the master key and stores them in s; keeps a
 * copy of the master key itself only when keep_mk (SO sessions, which rewrap it). */
int st_session_keys(ss_store *s, const unsigned char *mk, int keep_mk, ss_error *e);
/* The slot parameters of the user role (also used for key PINs). */
int st_user_kdf(ss_store *s, MDB_txn *txn, uint32_t *m_kib, uint32_t *t, uint32_t *p, ss_error *e);

/* ---- policy.c: key policies and the sign-time rules ------------------------------------------ */

/* A policy as stored in a key record; false when p[0..n) is not exactly one. */
bool st_policy_decode(const unsigned char *p, size_t n, ss_policy *out);
/* Everything the policy says about a signature except counters that need the write txn.
 * 0 = allowed; else SU_EPOLICY / SU_ENOTFOUND with the message "policy: key L: ...". */
int st_policy_check_static(ss_store *s, const ss_keyinfo *k, const ss_sign_req *req, int64_t now,
                           ss_error *e);
/* The counter rules (max-signatures, rate); updates u when allowed. */
int st_policy_check_counters(const ss_keyinfo *k, st_usage *u, int64_t now, ss_error *e);
int st_policy_check_activation(const ss_keyinfo *k, const st_activation *a, int64_t now,
                               ss_error *e);

/* ---- unseal.c: from an unsealed PKCS#8 buffer to a signing key ------------------------------- */

/* The signing key of an unsealed record, keeping private bytes in the secure heap. */
int st_pkey_unsealed(ss_store *s, const ss_keyinfo *k, const unsigned char *der, size_t len,
                     EVP_PKEY **out, ss_error *e);

/* ---- audit_record.c: the audit record format, its hash and its one decoder ------------------- */

/* Version 2 records add `via` after the program: written for signatures made for a
 * client of sealhsmd. Records of this process stay version 1, byte for byte. */
#define ST_AUDIT_VERSION 1
#define ST_AUDIT_VERSION_VIA 2
#define ST_AUDIT_VIA_DAEMON 1

/* A decoded record; strings are malloc'd (st_audit_rec_clear frees them). */
typedef struct st_audit_rec {
    ss_audit_rec pub;
    char *user, *program, *label, *reason, *digest;
    unsigned char tbs[64];
    size_t content_len;
} st_audit_rec;

/* The fields of a record, pointing into it: nothing is copied out. */
typedef struct st_audit_rec_view {
    uint64_t seq;
    uint64_t time;
    uint32_t uid, pid;
    uint8_t version, op, outcome, via;
    const unsigned char *user, *program, *kid, *label, *reason, *digest, *tbs, *prev;
    size_t user_len, program_len, kidlen, label_len, reason_len, digest_len, tbslen;
    size_t content_len;
    int auth;
    int failed_unlock; /* an unlock denied or failed: the only records written unMACed */
} st_audit_rec_view;

/* h = SHA-256("sealhsm-audit-v1" || content); false when hashing failed. */
bool st_audit_rec_hash(ss_store *s, const unsigned char *content, size_t n, unsigned char out[32]);
/* The fields of record p[0..n) without copying anything (the verify walk): true when
 * it is well formed, else false (v->seq is still set when n holds one). */
bool st_audit_rec_peek(const unsigned char *p, size_t n, st_audit_rec_view *v);
/* The record with its strings copied out: false when st_audit_rec_peek refuses it or
 * out of memory (r is then cleared). */
bool st_audit_rec_decode(const unsigned char *p, size_t n, st_audit_rec *r);
void st_audit_rec_clear(st_audit_rec *r);

/* ---- audit_head.c: the MACed audit head (meta "audit/head") ---------------------------------- */

typedef struct st_audit_head {
    int v2; /* the format 2 layout */
    uint64_t seq;
    unsigned char hash[32];
    uint64_t auth_seq;
    unsigned char auth_hash[32];
    unsigned char fresh_root[32]; /* root of the freshness tree (fresh.c) */
    unsigned char global[32];     /* settings, slots, officers (fresh_global.c) */
    int64_t floor_ms;             /* latest time an authenticated record was written */
    unsigned char mac[ST_MAC_LEN];
} st_audit_head;

/* The head's MAC under s->k_audit (zeros if HMAC fails), of its own layout. */
void st_audit_head_mac(ss_store *s, const st_audit_head *h, unsigned char out[ST_MAC_LEN]);
/* v2: the layout of format 2, or -1: whichever the stored head has. SU_OK with a zeroed
 * head when there is none (init); SU_EINTEGRITY when it is corrupt; env.c's errors. */
int st_audit_head_load_as(ss_store *s, MDB_txn *txn, st_audit_head *h, int v2, ss_error *e);
/* The same in the layout of the session (before a login: whichever is stored). */
int st_audit_head_load(ss_store *s, MDB_txn *txn, st_audit_head *h, ss_error *e);
/* Writes h in its layout (MAC as given). */
int st_audit_head_store(ss_store *s, MDB_txn *txn, const st_audit_head *h, ss_error *e);
/* The head of txn with its MAC checked: SU_EINTEGRITY when missing or failing it. */
int st_audit_head_authentic(ss_store *s, MDB_txn *txn, st_audit_head *h, ss_error *e);
/* The freshness root carried by the audit head, after checking the head's MAC. */
int st_audit_head_root(ss_store *s, MDB_txn *txn, unsigned char root[32], ss_error *e);
/* The head's digest of settings, slots and officers and its clock floor (either may
 * be NULL), after checking the head's MAC. */
int st_audit_head_state(ss_store *s, MDB_txn *txn, unsigned char global[32], int64_t *floor_ms,
                        ss_error *e);

/* ==== above the audit head (floor 1): the clock floor and the freshness bindings ============== */
/* ---- clock.c: the clock floor ---------------------------------------------------------------- */

/* The clock (now_ms) reads more than 5 minutes before floor_ms. */
bool st_clock_is_behind(int64_t now_ms, int64_t floor_ms);
/* SU_EPOLICY "clock: ..." for a clock reading now_ms, more than 5 minutes behind floor_ms. */
int st_clock_refusal(ss_store *s, int64_t now_ms, int64_t floor_ms, ss_error *e);
/* Sign-time rule `clock`: SU_EPOLICY "policy: key L: clock: ..." when now (seconds) is
 * more than 5 minutes behind floor_ms, the latest time the keystore recorded. */
int st_clock_rule(const ss_keyinfo *k, int64_t now, int64_t floor_ms, ss_error *e);
/* The same with the floor read from the authenticated head of txn. */
int st_clock_check(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, int64_t now, ss_error *e);

/* ---- fresh_global.c: settings, PIN slots and officers bound to the audit head ---------------- */

/* The digest of the stored list (meta "f/g") that the head carries. */
int st_fresh_global_digest(ss_store *s, MDB_txn *txn, unsigned char out[32], ss_error *e);
/* The settings, role slots and officer slots are the ones the authenticated head
 * names: SU_EINTEGRITY naming the first one that is not. Needs the audit key. */
int st_fresh_global_check(ss_store *s, MDB_txn *txn, ss_error *e);
/* After changing any of them (check first, before the change): records the new list;
 * the audit append of the same transaction puts its digest into the head. */
int st_fresh_global_update(ss_store *s, MDB_txn *txn, ss_error *e);

/* ---- fresh.c: records bound to the audit head (no replay of older copies) -------------------- */

/* After any write to a key's record, usage, activation or certificates (same txn). */
int st_fresh_update(ss_store *s, MDB_txn *txn, const unsigned char *id, ss_error *e);
/* Before enforcing policy: k's records are the latest ones and match the head. */
int st_fresh_check(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, ss_error *e);
/* Only the first half of that: k's records against its stored digest (`verify` checks
 * the tree once for all keys). */
int st_fresh_key_current(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, ss_error *e);
int st_fresh_root(ss_store *s, MDB_txn *txn, unsigned char root[32], ss_error *e);
/* Within one transaction, tree updates are collected (a key signed 50 times in one
 * group commit climbs once) and settled before the commit, which also puts the final
 * root into the audit head. */
void st_fresh_defer(ss_store *s);
int st_fresh_settle(ss_store *s, MDB_txn *txn, ss_error *e);
/* After a failed transaction: the collected updates died with it. */
void st_fresh_discard(ss_store *s);
/* Every key and the whole tree, for `audit verify`. */
int st_fresh_verify_all(ss_store *s, MDB_txn *txn, ss_error *e);
/* Recomputes every key's digest and the whole tree (format upgrade, rekey): the
 * caller has checked the records first. */
int st_fresh_rebuild(ss_store *s, MDB_txn *txn, ss_error *e);

/* Rewrites the head's freshness root (and MAC) after deferred tree updates. */
int st_audit_head_refresh(ss_store *s, MDB_txn *txn, ss_error *e);

/* ==== above those: the audit log, appended and verified ======================================= */
/* ---- audit.c: appending to the audit log (encoding, chaining, syslog) ------------------------ */

typedef struct st_audit_in {
    ss_audit_op op;
    ss_audit_outcome outcome;
    const unsigned char *key_id; /* NULL = none */
    const char *label;
    const char *reason;
    const char *digest;
    const unsigned char *tbs_hash;
    size_t tbs_hash_len;
    const ss_signer *signer; /* NULL: this process */
} st_audit_in;

/* Appends one record in txn (MACed when the session has the audit key). */
int st_audit_append(ss_store *s, MDB_txn *txn, const st_audit_in *in, ss_error *e);
/* Appends in a transaction of its own; for events outside another write. */
int st_audit_log(ss_store *s, const st_audit_in *in, ss_error *e);
/* SU_EINTEGRITY naming the record when a record after the authenticated head is not
 * a failed unlock chained to it (records are written without a MAC only before a
 * login). Needs the audit key. */
int st_audit_pending_check(ss_store *s, MDB_txn *txn, ss_error *e);
/* Rekey (rekey.c), after the session switched to the new keys: every authenticated
 * record and the head get their MACs under the new audit key. The caller checked the
 * log under the old key in the same transaction. *n counts the records re-MACed. */
int st_audit_remac(ss_store *s, MDB_txn *txn, uint64_t *n, ss_error *e);
/* Format 1 -> 2: checks the old head's MAC and rewrites it in the new layout with
 * the current freshness root and settings digest (upgrade.c). */
int st_audit_head_upgrade(ss_store *s, MDB_txn *txn, ss_error *e);

/* ---- audit_verify.c: reading and verifying the audit log ------------------------------------- */

/* ss_audit_verify with the log checked in two stretches split after record `at`
 * (0: one stretch; ST_AUDIT_SPLIT_HALF: in the middle, as ss_audit_verify does). */
#define ST_AUDIT_SPLIT_HALF UINT64_MAX
int st_audit_verify_at(ss_store *s, uint64_t at, ss_audit_report *r, ss_error *e);

/* ==== floor 2: records (above the freshness tree) ============================================= */
/* ---- record.c: key records ------------------------------------------------------------------- */

struct st_keyrec {
    ss_keyinfo info; /* label, type, origin, state, times, description, policy, spki */
    /* key PIN verifier: Argon2id(pin, salt) with the stored parameters */
    int has_kpin;
    uint32_t kpin_m, kpin_t, kpin_p;
    unsigned char kpin_salt[ST_SALT_LEN];
    unsigned char kpin_hash[ST_KEY_LEN];
    /* sealed PKCS#8: nonce and ct||tag; empty once destroyed */
    unsigned char nonce[ST_NONCE_LEN];
    unsigned char *sealed;
    size_t sealed_len;
};

void st_keyrec_clear(st_keyrec *r);
/* Encodes and MACs the record. */
int st_keyrec_encode(ss_store *s, const st_keyrec *r, su_buf *out, ss_error *e);
/* Decodes and checks the MAC; SU_EINTEGRITY naming `name` (label or id) on any fault. */
int st_keyrec_decode(ss_store *s, const unsigned char *p, size_t n, const char *name, st_keyrec *r,
                     ss_error *e);
/* Seals / unseals the PKCS#8 DER with AAD = the record's immutable attributes. */
int st_keyrec_seal(ss_store *s, st_keyrec *r, const unsigned char *der, size_t len, ss_error *e);
int st_keyrec_unseal(ss_store *s, const st_keyrec *r, unsigned char **der, size_t *len,
                     ss_error *e); /* der in secure heap; free with OPENSSL_secure_clear_free */

/* Loads a record by label or id inside txn (label index checked against the record). */
int st_key_load(ss_store *s, MDB_txn *txn, const char *label, const unsigned char *id, st_keyrec *r,
                ss_error *e);
/* Opens a transaction (write or not) and loads the key called label. Returns SU_OK with the
 * key live; SU_ENOTFOUND "was destroyed" for a destroyed one, still loaded, so that the verb can
 * record its refusal; or st_txn's / st_key_load's error with *txn NULL and nothing loaded.
 * Whenever *txn is not NULL the caller ends the transaction and clears r. */
int st_key_open(ss_store *s, int write, const char *label, MDB_txn **txn, st_keyrec *r,
                ss_error *e);
int st_key_store(ss_store *s, MDB_txn *txn, const st_keyrec *r, ss_error *e);
/* Deep copy / release of a key's public description. */
bool st_keyinfo_copy(const ss_keyinfo *src, ss_keyinfo **out);
void st_keyinfo_clear(ss_keyinfo *k);

/* ---- record.c (continued): MACed per-key usage counters -------------------------------------- */

struct st_usage {
    uint64_t signatures;
    int64_t last_used;
    int64_t window_start;
    uint32_t window_count;
};

int st_usage_load(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, st_usage *u, ss_error *e);
int st_usage_store(ss_store *s, MDB_txn *txn, const unsigned char id[SS_KEY_ID_LEN],
                   const st_usage *u, ss_error *e);

/* ---- record.c (continued): MACed approvals and activation of a key (officer.c) --------------- */

#define ST_MAX_APPROVALS 32
/* One officer's approval, of a key (officer.c) or of an officer change (quorum.c). */
typedef struct st_approval {
    char name[SS_OFFICER_NAME_MAX + 1];
    int64_t time;
} st_approval;
struct st_activation {
    int64_t expires; /* live activation end, 0 = none */
    uint32_t napprovals;
    st_approval approvals[ST_MAX_APPROVALS];
};

/* Renews the n approvals in v with the logged-in officer's, given at now: drops those
 * older than ttl, this officer's older one and (if still is not NULL) those whose officer
 * still() says is gone, then appends this officer's while there is room. Returns the new
 * count. Needs s->officer set. */
uint32_t st_approvals_renew(ss_store *s, MDB_txn *txn, st_approval *v, uint32_t n, int64_t ttl,
                            int64_t now, int (*still)(ss_store *, MDB_txn *, const char *));

int st_activation_load(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, st_activation *a,
                       ss_error *e);
int st_activation_store(ss_store *s, MDB_txn *txn, const unsigned char id[SS_KEY_ID_LEN],
                        const st_activation *a, ss_error *e);

/* ==== floor 3 ================================================================================= */
/* ---- finish.c: the end of a verb's write transaction ----------------------------------------- */

/* Commits txn when rc is SU_OK, else aborts it. Returns rc, or st_commit's error. */
int st_finish(ss_store *s, MDB_txn *txn, int rc, ss_error *e);
/* The same, appending the audit record in first when rc is SU_OK (no record for a
 * failed change). Returns rc, st_audit_append's or st_commit's error. */
int st_finish_audited(ss_store *s, MDB_txn *txn, int rc, const st_audit_in *in, ss_error *e);

/* ---- officer.c: approvals and activations ---------------------------------------------------- */

/* Takes officer name's pending approvals off every key and ends every live
 * activation (an activation does not record who granted it, so any could be theirs);
 * counts both for the audit record. */
int st_officer_withdraw(ss_store *s, MDB_txn *txn, const char *name, uint32_t *withdrawn,
                        uint32_t *ended, ss_error *e);
/* Ends key k's live activation, keeping its pending approvals; *ended says if one was. */
int st_activation_end(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, int *ended, ss_error *e);

/* ---- evaluate.c: the sign-time evaluation (the pre-check and the commit) --------------------- */

typedef enum {
    /* ss_sign's first look, before signing: no freshness check (the commit does it); the
     * clock rule only for batched keys (released before their commit), floor read from txn */
    ST_EVAL_PRECHECK,
    /* the committer's authoritative check: st_fresh_check, then the clock rule against
     * floor_ms (the floor of the head the write txn started from) */
    ST_EVAL_COMMIT,
} st_eval_mode;
/* Needs a txn (read or write) holding k's records. Runs, in this order: [freshness,] the
 * clock rule, usage and activation loads, st_policy_check_static, _activation, _counters;
 * the first refusal wins. 0 = allowed, with u loaded and updated for this signature (the
 * caller stores it); else SU_EPOLICY / SU_ENOTFOUND (refused), SU_EINTEGRITY, SU_EIO.
 * floor_ms is used only by ST_EVAL_COMMIT. */
int st_sign_eval(ss_store *s, MDB_txn *txn, st_eval_mode mode, int64_t floor_ms,
                 const ss_keyinfo *k, const ss_sign_req *req, int64_t now, st_usage *u,
                 ss_error *e);

/* ---- gate.c: the durable commit of signatures ------------------------------------------------ */

void st_gate_init(st_gate *g);
void st_gate_destroy(st_gate *g);
/* Hands the item to the committer, which re-checks the policy against the committed
 * state, bumps the counters and appends the audit record in a write transaction
 * shared with concurrent signers. The caller signs meanwhile, then waits. */
int st_gate_submit(ss_store *s, st_gate_item *it, ss_error *e);
/* Returns once the item's transaction is durable (SU_OK) or failed. */
int st_gate_wait(ss_store *s, st_gate_item *it, ss_error *e);
/* For keys with batched audit: fails closed if an earlier flush failed. */
int st_gate_batched_ok(ss_store *s, ss_error *e);
/* Queues the record of a released signature; flushed within ST_BATCH_MS. */
int st_gate_batch(ss_store *s, const st_gate_item *it, ss_error *e);
/* Commits what is queued and stops the committer (logout, close). */
void st_gate_flush_stop(ss_store *s);
#define ST_BATCH_MS 5

/* ---- cert.c: certificate chains of keys ------------------------------------------------------ */

/* The certificate chain stored with key id (MAC checked); *n = 0 when there is none. */
int st_certs_load(ss_store *s, MDB_txn *txn, const unsigned char id[SS_KEY_ID_LEN], ss_blob **chain,
                  size_t *n, ss_error *e);

/* Stores (MACed) the chain of key id and updates its freshness digest. */
int st_certs_store(ss_store *s, MDB_txn *txn, const unsigned char id[SS_KEY_ID_LEN],
                   const ss_blob *chain, size_t n, ss_error *e);

/* ---- quorum.c: officer quorum for officer changes -------------------------------------------- */

int st_officer_count(ss_store *s, MDB_txn *txn, uint32_t *n, ss_error *e);
/* Q = max(the quorum setting, the largest --approvals of a key not destroyed). */
int st_quorum_effective(ss_store *s, MDB_txn *txn, uint32_t *setting, uint32_t *q, ss_error *e);
/* While Q >= 1: SU_EPOLICY unless a live admin activation by Q existing officers is
 * recorded; consumes it (and records the settings change, fresh_global.c). */
int st_quorum_require(ss_store *s, MDB_txn *txn, const char *what, ss_error *e);
/* After a refusal of st_quorum_require (its transaction aborted): the denied record. */
void st_quorum_denied(ss_store *s, ss_audit_op op, const ss_error *e);
/* The admin activation record, if any, is authentic. */
int st_admin_check(ss_store *s, MDB_txn *txn, ss_error *e);
/* SU_EUSAGE when m approvals exceed the number of officers. */
int st_quorum_check_approvals(ss_store *s, uint32_t m, const char *label, ss_error *e);

/* ---- upgrade.c: format upgrade and the checks of every login --------------------------------- */

/* Format 1 -> 2 inside txn (a no-op on format 2); s->format follows what txn holds. */
int st_upgrade_in(ss_store *s, MDB_txn *txn, ss_error *e);
/* The same in a transaction of its own. */
int st_upgrade(ss_store *s, ss_error *e);
/* After a login unwrapped the keys: upgrades an older format, then checks that the
 * settings, PIN slots and officers are the latest ones and that nothing but failed
 * unlocks was written without the audit key since the last authenticated record. */
int st_login_check(ss_store *s, ss_error *e);

/* ---- attest_store.c: the keystore's attestation key, sealed like a key record ---------------- */

int st_attest_key_store(ss_store *s, MDB_txn *txn, EVP_PKEY *key, const unsigned char *cert,
                        size_t certlen, ss_error *e);
/* Unseals the attestation key (caller frees) and returns the CA cert DER (OPENSSL_free). */
int st_attest_key_load(ss_store *s, MDB_txn *txn, EVP_PKEY **key, unsigned char **cert,
                       size_t *certlen, ss_error *e);

/* ==== floor 4 ================================================================================= */
/* ---- store.c: creating, opening and closing keystores ---------------------------------------- */

ss_store *st_store_new(const char *dir, OSSL_LIB_CTX *libctx, const char *propq);
void st_store_free(ss_store *s);
/* mkdir -p (0700); the final directory must be empty. */
int st_make_dirs(const char *dir, ss_error *e);
void st_remove_store_files(const char *dir);
int st_check_restore_target(const char *dir, ss_error *e);

/* ==== floor 5 ================================================================================= */
/* ---- login.c: PIN attempts, also for per-key usage PINs -------------------------------------- */

/* One PIN attempt: its try counter, its durable marker and the words for errors. */
typedef struct st_attempt {
    char tries_key[128];
    char prefix[160];
    char marker[192];
    char who[SS_LABEL_MAX + 32];
    char hint_buf[SS_LABEL_MAX + 64];
    const char *hint;
    int audit; /* role PINs write unlock records; key PINs leave it to the signature's */
    /* a key PIN's counter: written under the session's keys, it is in the key's
     * freshness digest (fresh.c), so it moves the head with every change */
    int is_key;
    unsigned char key_id[SS_KEY_ID_LEN];
} st_attempt;

/* Before the KDF of key k's usage PIN: refuses a locked key (SU_EPIN, "locked") and
 * commits the attempt's marker, as role logins do. */
int st_kpin_attempt_begin(ss_store *s, const ss_keyinfo *k, st_attempt *at, ss_error *e);
/* The verdict: ok resets the key's counter, a failure counts; *left = tries left. */
int st_kpin_attempt_end(ss_store *s, const st_attempt *at, int ok, uint32_t *left, ss_error *e);
/* In txn: zero key k's failure counter (the SO set a new key PIN). */
int st_kpin_tries_clear(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, ss_error *e);

/* ==== floor 6 ================================================================================= */
/* ---- keys.c: creating keys (keygen, import) and looking them up ------------------------------ */

/* SU_EINTEGRITY unless the label index entry of k's label names k. */
int st_label_points_here(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, ss_error *e);
/* The SO role and spec's policy checks, `what` naming the verb; SU_EUSAGE on a bad spec. */
int st_keyspec_check(ss_store *s, const ss_keyspec *spec, const char *what, ss_error *e);
/* Sets r's key PIN verifier from pin (Argon2id); SU_ENOPIN without one, SU_EUSAGE bad length. */
int st_kpin_make(ss_store *s, MDB_txn *txn, st_keyrec *r, const su_pin *pin, ss_error *e);
/* Appends the audit record of op on key k in txn. */
int st_key_audit(ss_store *s, MDB_txn *txn, ss_audit_op op, ss_audit_outcome out,
                 const ss_keyinfo *k, const char *reason, ss_error *e);

/* ==== floor 7 ================================================================================= */
/* ---- keyadmin.c: administering keys (policy, key PIN reset, state, destroy) ------------------ */
/* public verbs only (sealstore.h) */

/* Files with no section: they hold public verbs only (sealstore.h), on the floor in brackets:
 * keyref.c and selftest.c (0), attest.c (2, attest.h), clock_accept.c (2), backup.c (5),
 * sign.c (6), verify.c (7), rekey.c (8). */

#endif
