/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The officer quorum. M-of-N approvals mean nothing if the SO alone can change
 * who the officers are: add two officers (choosing their PINs), approve as both,
 * lower the key's --approvals, remove them. So the officers also guard the
 * changes that weaken them. The effective quorum is
 *
 *   Q = max(the `officer quorum` setting, the largest --approvals of any key not
 *           destroyed)
 *
 * and while Q >= 1, adding or removing an officer, lowering a key's --approvals,
 * lowering the setting and `rekey` need a live admin activation: approvals by Q
 * distinct officers who still exist, each within ADMIN_TTL of the activation,
 * which then lasts ADMIN_TTL and is consumed by the change it allows. The record
 * (meta "admin/activation") is MACed and listed with the settings bound to the
 * audit head (fresh_global.c), so neither an edit nor an older copy counts.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define ADMIN_KEY "admin/activation"
#define ADMIN_TTL 3600 /* as a key's default --activation-ttl */

typedef struct admin_act {
    int64_t expires;
    uint32_t n;
    st_approval a[ST_MAX_APPROVALS];
} admin_act;

static bool admin_mac(ss_store *s, const unsigned char *body, size_t n,
                      unsigned char mac[ST_MAC_LEN]) {
    return st_hmac(s, s->k_mac, "admin", 5, body, n, mac);
}

static int admin_load(ss_store *s, MDB_txn *txn, admin_act *act, ss_error *e) {
    memset(act, 0, sizeof(*act));
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_META, ADMIN_KEY, strlen(ADMIN_KEY), &v, e);
    if (rc == SU_ENOTFOUND)
        return SU_OK;
    if (rc != SU_OK)
        return rc;
    su_rd r;
    uint64_t exp;
    const unsigned char *p = v.mv_data;
    unsigned char mac[ST_MAC_LEN];
    su_rd_init(&r, p, v.mv_size);
    su_rd_u64(&r, &exp);
    su_rd_u32(&r, &act->n);
    if (act->n > ST_MAX_APPROVALS)
        r.failed = 1;
    for (uint32_t i = 0; i < act->n && !r.failed; i++) {
        const unsigned char *name;
        size_t nl;
        uint64_t t;
        if (su_rd_bytes(&r, &name, &nl, SS_OFFICER_NAME_MAX) && su_rd_u64(&r, &t)) {
            memcpy(act->a[i].name, name, nl);
            act->a[i].name[nl] = '\0';
            act->a[i].time = (int64_t)t;
        }
    }
    size_t body = v.mv_size - r.left;
    if (r.failed || r.left != ST_MAC_LEN || !admin_mac(s, p, body, mac) ||
        CRYPTO_memcmp(mac, p + body, ST_MAC_LEN) != 0) {
        memset(act, 0, sizeof(*act));
        return su_err(e, SU_EINTEGRITY, "keystore %s: the admin activation fails its MAC", s->path);
    }
    act->expires = (int64_t)exp;
    return SU_OK;
}

static int admin_store(ss_store *s, MDB_txn *txn, const admin_act *act, ss_error *e) {
    su_buf b;
    unsigned char mac[ST_MAC_LEN];
    su_buf_init(&b, 0);
    su_buf_u64(&b, (uint64_t)act->expires);
    su_buf_u32(&b, act->n);
    for (uint32_t i = 0; i < act->n; i++) {
        su_buf_str(&b, act->a[i].name);
        su_buf_u64(&b, (uint64_t)act->a[i].time);
    }
    int rc =
        !b.failed && admin_mac(s, b.data, b.len, mac) ? SU_OK : su_err(e, SU_EIO, "out of memory");
    su_buf_put(&b, mac, ST_MAC_LEN);
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_META, ADMIN_KEY, strlen(ADMIN_KEY), b.data, b.len, e);
    su_buf_free(&b);
    return rc;
}

int st_admin_check(ss_store *s, MDB_txn *txn, ss_error *e) {
    admin_act act;
    return admin_load(s, txn, &act, e);
}

static int officer_exists(ss_store *s, MDB_txn *txn, const char *name) {
    MDB_val v;
    return st_get(s, txn, ST_DB_OFFICERS, name, strlen(name), &v, NULL) == SU_OK;
}

