/* SPDX-License-Identifier: Apache-2.0 */
/* The audit log: the chain, every record checked in one or two stretches, records
 * before an unlock, batched audit, and the syslog copy. */
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

static void test_audit_chain(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "a", "ec:P-256");
    ss_keyinfo_free(k);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    uint64_t n = rep.records;
    ss_close(s);
    /* a failed unlock before any other is written unauthenticated, and stays so: no
     * later login MACs what it did not write (docs/security.md) */
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, bad_pin, &e), SU_EPIN);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    CHECK_EQ_INT(rep.records, n + 2);
    CHECK_EQ_INT(rep.unauthenticated, 1);
    ss_close(s);

    /* flip one byte in record 2: verify names record 2 */
    unsigned char key[8];
    su_be64(key, 2);
    size_t vlen;
    unsigned char *v = raw_get(dir, "audit", key, 8, &vlen);
    CHECK(v != NULL);
    if (v != NULL) {
        v[20] ^= 0x40;
        raw_put(dir, "audit", key, 8, v, vlen);
        v[20] ^= 0x40;
    }
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_EINTEGRITY);
    CHECK_EQ_INT(rep.first_bad, 2);
    CHECK(strstr(e.msg, "record 2") != NULL);
    ss_close(s);
    if (v != NULL)
        raw_put(dir, "audit", key, 8, v, vlen);
    free(v);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
}

/* The seq of the last audit record, read from the file. */
static uint64_t raw_last_seq(const char *dir) {
    raw r;
    uint64_t seq = 0;
    MDB_cursor *c;
    MDB_val k, v;
    CHECK(raw_open(&r, dir, "audit"));
    if (mdb_cursor_open(r.txn, r.dbi, &c) == 0) {
        if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
            seq = su_get_be64(k.mv_data);
        mdb_cursor_close(c);
    }
    raw_close(&r, 0);
    return seq;
}

/* Verifies the log split after record `at` and in one stretch: both must report
 * the same. Returns first_bad (0: the log verifies). */
static uint64_t verify_split_same(ss_store *s, uint64_t at) {
    ss_error e1, e2;
    ss_audit_report r1 = {0}, r2 = {0};
    int rc1 = st_audit_verify_at(s, 0, &r1, &e1);
    int rc2 = st_audit_verify_at(s, at, &r2, &e2);
    CHECK_EQ_INT(rc2, rc1);
    if (rc1 == SU_OK) {
        CHECK_EQ_INT(r2.records, r1.records);
        CHECK_EQ_INT(r2.unauthenticated, r1.unauthenticated);
        return 0;
    }
    CHECK_EQ_INT(rc1, SU_EINTEGRITY);
    CHECK_EQ_INT(r2.first_bad, r1.first_bad);
    if (strcmp(e1.msg, e2.msg) != 0) {
        fprintf(stderr, "split after %llu: '%s' vs one stretch: '%s'\n", (unsigned long long)at,
                e2.msg, e1.msg);
        CHECK(0);
    }
    return r1.first_bad;
}

/* Verifies the log of the keystore at dir in a new session, in one stretch and
 * split after records mid, seq - 1 and seq; returns first_bad. */
static uint64_t verify_first_bad(const char *dir, uint64_t mid, uint64_t seq) {
    ss_error e;
    ss_store *s = NULL;
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    if (s == NULL)
        return 0;
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    uint64_t bad = verify_split_same(s, mid);
    if (seq > 1)
        CHECK_EQ_INT(verify_split_same(s, seq - 1), bad);
    CHECK_EQ_INT(verify_split_same(s, seq), bad);
    ss_close(s);
    return bad;
}

/* A long log is checked in two stretches on two threads: an edit, a deletion or
 * a swap of any one record, on either side of the split or at it, names that
 * record as the one-stretch walk does, and the untouched log verifies. */
static void test_audit_every_record(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "a", "ec:P-256");
    ss_close(s);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    for (int i = 0; i < 12; i++)
        CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    uint64_t n = rep.records;
    CHECK(n >= 14);
    ss_keyinfo_free(k);
    ss_close(s);

    for (uint64_t seq = 1; seq <= n; seq++) {
        unsigned char key[8], key2[8];
        size_t len, len2;
        su_be64(key, seq);
        su_be64(key2, seq + 1);
        unsigned char *v = raw_get(dir, "audit", key, 8, &len);
        unsigned char *v2 = seq < n ? raw_get(dir, "audit", key2, 8, &len2) : NULL;
        CHECK(v != NULL);
        if (v == NULL)
            break;
        v[12] ^= 0x01; /* the record's time */
        raw_put(dir, "audit", key, 8, v, len);
        v[12] ^= 0x01;
        CHECK_EQ_INT(verify_first_bad(dir, n / 2, seq), seq);
        raw_put(dir, "audit", key, 8, v, len);
        if (v2 != NULL) {
            raw_put(dir, "audit", key, 8, v2, len2);
            raw_put(dir, "audit", key2, 8, v, len);
            CHECK_EQ_INT(verify_first_bad(dir, n / 2, seq), seq);
            raw_put(dir, "audit", key2, 8, v2, len2);
            raw_put(dir, "audit", key, 8, v, len);
        }
        raw_del(dir, "audit", key, 8);
        CHECK_EQ_INT(verify_first_bad(dir, n / 2, seq), seq);
        raw_put(dir, "audit", key, 8, v, len);
        CHECK_EQ_INT(verify_first_bad(dir, n / 2, seq), 0);
        free(v);
        free(v2);
    }
    /* a stray record keyed before record 1 */
    unsigned char zero[8] = {0};
    raw_put(dir, "audit", zero, 8, "x", 1);
    CHECK_EQ_INT(verify_first_bad(dir, n / 2, 1), 1);
    raw_del(dir, "audit", zero, 8);
    CHECK_EQ_INT(verify_first_bad(dir, n / 2, 1), 0);
}

