/* SPDX-License-Identifier: Apache-2.0 */
/* Keys: generation and signing with every type, the policy codec, and destroy leaving
 * no sealed bytes behind. */
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

static void test_keys_and_signing(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    static const char *types[] = {"rsa:2048", "ec:P-256", "ec:P-384",
                                  "ec:P-521", "ed25519",  "ed448"};
    ss_keyinfo *ks[6];
    for (int i = 0; i < 6; i++) {
        char label[16];
        snprintf(label, sizeof(label), "k%d", i);
        ks[i] = keygen(s, label, types[i]);
    }
    /* refused types */
    ss_keyspec spec = {.label = "bad"};
    ss_policy_default(&spec.policy);
    CHECK_EQ_INT(ss_keytype_parse("rsa:1024", &spec.type, &e), SU_EUSAGE);
    CHECK_EQ_INT(ss_keytype_parse("dsa:2048", &spec.type, &e), SU_EUSAGE);
    /* duplicate label */
    spec.label = "k0";
    spec.type = (ss_keytype){SS_ALG_EC, 256};
    CHECK_EQ_INT(ss_keygen(s, &spec, NULL, &e), SU_EUSAGE);
    CHECK(strstr(e.msg, "k0") != NULL);
    /* the SO cannot sign */
    if (ks[1] != NULL)
        CHECK_EQ_INT(sign_verify(s, ks[1], &e), SU_EPOLICY);
    CHECK_EQ_INT(ss_login(s, SS_ROLE_USER, NULL, user_pin, &e), SU_OK);
    for (int i = 0; i < 6; i++) {
        if (ks[i] == NULL)
            continue;
        int rc = sign_verify(s, ks[i], &e);
        if (rc != SU_OK)
            fprintf(stderr, "%s: %s\n", types[i], e.msg);
        CHECK_EQ_INT(rc, SU_OK);
    }
    /* counters are kept per key; the label index answers by label */
    ss_keyinfo *k = NULL;
    CHECK_EQ_INT(ss_key_get(s, "k1", NULL, &k, &e), SU_OK);
    if (k != NULL) {
        CHECK_EQ_INT(k->signatures, 1);
        CHECK(k->last_used > 0);
        CHECK(memcmp(k->id, ks[1]->id, SS_KEY_ID_LEN) == 0);
    }
    ss_keyinfo_free(k);
    CHECK_EQ_INT(ss_key_get(s, "nope", NULL, &k, &e), SU_ENOTFOUND);
    CHECK(strstr(e.msg, "nope") != NULL);
    ss_keyinfo **list;
    size_t n;
    CHECK_EQ_INT(ss_key_list(s, &list, &n, &e), SU_OK);
    CHECK_EQ_INT(n, 6);
    ss_keylist_free(list, n);
    /* a digest of the wrong length never reaches the key */
    if (ks[1] != NULL) {
        unsigned char dg[20] = {0}, sig[256];
        size_t siglen = sizeof(sig);
        ss_sign_req req = {.digest = "SHA256", .tbs = dg, .tbslen = 20};
        CHECK_EQ_INT(ss_sign(s, ks[1]->id, &req, sig, &siglen, &e), SU_EUSAGE);
        req.digest = "SHA1";
        CHECK_EQ_INT(ss_sign(s, ks[1]->id, &req, sig, &siglen, &e), SU_EPOLICY);
        CHECK(strncmp(e.msg, "policy: key k1: digests", 23) == 0);
    }
    ss_audit_report rep;
    CHECK_EQ_INT(ss_audit_verify(s, &rep, &e), SU_OK);
    CHECK(rep.records > 10);
    for (int i = 0; i < 6; i++)
        ss_keyinfo_free(ks[i]);
    ss_close(s);
}

