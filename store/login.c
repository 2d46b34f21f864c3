/* SPDX-License-Identifier: Apache-2.0 */
/* Role login with persistent try counters, PIN changes and officers. */
#include "internal.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *role_label(ss_role role, const char *officer, char *buf, size_t n) {
    if (role == SS_ROLE_OFFICER)
        snprintf(buf, n, "officer %s", officer);
    else
        snprintf(buf, n, "%s", role == SS_ROLE_SO ? "so" : "user");
    return buf;
}

static int load_slot(ss_store *s, MDB_txn *txn, ss_role role, const char *officer, st_slot *slot,
                     ss_error *e) {
    MDB_val v;
    char key[128], who[96];
    role_label(role, officer, who, sizeof(who));
    int rc;
    if (role == SS_ROLE_OFFICER)
        rc = st_get(s, txn, ST_DB_OFFICERS, officer, strlen(officer), &v, e);
    else {
        st_slot_key(key, sizeof(key), "slot", role, NULL);
        rc = st_get(s, txn, ST_DB_META, key, strlen(key), &v, e);
    }
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_ENOTFOUND, "%s does not exist in keystore %s", who, s->path);
    if (rc != SU_OK)
        return rc;
    if (!st_slot_decode(v.mv_data, v.mv_size, slot) || slot->role != role ||
        (role == SS_ROLE_OFFICER && strcmp(slot->name, officer) != 0))
        return su_err(e, SU_EINTEGRITY, "keystore %s: the PIN slot of %s is corrupt", s->path, who);
    return SU_OK;
}

static int get_tries(ss_store *s, MDB_txn *txn, const char *key, uint32_t *tries, ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_META, key, strlen(key), &v, e);
    *tries = 0;
    if (rc == SU_ENOTFOUND)
        return SU_OK;
    if (rc != SU_OK)
        return rc;
    if (v.mv_size != 4)
        return su_err(e, SU_EINTEGRITY, "keystore %s: PIN try counter is corrupt", s->path);
    const unsigned char *p = v.mv_data;
    *tries = su_get_be32(p);
    return SU_OK;
}

static int set_tries(ss_store *s, MDB_txn *txn, const char *key, uint32_t tries, ss_error *e) {
    unsigned char b[4];
    su_be32(b, tries);
    return st_put(s, txn, ST_DB_META, key, strlen(key), b, 4, e);
}

/* A key PIN's counter is in the key's freshness digest: after writing it, the tree
 * and the head move in the same transaction (a file writer who resets it is seen at
 * the key's next use). Role counters are raised before any key is available: they
 * stay an online control (docs/security.md). */
static int set_attempt_tries(ss_store *s, MDB_txn *txn, const st_attempt *at, uint32_t tries,
                             ss_error *e) {
    int rc = set_tries(s, txn, at->tries_key, tries, e);
    if (rc == SU_OK && at->is_key && s->k_audit != NULL)
        rc = st_fresh_update(s, txn, at->key_id, e);
    if (rc == SU_OK && at->is_key && s->k_audit != NULL)
        rc = st_audit_head_refresh(s, txn, e);
    return rc;
}

/*
 * PIN tries. "tries/<role>" counts committed failures. Each attempt first commits
 * a marker "pending/<role>/<pid>.<nonce>" (before any KDF work) and removes it in
 * the transaction that records the outcome. A marker left by a process that died
 * mid-attempt counts as a failure at the next attempt, so killing the process
 * does not buy a free guess. Live markers of concurrent attempts do not lock the
 * role, but no attempt starts while failures + attempts in flight would exceed
 * the limit: concurrent logins wait for each other instead of locking it.
 */
#define STALE_ATTEMPT_S 600
#define BUSY_WAIT_MS 50
#define BUSY_MAX_WAITS 600

typedef st_attempt attempt;

/* Converts dead attempts into failures; returns the live ones. */
static int sweep_markers(ss_store *s, MDB_txn *txn, const char *prefix, uint32_t *failures,
                         uint32_t *live, ss_error *e) {
    MDB_cursor *cur;
    int mrc, rc = st_cursor(s, txn, ST_DB_META, &cur, "reading PIN attempts", e);
    if (rc != SU_OK)
        return rc;
    size_t plen = strlen(prefix);
    MDB_val k = {plen, (void *)prefix}, v;
    int64_t now = su_now();
    *live = 0;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         mrc == 0 && k.mv_size > plen && memcmp(k.mv_data, prefix, plen) == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int64_t started = v.mv_size == 12 ? (int64_t)su_get_be64(v.mv_data) : 0;
        pid_t pid = v.mv_size == 12 ? (pid_t)su_get_be32((const unsigned char *)v.mv_data + 8) : 0;
        int dead =
            pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH) || now - started > STALE_ATTEMPT_S;
        if (!dead) {
            (*live)++;
            continue;
        }
        (*failures)++;
        mrc = mdb_cursor_del(cur, 0);
        if (mrc != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        return st_mdb_err(s, mrc, "reading PIN attempts", e);
    return SU_OK;
}

