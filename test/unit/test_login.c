/* SPDX-License-Identifier: Apache-2.0 */
/* The keystore's life and its PINs: init, open, login as each role, lockout, and the
 * KDF parameters stored with each PIN slot. */
#include "../../store/internal.h"
#include "check.h"
#include "store_fixture.h"

#include <lmdb.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_init_open_login(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_NONE);
    CHECK(s != NULL);
    /* init refuses an existing keystore */
    CHECK_EQ_INT(ss_init(dir, &fast, so_pin, user_pin, &e), SU_EUSAGE);
    /* wrong PIN: exit code 4, counted; right PIN resets */
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, bad_pin, &e), SU_EPIN);
    CHECK(strstr(e.msg, "wrong PIN") != NULL);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_logged_in(s), SS_ROLE_USER);
    /* three failures lock the role (max_pin_tries = 3), even for the right PIN */
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, bad_pin, &e), SU_EPIN);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EPIN);
    CHECK(strstr(e.msg, "locked") != NULL);
    /* the SO resets the user PIN and clears the lock */
    CHECK_EQ_INT(ss_login(s, SS_ROLE_SO, NULL, so_pin, &e), SU_OK);
    su_pin *np = su_pin_new("new-user-pin", 12);
    CHECK_EQ_INT(ss_pin_reset_user(s, np, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EPIN);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, np, &e), SU_OK);
    /* pin change needs the current PIN */
    CHECK_EQ_INT(ss_pin_change(s, bad_pin, user_pin, &e), SU_EPIN);
    CHECK_EQ_INT(ss_pin_change(s, np, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    su_pin_free(np);
    ss_close(s);

    /* attempts whose process died before the outcome count as failures: three
     * markers of dead processes lock the role (max_pin_tries = 3) */
    for (int i = 0; i < 3; i++) {
        char marker[64];
        unsigned char v[12];
        su_be64(v, (uint64_t)su_now());
        su_be32(v + 8, (uint32_t)(4194400 + i)); /* above pid_max: never alive */
        snprintf(marker, sizeof(marker), "pending/user/%d.00", 4194400 + i);
        raw_put(dir, "meta", marker, strlen(marker), v, sizeof(v));
    }
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EPIN);
    CHECK(strstr(e.msg, "locked after 3") != NULL);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_SO, NULL, so_pin, &e), SU_OK);
    ss_close(s);

    /* missing keystore: not found, naming the path */
    CHECK_EQ_INT(ss_open("/nonexistent/sealhsm-ks", NULL, NULL, &s, &e), SU_ENOTFOUND);
    CHECK(strstr(e.msg, "/nonexistent/sealhsm-ks") != NULL);
    /* world-writable directory refused */
    chmod(dir, 0777);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_EIO);
    CHECK(strstr(e.msg, dir) != NULL);
    chmod(dir, 0700);
}

static void test_kdf_params(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    /* the slot records the parameters init was given */
    MDB_txn *txn;
    uint32_t m, t, p;
    CHECK_EQ_INT(st_txn(s, 0, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_user_kdf(s, txn, &m, &t, &p, &e), SU_OK);
    mdb_txn_abort(txn);
    CHECK_EQ_INT(m, 64);
    CHECK_EQ_INT(t, 1);
    CHECK_EQ_INT(p, 1);
    ss_close(s);
    /* lowering the parameters in the file breaks the slot (they are in its AAD) */
    size_t n;
    unsigned char *v = raw_get(dir, "meta", "slot/user", 9, &n);
    CHECK(v != NULL);
    if (v != NULL) {
        st_slot slot;
        CHECK(st_slot_decode(v, n, &slot));
        slot.m_kib = 32;
        su_buf b;
        su_buf_init(&b, 0);
        st_slot_encode(&slot, &b);
        raw_put(dir, "meta", "slot/user", 9, b.data, b.len);
        su_buf_free(&b);
        free(v);
    }
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EPIN);
    ss_close(s);
    /* parameters out of range are refused at init */
    ss_init_params bad = fast;
    bad.kdf_mem_kib = 4;
    snprintf(dir, sizeof(dir), "%s/badkdf", base);
    CHECK_EQ_INT(ss_init(dir, &bad, so_pin, user_pin, &e), SU_EUSAGE);
}

static const check_case cases[] = {
    CHECK_CASE(init_open_login, test_init_open_login),
    CHECK_CASE(kdf_params, test_kdf_params),
};

CHECK_MAIN(cases, store_fixture_setup, store_fixture_teardown)