static void test_policy_codec(void) {
    ss_policy p, q;
    ss_policy_default(&p);
    p.env = SS_ENV_PROD;
    p.nusers = 2;
    p.users[0] = 1000;
    p.users[1] = 5;
    p.rate_count = 3;
    p.rate_period = 60;
    p.not_after = 1900000000;
    su_buf b;
    su_buf_init(&b, 0);
    CHECK_EQ_INT(ss_policy_encode(&p, &b, NULL), SU_OK);
    CHECK(st_policy_decode(b.data, b.len, &q));
    CHECK_EQ_INT(q.env, SS_ENV_PROD);
    CHECK_EQ_INT(q.rate_count, 3);
    CHECK_EQ_INT(q.not_after, 1900000000);
    /* users are canonical (sorted) so equal policies have equal digests */
    CHECK_EQ_INT(q.users[0], 5);
    for (size_t n = 0; n < b.len; n++)
        CHECK(!st_policy_decode(b.data, n, &q));
    unsigned char d1[32], d2[32];
    CHECK_EQ_INT(ss_policy_digest(&p, d1, NULL), SU_OK);
    p.users[0] = 5;
    p.users[1] = 1000;
    CHECK_EQ_INT(ss_policy_digest(&p, d2, NULL), SU_OK);
    CHECK(memcmp(d1, d2, 32) == 0);
    su_buf_free(&b);

    /* counter rules */
    ss_keyinfo k = {.label = "c"};
    ss_policy_default(&k.policy);
    k.policy.max_signatures = 2;
    st_usage u = {0};
    ss_error e;
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1000, &e), SU_OK);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1000, &e), SU_OK);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1000, &e), SU_EPOLICY);
    CHECK(strstr(e.msg, "max-signatures") != NULL);
    k.policy.max_signatures = 0;
    k.policy.rate_count = 2;
    k.policy.rate_period = 60;
    memset(&u, 0, sizeof(u));
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1000, &e), SU_OK);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1030, &e), SU_OK);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1059, &e), SU_EPOLICY);
    CHECK_EQ_INT(st_policy_check_counters(&k, &u, 1060, &e), SU_OK);
}

/* After destroy no file of the keystore holds the sealed bytes. */
static void test_destroy_zeroizes(void) {
    char dir[300];
    ss_error e;
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "doomed", "ec:P-384");
    MDB_txn *txn;
    st_keyrec r;
    CHECK_EQ_INT(st_txn(s, 0, &txn, &e), SU_OK);
    CHECK_EQ_INT(st_key_load(s, txn, "doomed", NULL, &r, &e), SU_OK);
    mdb_txn_abort(txn);
    unsigned char sealed[64];
    memcpy(sealed, r.sealed, sizeof(sealed));
    st_keyrec_clear(&r);
    CHECK_EQ_INT(ss_key_destroy(s, "doomed", &e), SU_OK);
    ss_keyinfo *t = NULL;
    CHECK_EQ_INT(ss_key_get(s, "doomed", NULL, &t, &e), SU_OK);
    if (t != NULL)
        CHECK_EQ_INT(t->state, SS_STATE_DESTROYED);
    ss_keyinfo_free(t);
    /* the label is never reused */
    ss_keyspec spec = {.label = "doomed", .type = {SS_ALG_EC, 256}};
    ss_policy_default(&spec.policy);
    CHECK_EQ_INT(ss_keygen(s, &spec, NULL, &e), SU_EUSAGE);
    ss_close(s);
    static const char *files[] = {"data.mdb", "lock.mdb"};
    for (int f = 0; f < 2; f++) {
        char path[400];
        snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
        unsigned char *buf;
        size_t n;
        CHECK_EQ_INT(su_read_file(path, 1 << 26, &buf, &n, &e), SU_OK);
        CHECK(memmem(buf, n, sealed, sizeof(sealed)) == NULL);
        free(buf);
    }
    ss_keyinfo_free(k);
}

static const check_case cases[] = {
    CHECK_CASE(keys_and_signing, test_keys_and_signing),
    CHECK_CASE(policy_codec, test_policy_codec),
    CHECK_CASE(destroy_zeroizes, test_destroy_zeroizes),
};

CHECK_MAIN(cases, store_fixture_setup, store_fixture_teardown)