/* Approvals in act by officers that still exist (names are unique in the list). */
static uint32_t live_officers(ss_store *s, MDB_txn *txn, const admin_act *act) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < act->n; i++)
        n += officer_exists(s, txn, act->a[i].name);
    return n;
}

int st_officer_count(ss_store *s, MDB_txn *txn, uint32_t *n, ss_error *e) {
    MDB_stat st;
    int mrc = mdb_stat(txn, s->dbi[ST_DB_OFFICERS], &st);
    if (mrc != 0)
        return st_mdb_err(s, mrc, "counting officers", e);
    *n = (uint32_t)st.ms_entries;
    return SU_OK;
}

static int quorum_setting(ss_store *s, MDB_txn *txn, uint32_t *q, ss_error *e) {
    MDB_val v;
    *q = 0;
    int rc = st_get(s, txn, ST_DB_META, "quorum", 6, &v, e);
    if (rc == SU_ENOTFOUND)
        return SU_OK;
    if (rc == SU_OK && v.mv_size != 4)
        return su_err(e, SU_EINTEGRITY, "keystore %s: the officer quorum setting is corrupt",
                      s->path);
    if (rc == SU_OK)
        *q = su_get_be32(v.mv_data);
    return rc;
}

int st_quorum_effective(ss_store *s, MDB_txn *txn, uint32_t *setting, uint32_t *q, ss_error *e) {
    uint32_t set;
    int rc = quorum_setting(s, txn, &set, e);
    if (rc != SU_OK)
        return rc;
    uint32_t max = set;
    MDB_cursor *cur;
    if ((rc = st_cursor(s, txn, ST_DB_KEYS, &cur, "reading keys", e)) != SU_OK)
        return rc;
    MDB_val k, v;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        st_keyrec r;
        char name[2 * SS_KEY_ID_LEN + 8];
        st_key_name(name, sizeof(name), NULL, k.mv_size == SS_KEY_ID_LEN ? k.mv_data : NULL);
        if ((rc = st_keyrec_decode(s, v.mv_data, v.mv_size, name, &r, e)) != SU_OK)
            break;
        if (r.info.state != SS_STATE_DESTROYED && r.info.policy.approvals > max)
            max = r.info.policy.approvals;
        st_keyrec_clear(&r);
    }
    rc = st_cursor_end(s, cur, rc, mrc, "reading keys", e);
    if (setting != NULL)
        *setting = set;
    *q = max;
    return rc;
}

int st_quorum_require(ss_store *s, MDB_txn *txn, const char *what, ss_error *e) {
    uint32_t q;
    admin_act act;
    int rc = st_fresh_global_check(s, txn, e);
    if (rc == SU_OK)
        rc = st_quorum_effective(s, txn, NULL, &q, e);
    if (rc != SU_OK || q == 0)
        return rc;
    if ((rc = admin_load(s, txn, &act, e)) != SU_OK)
        return rc;
    int64_t now = su_now();
    uint32_t have = act.expires > now ? live_officers(s, txn, &act) : 0;
    if (have < q) {
        uint32_t pending = 0;
        for (uint32_t i = 0; i < act.n; i++)
            pending += act.a[i].time > now - ADMIN_TTL && officer_exists(s, txn, act.a[i].name);
        return su_err(e, SU_EPOLICY,
                      "policy: %s needs a live admin activation by %u officers ('sealhsm "
                      "approve --admin --officer NAME'; %u approval%s pending)",
                      what, q, pending, pending == 1 ? "" : "s");
    }
    /* consumed by the change it allows */
    rc = st_del(s, txn, ST_DB_META, ADMIN_KEY, strlen(ADMIN_KEY), e);
    return rc == SU_OK ? st_fresh_global_update(s, txn, e) : rc;
}

void st_quorum_denied(ss_store *s, ss_audit_op op, const ss_error *e) {
    st_audit_in in = {.op = op,
                      .outcome = SS_OUT_DENIED,
                      .reason = e != NULL ? e->msg : "admin activation missing"};
    st_audit_log(s, &in, NULL);
}

