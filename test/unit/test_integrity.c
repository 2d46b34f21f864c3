/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of format 2's integrity rules (docs/security.md): records written without
 * the audit key, the settings digest, the checked freshness update, the quorum and
 * the whole-keystore verify, each through the store's own functions. */
#include "check.h"
#include "store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int keygen_approvals(ss_store *s, const char *label, uint32_t approvals, ss_error *e) {
    ss_keyspec spec = {.label = label, .type = {SS_ALG_EC, 256}};
    ss_policy_default(&spec.policy);
    spec.policy.approvals = approvals;
    return ss_keygen(s, &spec, NULL, e);
}

/* A handle without a login writes records without the audit key, as a file writer
 * can: only a failed unlock may be written that way. */
static void test_forged_record_without_key(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_NONE);
    st_audit_in ok = {.op = SS_OP_UNLOCK, .outcome = SS_OUT_DENIED, .reason = "wrong PIN"};
    CHECK_EQ_INT(st_audit_log(s, &ok, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    ss_audit_report r;
    CHECK_EQ_INT(ss_audit_verify(s, &r, &e), SU_OK);
    CHECK_EQ_INT(r.unauthenticated, 1);
    ss_logout(s);
    st_audit_in forged = {.op = SS_OP_SIGN, .outcome = SS_OUT_OK, .label = "k", .reason = ""};
    CHECK_EQ_INT(st_audit_log(s, &forged, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "'sign ok' record without a MAC") != NULL);
    ss_close(s);
}

/* Settings, slots and officers: a change made outside a checked update is found, and
 * an authenticated append in between does not bless it. */
static void test_settings_digest(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    CHECK_EQ_INT(ss_officer_add(s, "alice", user_pin, &e), SU_OK);
    MDB_txn *txn;
    unsigned char v[4] = {0, 0, 0, 1}; /* syslog on: init wrote off */
    CHECK_EQ_INT(st_txn(s, 1, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_put(s, txn, ST_DB_META, "syslog", 6, v, 4, &e), SU_OK);
    CHECK_EQ_INT(st_commit(s, txn, &e), SU_OK);
    /* an ordinary authenticated write */
    CHECK_EQ_INT(keygen_approvals(s, "k", 0, &e), SU_OK);
    CHECK_EQ_INT(st_txn(s, 0, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_fresh_global_check(s, txn, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "'syslog'") != NULL);
    mdb_txn_abort(txn);
    CHECK_EQ_INT(ss_officer_add(s, "bob", user_pin, &e), SU_EINTEGRITY);
    ss_close(s);
}

/* A forged per-key digest is not folded into the tree by another key's update. */
static void test_checked_tree_update(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    CHECK_EQ_INT(keygen_approvals(s, "a", 0, &e), SU_OK);
    ss_keyinfo *k = NULL;
    CHECK_EQ_INT(ss_key_get(s, "a", NULL, &k, &e), SU_OK);
    MDB_txn *txn;
    char key[4 + SS_KEY_ID_LEN];
    unsigned char junk[32];
    memset(junk, 0x5a, sizeof(junk));
    memcpy(key, "f/k/", 4);
    if (k != NULL)
        memcpy(key + 4, k->id, SS_KEY_ID_LEN);
    CHECK_EQ_INT(st_txn(s, 1, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_put(s, txn, ST_DB_META, key, sizeof(key), junk, 32, &e), SU_OK);
    CHECK_EQ_INT(st_commit(s, txn, &e), SU_OK);
    /* another key's update leaves it as it is, and it stays refused */
    CHECK_EQ_INT(keygen_approvals(s, "b", 0, &e), SU_OK);
    ss_keyinfo *again = NULL;
    CHECK_EQ_INT(ss_key_get(s, "a", NULL, &again, &e), SU_EINTEGRITY);
    ss_keyinfo_free(again);
    /* a node on every path: the next update refuses to climb over it */
    unsigned char node[16 * 32];
    memset(node, 0x33, sizeof(node));
    CHECK_EQ_INT(st_txn(s, 1, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_put(s, txn, ST_DB_META, "f/n/0", 5, node, sizeof(node), &e), SU_OK);
    CHECK_EQ_INT(st_commit(s, txn, &e), SU_OK);
    CHECK_EQ_INT(keygen_approvals(s, "c", 0, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "rolled back") != NULL);
    ss_keyinfo_free(k);
    ss_close(s);
}

static void test_quorum(void) {
    char dir[300];
    ss_error e;
    uint32_t set, q, n;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    CHECK_EQ_INT(keygen_approvals(s, "two", 2, &e), SU_EUSAGE); /* no officers yet */
    CHECK_EQ_INT(ss_officer_add(s, "alice", user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_officer_add(s, "bob", user_pin, &e), SU_OK);
    CHECK_EQ_INT(keygen_approvals(s, "two", 2, &e), SU_OK);
    CHECK_EQ_INT(ss_quorum_get(s, &set, &q, &n, &e), SU_OK);
    CHECK(set == 0 && q == 2 && n == 2);
    CHECK_EQ_INT(ss_officer_add(s, "carol", user_pin, &e), SU_EPOLICY);
    CHECK_EQ_INT(ss_quorum_set(s, 1, &e), SU_OK); /* raising needs nothing */
    CHECK_EQ_INT(ss_quorum_set(s, 0, &e), SU_EPOLICY);
    /* a destroyed key no longer counts */
    CHECK_EQ_INT(ss_key_destroy(s, "two", &e), SU_OK);
    CHECK_EQ_INT(ss_quorum_get(s, &set, &q, &n, &e), SU_OK);
    CHECK(set == 1 && q == 1);
    /* two approvals by alice count once */
    ss_close(s);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_OFFICER, "alice", user_pin, &e), SU_OK);
    int64_t until = -1;
    CHECK_EQ_INT(ss_approve_admin(s, &until, &e), SU_OK);
    CHECK(until > su_now());
    CHECK_EQ_INT(ss_login(s, SS_ROLE_SO, NULL, so_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_quorum_set(s, 0, &e), SU_OK);
    CHECK_EQ_INT(ss_quorum_get(s, &set, &q, &n, &e), SU_OK);
    CHECK(set == 0 && q == 0);
    CHECK_EQ_INT(ss_verify(s, NULL, &e), SU_OK);
    ss_close(s);
}

static void test_verify_finds_a_stray_label(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    CHECK_EQ_INT(keygen_approvals(s, "k", 0, &e), SU_OK);
    ss_verify_report r;
    CHECK_EQ_INT(ss_verify(s, &r, &e), SU_OK);
    CHECK(r.keys == 1 && r.labels == 1 && r.audit.records >= 3);
    MDB_txn *txn;
    unsigned char id[SS_KEY_ID_LEN] = {1};
    CHECK_EQ_INT(st_txn(s, 1, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_put(s, txn, ST_DB_LABELS, "ghost", 5, id, SS_KEY_ID_LEN, &e), SU_OK);
    CHECK_EQ_INT(st_commit(s, txn, &e), SU_OK);
    CHECK_EQ_INT(ss_verify(s, &r, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "ghost") != NULL);
    ss_close(s);
}

static const check_case cases[] = {
    CHECK_CASE(integrity_forged_record_without_key, test_forged_record_without_key),
    CHECK_CASE(integrity_settings_digest, test_settings_digest),
    CHECK_CASE(integrity_checked_tree_update, test_checked_tree_update),
    CHECK_CASE(integrity_quorum, test_quorum),
    CHECK_CASE(integrity_verify_stray_label, test_verify_finds_a_stray_label),
};

CHECK_MAIN(cases, store_fixture_setup, store_fixture_teardown)