static const char *lock_hint(ss_role role) {
    return role == SS_ROLE_SO     ? " (only a restore from backup unlocks the SO)"
           : role == SS_ROLE_USER ? ": the SO must reset the user PIN"
                                  : ": the SO must remove and re-add the officer";
}

/* The counter, markers and words of a role's PIN attempts. */
static void role_attempt(attempt *at, ss_role role, const char *officer) {
    memset(at, 0, sizeof(*at));
    st_slot_key(at->tries_key, sizeof(at->tries_key), "tries", role, officer);
    st_slot_key(at->prefix, sizeof(at->prefix) - 2, "pending", role, officer);
    strcat(at->prefix, "/");
    role_label(role, officer, at->who, sizeof(at->who));
    at->hint = lock_hint(role);
    at->audit = 1;
}

/* Durably records the attempt before any KDF work; refuses a locked subject. With
 * slot != NULL, also loads role's PIN slot in the same transaction. */
static int begin_attempt(ss_store *s, ss_role role, const char *officer, st_slot *slot, attempt *at,
                         uint32_t *failures, ss_error *e) {
    char reason[SS_LABEL_MAX + 96];
    unsigned char nonce[8];
    char hex[17];
    const char *who = at->who;
    int rc = st_random(s, nonce, sizeof(nonce), e);
    if (rc != SU_OK)
        return rc;
    su_hex(hex, nonce, sizeof(nonce));
    snprintf(at->marker, sizeof(at->marker), "%s%ld.%s", at->prefix, (long)getpid(), hex);

    for (int waits = 0;; waits++) {
        MDB_txn *txn;
        uint32_t live = 0;
        if ((rc = st_txn(s, 1, &txn, e)) != SU_OK)
            return rc;
        rc = slot != NULL ? load_slot(s, txn, role, officer, slot, e) : SU_OK;
        if (rc == SU_OK)
            rc = get_tries(s, txn, at->tries_key, failures, e);
        if (rc == SU_OK)
            rc = sweep_markers(s, txn, at->prefix, failures, &live, e);
        if (rc == SU_OK && *failures >= s->max_tries) {
            snprintf(reason, sizeof(reason), "%s is locked after %u failed PIN attempts", who,
                     *failures);
            st_audit_in in = {.op = SS_OP_UNLOCK, .outcome = SS_OUT_DENIED, .reason = reason};
            ss_error ignore;
            if (set_attempt_tries(s, txn, at, *failures, &ignore) == SU_OK &&
                (!at->audit || st_audit_append(s, txn, &in, &ignore) == SU_OK) &&
                st_commit(s, txn, &ignore) == SU_OK)
                txn = NULL;
            if (txn != NULL)
                mdb_txn_abort(txn);
            return su_err(e, SU_EPIN, "%s is locked after %u failed PIN attempts%s", who, *failures,
                          at->hint);
        }
        if (rc == SU_OK && *failures + live >= s->max_tries) {
            /* would allow more guesses in flight than tries left: wait for them */
            mdb_txn_abort(txn);
            if (waits == BUSY_MAX_WAITS)
                return su_err(e, SU_EPIN, "%s: too many PIN attempts in progress", who);
            struct timespec ts = {0, BUSY_WAIT_MS * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        unsigned char v[12];
        su_be64(v, (uint64_t)su_now());
        su_be32(v + 8, (uint32_t)getpid());
        if (rc == SU_OK)
            rc = set_attempt_tries(s, txn, at, *failures, e);
        if (rc == SU_OK)
            rc = st_put(s, txn, ST_DB_META, at->marker, strlen(at->marker), v, sizeof(v), e);
        if (rc == SU_OK)
            return st_commit(s, txn, e);
        mdb_txn_abort(txn);
        return rc;
    }
}

/* Removes the attempt's marker and resets (success) or counts (failure) the role;
 * *failures is the committed count this outcome makes, concurrent attempts' included. */
static int record_outcome(ss_store *s, MDB_txn *txn, const attempt *at, int ok, uint32_t *failures,
                          ss_error *e) {
    int rc = st_del(s, txn, ST_DB_META, at->marker, strlen(at->marker), e);
    *failures = 0;
    if (rc == SU_OK) {
        if (!ok && (rc = get_tries(s, txn, at->tries_key, failures, e)) == SU_OK)
            (*failures)++;
        if (rc == SU_OK)
            rc = set_attempt_tries(s, txn, at, *failures, e);
    }
    return rc;
}

static uint32_t tries_left(const ss_store *s, uint32_t failures) {
    return s->max_tries > failures ? s->max_tries - failures : 0;
}

/* Records the outcome: removes the marker, resets or counts, audits. ok: the PIN was
 * right (the counter resets). refused: NULL, or why a login with the right PIN is
 * refused all the same (recorded as an unlock error). The record of a failure says
 * how many tries are left as counted in this transaction, so that concurrent wrong
 * PINs each report the true number. */
static int end_attempt(ss_store *s, const attempt *at, int ok, const char *refused,
                       uint32_t *failures, ss_error *e) {
    MDB_txn *txn;
    char reason[sizeof(((ss_error *)0)->msg) + 256];
    const char *who = at->who;
    int rc = st_txn(s, 1, &txn, e);
    if (rc != SU_OK)
        return rc;
    rc = record_outcome(s, txn, at, ok, failures, e);
    if (refused != NULL)
        snprintf(reason, sizeof(reason), "%s", refused);
    else if (ok)
        snprintf(reason, sizeof(reason), "%s", who);
    else
        snprintf(reason, sizeof(reason), "wrong PIN for %s (%u tries left)", who,
                 tries_left(s, *failures));
    st_audit_in in = {.op = SS_OP_UNLOCK,
                      .outcome = refused != NULL ? SS_OUT_ERROR
                                 : ok            ? SS_OUT_OK
                                                 : SS_OUT_DENIED,
                      .reason = reason};
    if (rc == SU_OK && at->audit)
        rc = st_audit_append(s, txn, &in, e);
    if (rc == SU_OK)
        return st_commit(s, txn, e);
    mdb_txn_abort(txn);
    if (rc != SU_EINTEGRITY)
        return rc;
    /* The log is damaged (its head no longer names its end). Record the outcome
     * without an audit record, so the session can still run `audit verify` and see
     * the damage; everything that must be audited keeps failing. */
    ss_error ignore;
    if (st_txn(s, 1, &txn, &ignore) != SU_OK)
        return rc;
    if (record_outcome(s, txn, at, ok, failures, &ignore) != SU_OK ||
        st_commit(s, txn, &ignore) != SU_OK) {
        mdb_txn_abort(txn);
        return rc;
    }
    return SU_OK;
}

int ss_login(ss_store *s, ss_role role, const char *officer, const su_pin *pin, ss_error *e) {
    char who[96];
    if (role != SS_ROLE_SO && role != SS_ROLE_USER && role != SS_ROLE_OFFICER)
        return su_err(e, SU_EUSAGE, "unknown role");
    if (role == SS_ROLE_OFFICER && (officer == NULL || *officer == '\0' || strchr(officer, '/')))
        return su_err(e, SU_EUSAGE, "officer login needs a valid officer name");
    if (pin == NULL)
        return su_err(e, SU_ENOPIN, "no PIN given");
    ss_logout(s);
    role_label(role, officer, who, sizeof(who));

    st_slot slot;
    attempt at;
    uint32_t failures;
    role_attempt(&at, role, officer);
    int rc = begin_attempt(s, role, officer, &slot, &at, &failures, e);
    if (rc != SU_OK)
        return rc;

    unsigned char *mk = OPENSSL_secure_zalloc(ST_KEY_LEN);
    int opened =
        mk == NULL ? su_err(e, SU_EIO, "out of secure memory") : st_slot_open(s, &slot, pin, mk, e);
    OPENSSL_cleanse(&slot, sizeof(slot));
    if (opened == SU_OK)
        rc = st_session_keys(s, mk, role == SS_ROLE_SO, e);
    else if (opened != SU_EPIN)
        rc = opened;
    OPENSSL_secure_clear_free(mk, ST_KEY_LEN);
    if (rc != SU_OK) {
        /* no verdict on the PIN: the marker stays and counts as an attempt */
        ss_logout(s);
        return rc;
    }
    if (opened == SU_EPIN) {
        uint32_t now;
        if (end_attempt(s, &at, 0, NULL, &now, NULL) != SU_OK)
            now = failures + 1; /* not recorded: the marker counts at the next attempt */
        uint32_t left = tries_left(s, now);
        return su_err(e, SU_EPIN, "wrong PIN for %s in keystore %s (%u tries left%s)", who, s->path,
                      left, left == 0 ? ": now locked" : "");
    }
    s->role = role;
    if (role == SS_ROLE_OFFICER && (s->officer = strdup(officer)) == NULL) {
        ss_logout(s);
        return su_err(e, SU_EIO, "out of memory");
    }
    /* the audit key is live now: upgrade an older format, and refuse a keystore
     * whose settings, slots or officers were put back, or whose log holds records
     * forged without the key (upgrade.c); the PIN itself was right */
    int crc = st_login_check(s, e);
    char why[sizeof(e->msg) + 128];
    snprintf(why, sizeof(why), "%s: refused: %s", who, crc == SU_OK || e == NULL ? "" : e->msg);
    rc = crc == SU_OK ? end_attempt(s, &at, 1, NULL, &failures, e)
                      : end_attempt(s, &at, 1, why, &failures, NULL);
    if (crc != SU_OK)
        rc = crc;
    if (rc != SU_OK)
        ss_logout(s); /* an unlock that cannot be audited does not happen */
    return rc;
}

/* ---- per-key usage PINs: counted and locked like role PINs --------------------------- */

static void kpin_attempt(attempt *at, const ss_keyinfo *k) {
    char hex[2 * SS_KEY_ID_LEN + 1];
    memset(at, 0, sizeof(*at));
    su_hex(hex, k->id, SS_KEY_ID_LEN);
    snprintf(at->tries_key, sizeof(at->tries_key), "tries/key/%s", hex);
    at->is_key = 1;
    memcpy(at->key_id, k->id, SS_KEY_ID_LEN);
    snprintf(at->prefix, sizeof(at->prefix), "pending/key/%s/", hex);
    snprintf(at->who, sizeof(at->who), "the key PIN of key %s", k->label);
    snprintf(at->hint_buf, sizeof(at->hint_buf),
             ": the SO must set a new one with 'sealhsm pin reset-key %s'", k->label);
    at->hint = at->hint_buf;
    at->audit = 0; /* the signature's own record (denied or ok) says it */
}

int st_kpin_attempt_begin(ss_store *s, const ss_keyinfo *k, st_attempt *at, ss_error *e) {
    uint32_t failures;
    kpin_attempt(at, k);
    return begin_attempt(s, SS_ROLE_NONE, NULL, NULL, at, &failures, e);
}

int st_kpin_attempt_end(ss_store *s, const st_attempt *at, int ok, uint32_t *left, ss_error *e) {
    uint32_t failures = 0;
    int rc = end_attempt(s, at, ok, NULL, &failures, e);
    *left = tries_left(s, failures);
    return rc;
}

int st_kpin_tries_clear(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, ss_error *e) {
    attempt at;
    kpin_attempt(&at, k);
    return set_attempt_tries(s, txn, &at, 0, e);
}

static int check_new_pin(const su_pin *pin, const char *who, ss_error *e) {
    if (pin == NULL)
        return su_err(e, SU_ENOPIN, "no new PIN for %s", who);
    if (pin->len < SU_PIN_MIN || pin->len > SU_PIN_MAX)
        return su_err(e, SU_EUSAGE, "new PIN for %s must be %d to %d bytes", who, SU_PIN_MIN,
                      SU_PIN_MAX);
    return SU_OK;
}

/* Wraps the master key for a role under a new PIN, keeping the role's own Argon2id
 * parameters (new officers get the user role's). */
static int rewrap(ss_store *s, MDB_txn *txn, ss_role role, const char *name, const su_pin *pin,
                  const unsigned char *mk, ss_error *e) {
    uint32_t m, t, p;
    st_slot slot;
    int rc = st_user_kdf(s, txn, &m, &t, &p, e);
    if (rc == SU_OK && role != SS_ROLE_USER) {
        /* keep each role's own parameters where it has a slot already */
        st_slot old;
        ss_error ignore;
        if (load_slot(s, txn, role, name, &old, &ignore) == SU_OK) {
            m = old.m_kib;
            t = old.t;
            p = old.p;
        }
    }
    if (rc == SU_OK)
        rc = st_slot_make(s, role, name, mk, pin, m, t, p, &slot, e);
    if (rc == SU_OK)
        rc = st_put_slot(s, txn, &slot, e);
    OPENSSL_cleanse(&slot, sizeof(slot));
    return rc;
}

/* The end of the PIN and officer verbs: a global event (no key) audited with reason. */
static int finish(ss_store *s, MDB_txn *txn, int rc, ss_audit_op op, const char *reason,
                  ss_error *e) {
    st_audit_in in = {.op = op, .outcome = SS_OUT_OK, .reason = reason};
    return st_finish_audited(s, txn, rc, &in, e);
}

int ss_pin_change(ss_store *s, const su_pin *old_pin, const su_pin *new_pin, ss_error *e) {
    char who[96], reason[128];
    int rc = st_require_login(s, "changing a PIN", e);
    if (rc != SU_OK)
        return rc;
    role_label(s->role, s->officer, who, sizeof(who));
    if ((rc = check_new_pin(new_pin, who, e)) != SU_OK)
        return rc;
    MDB_txn *txn;
    st_slot slot;
    if ((rc = st_txn(s, 1, &txn, e)) != SU_OK)
        return rc;
    unsigned char *mk = OPENSSL_secure_zalloc(ST_KEY_LEN);
    rc = mk == NULL ? su_err(e, SU_EIO, "out of secure memory") : st_fresh_global_check(s, txn, e);
    if (rc == SU_OK)
        rc = load_slot(s, txn, s->role, s->officer, &slot, e);
    if (rc == SU_OK)
        rc = old_pin == NULL ? SU_EPIN : st_slot_open(s, &slot, old_pin, mk, e);
    if (rc == SU_EPIN)
        rc = su_err(e, SU_EPIN, "wrong current PIN for %s", who);
    if (rc == SU_OK)
        rc = rewrap(s, txn, s->role, s->officer, new_pin, mk, e);
    if (rc == SU_OK)
        rc = st_fresh_global_update(s, txn, e);
    OPENSSL_secure_clear_free(mk, ST_KEY_LEN);
    OPENSSL_cleanse(&slot, sizeof(slot));
    snprintf(reason, sizeof(reason), "PIN of %s changed", who);
    return finish(s, txn, rc, SS_OP_PIN, reason, e);
}

int ss_pin_reset_user(ss_store *s, const su_pin *new_pin, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_SO, "resetting the user PIN", e);
    if (rc == SU_OK)
        rc = check_new_pin(new_pin, "user", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    if ((rc = st_txn(s, 1, &txn, e)) != SU_OK)
        return rc;
    rc = st_fresh_global_check(s, txn, e);
    if (rc == SU_OK)
        rc = rewrap(s, txn, SS_ROLE_USER, NULL, new_pin, s->mk, e);
    if (rc == SU_OK)
        rc = st_fresh_global_update(s, txn, e);
    if (rc == SU_OK)
        rc = set_tries(s, txn, "tries/user", 0, e);
    return finish(s, txn, rc, SS_OP_PIN, "user PIN reset by the SO; user lockout cleared", e);
}

static int officer_name_valid(const char *name, ss_error *e) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SS_OFFICER_NAME_MAX)
        return su_err(e, SU_EUSAGE, "officer name must be 1 to %d bytes", SS_OFFICER_NAME_MAX);
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-' || *c == '@'))
            return su_err(e, SU_EUSAGE,
                          "officer name '%.64s' may only hold letters, digits and . _ - @", name);
    return SU_OK;
}