/* Records written before an unlock (failed PINs) have no MAC: only the chain
 * protects them. One altered before the next login breaks the chain at the record
 * after it, and that login refuses to chain over the break, naming the record. */
static void test_audit_split_unauthenticated(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_NONE);
    for (int i = 0; i < 2 && s != NULL; i++)
        CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, bad_pin, &e), SU_EPIN);
    ss_close(s);
    uint64_t p2 = raw_last_seq(dir);
    CHECK(p2 >= 3);
    unsigned char key[8];
    size_t len;
    su_be64(key, p2 - 1);
    unsigned char *v = raw_get(dir, "audit", key, 8, &len);
    CHECK(v != NULL && len > 33 && v[len - 1 - 32] == 0); /* not authenticated */
    if (v != NULL) {
        v[12] ^= 0x01;
        raw_put(dir, "audit", key, 8, v, len);
    }
    free(v);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    /* the next login refuses to chain over the broken tail, naming where it breaks */
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_EINTEGRITY);
    char want[64];
    snprintf(want, sizeof(want), "audit record %llu: hash chain broken", (unsigned long long)p2);
    CHECK(strstr(e.msg, want) != NULL);
    ss_close(s);
}

/* Batched audit: signatures are released at once, every record still arrives
 * (flushed in the background and at close); refused with exact counters. */
static void test_batched_audit(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyspec spec = {.label = "tls", .type = {SS_ALG_EC, 256}};
    ss_policy_default(&spec.policy);
    spec.policy.audit_batched = 1;
    spec.policy.max_signatures = 10;
    CHECK_EQ_INT(ss_keygen(s, &spec, NULL, &e), SU_EUSAGE);
    CHECK(strstr(e.msg, "batched") != NULL);
    spec.policy.max_signatures = 0;
    ss_keyinfo *k = NULL;
    CHECK_EQ_INT(ss_keygen(s, &spec, &k, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    for (int i = 0; i < 200 && k != NULL; i++)
        CHECK_EQ_INT(sign_verify(s, k, &e), SU_OK);
    ss_close(s);
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    ss_keyinfo *after = NULL;
    CHECK_EQ_INT(ss_key_get(s, "tls", NULL, &after, &e), SU_OK);
    if (after != NULL)
        CHECK_EQ_INT(after->signatures, 200);
    ss_keyinfo_free(after);
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    ss_close(s);
    ss_keyinfo_free(k);
}

/* With syslog on, every committed record is copied to the syslog socket. */
static void test_syslog_copy(void) {
    char sock[100], dir[300];
    snprintf(sock, sizeof(sock), "%.80s/log.sock", base);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    setenv("SEALHSM_SYSLOG_SOCKET", sock, 1);
    ss_init_params p = fast;
    p.syslog = 1;
    ss_error e;
    snprintf(dir, sizeof(dir), "%s/syslog", base);
    CHECK_EQ_INT(ss_init(dir, &p, so_pin, user_pin, &e), SU_OK);
    ss_store *s = NULL;
    CHECK_EQ_INT(ss_open(dir, NULL, NULL, &s, &e), SU_OK);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_SO, NULL, so_pin, &e), SU_OK);
    ss_keyinfo *k = keygen(s, "logged", "ed25519");
    ss_keyinfo_free(k);
    ss_close(s);
    unsetenv("SEALHSM_SYSLOG_SOCKET");
    char msg[2048];
    int seen_init = 0, seen_keygen = 0;
    ssize_t n;
    while ((n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) > 0) {
        msg[n] = '\0';
        CHECK(strncmp(msg, "<85>", 4) == 0 || strncmp(msg, "<84>", 4) == 0);
        seen_init |= strstr(msg, "sealhsm[") != NULL && strstr(msg, "op=init") != NULL;
        seen_keygen |=
            strstr(msg, "op=keygen outcome=ok") != NULL && strstr(msg, "label=\"logged\"");
    }
    CHECK(seen_init);
    CHECK(seen_keygen);
    close(fd);
}

static const check_case cases[] = {
    CHECK_CASE(audit_chain, test_audit_chain),
    CHECK_CASE(audit_every_record, test_audit_every_record),
    CHECK_CASE(audit_split_unauthenticated, test_audit_split_unauthenticated),
    CHECK_CASE(batched_audit, test_batched_audit),
    CHECK_CASE(syslog_copy, test_syslog_copy),
};

CHECK_MAIN(cases, store_fixture_setup, store_fixture_teardown)