int st_quorum_check_approvals(ss_store *s, uint32_t m, const char *label, ss_error *e) {
    if (m == 0)
        return SU_OK;
    MDB_txn *txn;
    uint32_t n = 0;
    int rc = st_txn(s, 0, &txn, e);
    if (rc != SU_OK)
        return rc;
    rc = st_officer_count(s, txn, &n, e);
    mdb_txn_abort(txn);
    if (rc == SU_OK && m > n)
        rc = su_err(e, SU_EUSAGE,
                    "%s%s%s--approvals %u is more than the %u officer%s of the keystore (add "
                    "officers first)",
                    label ? "key " : "", label ? label : "", label ? ": " : "", m, n,
                    n == 1 ? "" : "s");
    return rc;
}

int ss_quorum_get(ss_store *s, uint32_t *setting, uint32_t *effective, uint32_t *officers,
                  ss_error *e) {
    int rc = st_require_login(s, "reading the officer quorum", e);
    MDB_txn *txn;
    if (rc == SU_OK)
        rc = st_txn(s, 0, &txn, e);
    if (rc != SU_OK)
        return rc;
    rc = st_quorum_effective(s, txn, setting, effective, e);
    if (rc == SU_OK)
        rc = st_officer_count(s, txn, officers, e);
    mdb_txn_abort(txn);
    return rc;
}

int ss_quorum_set(ss_store *s, uint32_t m, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_SO, "setting the officer quorum", e);
    if (rc == SU_OK && m > ST_MAX_APPROVALS)
        rc = su_err(e, SU_EUSAGE, "officer quorum %u is more than %d", m, ST_MAX_APPROVALS);
    if (rc == SU_OK)
        rc = st_quorum_check_approvals(s, m, NULL, e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    uint32_t old = 0;
    if ((rc = st_txn(s, 1, &txn, e)) != SU_OK)
        return rc;
    rc = st_fresh_global_check(s, txn, e);
    if (rc == SU_OK)
        rc = quorum_setting(s, txn, &old, e);
    if (rc == SU_OK && m < old)
        rc = st_quorum_require(s, txn, "lowering the officer quorum", e);
    unsigned char b[4];
    su_be32(b, m);
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_META, "quorum", 6, b, 4, e);
    if (rc == SU_OK)
        rc = st_fresh_global_update(s, txn, e);
    char reason[96];
    snprintf(reason, sizeof(reason), "officer quorum set to %u (was %u)", m, old);
    st_audit_in in = {.op = SS_OP_OFFICER, .outcome = SS_OUT_OK, .reason = reason};
    /* st_commit never gives SU_EPOLICY: only a refusal before it is audited as denied */
    rc = st_finish_audited(s, txn, rc, &in, e);
    if (rc == SU_EPOLICY)
        st_quorum_denied(s, SS_OP_OFFICER, e);
    return rc;
}

int ss_approve_admin(ss_store *s, int64_t *expires, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_OFFICER, "an admin approval", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    admin_act act;
    uint32_t q = 0;
    if ((rc = st_txn(s, 1, &txn, e)) != SU_OK)
        return rc;
    rc = st_fresh_global_check(s, txn, e);
    if (rc == SU_OK)
        rc = st_quorum_effective(s, txn, NULL, &q, e);
    if (rc == SU_OK && q == 0)
        rc = su_err(e, SU_EUSAGE,
                    "no officer quorum is in force in keystore %s: officer changes need no "
                    "admin approval",
                    s->path);
    if (rc == SU_OK)
        rc = admin_load(s, txn, &act, e);
    char reason[160];
    if (rc == SU_OK) {
        int64_t now = su_now();
        /* keep approvals within the TTL by officers that still exist */
        act.n = st_approvals_renew(s, txn, act.a, act.n, ADMIN_TTL, now, officer_exists);
        if (act.n >= q) {
            act.expires = now + ADMIN_TTL;
            char until[32];
            su_format_time(act.expires, until);
            snprintf(reason, sizeof(reason),
                     "admin approval by %s; admin activation by %u officers live until %s",
                     s->officer, act.n, until);
        } else {
            act.expires = 0;
            snprintf(reason, sizeof(reason), "admin approval by %s (%u of %u)", s->officer, act.n,
                     q);
        }
        if (expires != NULL)
            *expires = act.expires;
        rc = admin_store(s, txn, &act, e);
    }
    if (rc == SU_OK)
        rc = st_fresh_global_update(s, txn, e);
    st_audit_in in = {.op = SS_OP_APPROVE, .outcome = SS_OUT_OK, .reason = reason};
    return st_finish_audited(s, txn, rc, &in, e);
}