/* The opening both officer verbs share: SO role, a valid name, (for add) a new PIN, then a
 * write transaction, the freshness check and the officer's record looked up. Returns the
 * look-up's result (SU_OK found, SU_ENOTFOUND) or the first error; *txn is NULL when no
 * transaction was opened, otherwise the caller ends it with officer_finish. */
static int officer_begin(ss_store *s, const char *what, const char *name, const su_pin *pin,
                         MDB_txn **txn, ss_error *e) {
    *txn = NULL;
    int rc = st_require_role(s, SS_ROLE_SO, what, e);
    if (rc == SU_OK)
        rc = officer_name_valid(name, e);
    if (rc == SU_OK && pin != NULL)
        rc = check_new_pin(pin, "the officer", e);
    if (rc != SU_OK)
        return rc;
    MDB_val v;
    if ((rc = st_txn(s, 1, txn, e)) != SU_OK) {
        *txn = NULL;
        return rc;
    }
    rc = st_fresh_global_check(s, *txn, e);
    if (rc == SU_OK)
        rc = st_get(s, *txn, ST_DB_OFFICERS, name, strlen(name), &v, e);
    return rc;
}

/* Ends an officer verb's transaction with its audit record; a quorum refusal is recorded. */
static int officer_finish(ss_store *s, MDB_txn *txn, int rc, const char *reason, ss_error *e) {
    rc = finish(s, txn, rc, SS_OP_OFFICER, reason, e);
    if (rc == SU_EPOLICY)
        st_quorum_denied(s, SS_OP_OFFICER, e);
    return rc;
}

int ss_officer_add(ss_store *s, const char *name, const su_pin *pin, ss_error *e) {
    char reason[128];
    MDB_txn *txn;
    int rc = officer_begin(s, "adding an officer", name, pin, &txn, e);
    if (txn == NULL)
        return rc;
    if (rc == SU_OK)
        rc = su_err(e, SU_EUSAGE, "officer %s already exists", name);
    else if (rc == SU_ENOTFOUND)
        rc = st_quorum_require(s, txn, "adding an officer", e);
    if (rc == SU_OK)
        rc = rewrap(s, txn, SS_ROLE_OFFICER, name, pin, s->mk, e);
    if (rc == SU_OK)
        rc = st_fresh_global_update(s, txn, e);
    char key[128];
    st_slot_key(key, sizeof(key), "tries", SS_ROLE_OFFICER, name);
    if (rc == SU_OK)
        rc = set_tries(s, txn, key, 0, e);
    snprintf(reason, sizeof(reason), "officer %s added", name);
    return officer_finish(s, txn, rc, reason, e);
}

int ss_officer_remove(ss_store *s, const char *name, ss_error *e) {
    char reason[192], key[128];
    MDB_txn *txn;
    int rc = officer_begin(s, "removing an officer", name, NULL, &txn, e);
    if (txn == NULL)
        return rc;
    if (rc == SU_ENOTFOUND)
        rc = su_err(e, SU_ENOTFOUND, "officer %s does not exist", name);
    if (rc == SU_OK)
        rc = st_quorum_require(s, txn, "removing an officer", e);
    if (rc == SU_OK)
        rc = st_del(s, txn, ST_DB_OFFICERS, name, strlen(name), e);
    if (rc == SU_OK)
        rc = st_fresh_global_update(s, txn, e);
    st_slot_key(key, sizeof(key), "tries", SS_ROLE_OFFICER, name);
    if (rc == SU_OK)
        rc = st_del(s, txn, ST_DB_META, key, strlen(key), e);
    /* their approvals go with them (docs/security.md, "Approvals") */
    uint32_t withdrawn = 0, ended = 0;
    if (rc == SU_OK)
        rc = st_officer_withdraw(s, txn, name, &withdrawn, &ended, e);
    snprintf(reason, sizeof(reason),
             "officer %s removed; %u pending approval%s withdrawn, %u live activation%s ended",
             name, withdrawn, withdrawn == 1 ? "" : "s", ended, ended == 1 ? "" : "s");
    return officer_finish(s, txn, rc, reason, e);
}

void ss_strings_free(char **v, size_t n) {
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int ss_officer_list(ss_store *s, char ***names, size_t *n, ss_error *e) {
    *names = NULL;
    *n = 0;
    int rc = st_require_login(s, "listing officers", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    MDB_cursor *cur;
    if ((rc = st_read_cursor(s, ST_DB_OFFICERS, &txn, &cur, "listing officers", e)) != SU_OK)
        return rc;
    int mrc;
    MDB_val k, v;
    char **out = NULL;
    size_t cnt = 0;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char **grown = realloc(out, (cnt + 1) * sizeof(*out));
        if (grown == NULL) {
            rc = su_err(e, SU_EIO, "out of memory");
            break;
        }
        out = grown;
        if ((out[cnt] = strndup(k.mv_data, k.mv_size)) == NULL) {
            rc = su_err(e, SU_EIO, "out of memory");
            break;
        }
        cnt++;
    }
    if (rc == SU_OK && mrc != MDB_NOTFOUND)
        rc = st_mdb_err(s, mrc, "listing officers", e);
    st_read_end(txn, cur);
    if (rc != SU_OK) {
        ss_strings_free(out, cnt);
        return rc;
    }
    *names = out;
    *n = cnt;
    return SU_OK;
}
