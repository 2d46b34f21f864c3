/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client API's embedded backend (client/sealclient.h): login rules, finding,
 * listing and signing, one shared open store per keystore.
 */
#include "check.h"
#include "sealclient.h"
#include "store_fixture.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

static sc_conn *open_embedded(const char *dir, const char *pin_source) {
    sc_config cfg = {.keystore = dir, .pin_source = pin_source};
    sc_conn *c = NULL;
    su_error e = {0};
    CHECK_EQ_INT(sc_open(&cfg, &c, &e), SU_OK);
    CHECK(!sc_is_daemon(c));
    return c;
}

/* An explicit PIN (PKCS#11 C_Login) may be retried; a wrong PIN from a source is not
 * tried again in the process. */
static void test_login_rules(void) {
    char dir[300];
    ss_store *s = fresh(dir, SS_ROLE_NONE);
    su_error e = {0};
    int locked = -1;
    ss_close(s);

    sc_conn *c = open_embedded(dir, NULL);
    CHECK_EQ_INT(sc_login(c, bad_pin, NULL, NULL, &locked, &e), SU_EPIN);
    CHECK_EQ_INT(locked, 0);
    CHECK_EQ_INT(sc_login(c, user_pin, NULL, NULL, &locked, &e), SU_OK);
    CHECK_EQ_INT(sc_login(c, NULL, NULL, NULL, NULL, &e), SU_OK); /* once per process */
    sc_close(c);

    s = fresh(dir, SS_ROLE_NONE);
    ss_close(s);
    setenv("TEST_CLIENT_PIN", "wrong-pin-0000", 1);
    c = open_embedded(dir, "env:TEST_CLIENT_PIN");
    CHECK_EQ_INT(sc_login(c, NULL, NULL, NULL, NULL, &e), SU_EPIN);
    setenv("TEST_CLIENT_PIN", user_pin->data, 1);
    CHECK_EQ_INT(sc_login(c, NULL, NULL, NULL, NULL, &e), SU_EPIN);
    CHECK(strstr(e.msg, "not retried") != NULL);
    sc_close(c);
    unsetenv("TEST_CLIENT_PIN");
}

static void test_find_list_sign(void) {
    char dir[300];
    ss_store *s = fresh(dir, SS_ROLE_SO);
    ss_keyinfo *k = keygen(s, "p256", "ec:P-256");
    ss_keyinfo *gone = keygen(s, "gone", "ed25519");
    su_error e = {0};
    CHECK(k != NULL && gone != NULL);
    CHECK_EQ_INT(ss_key_destroy(s, "gone", &e), SU_OK);
    ss_keyinfo_free(gone);
    ss_close(s);

    sc_conn *c = open_embedded(dir, NULL), *c2 = open_embedded(dir, NULL);
    sc_key *key = NULL, **all = NULL;
    size_t n = 0;
    CHECK_EQ_INT(sc_login(c, user_pin, NULL, NULL, NULL, &e), SU_OK);
    /* the second connection shares the open store and its login */
    CHECK_EQ_INT(sc_key_find(c2, "p256", NULL, &key, &e), SU_OK);
    CHECK(key != NULL && key->alg == SC_ALG_EC && key->bits == 256 && key->generated);
    CHECK(key != NULL && memcmp(key->id, k->id, SC_KEY_ID_LEN) == 0);
    /* a destroyed key is refused by name */
    sc_key *g = NULL;
    CHECK_EQ_INT(sc_key_find(c, "gone", NULL, &g, &e), SU_ENOTFOUND);
    CHECK(strstr(e.msg, "gone") != NULL);
    CHECK_EQ_INT(sc_key_list(c, &all, &n, &e), SU_OK);
    CHECK_EQ_INT(n, 1);
    sc_keys_free(all, n);
    /* one signature, verified with the public half */
    unsigned char dig[32], sig[256];
    size_t siglen = 0;
    memset(dig, 7, sizeof(dig));
    sc_sign_req req = {.digest = "SHA256", .tbs = dig, .tbslen = sizeof(dig)};
    CHECK_EQ_INT(sc_sign(c, key->id, &req, NULL, &siglen, &e), SU_OK);
    CHECK(siglen >= 64 && siglen <= sizeof(sig));
    siglen = sizeof(sig);
    CHECK_EQ_INT(sc_sign(c2, key->id, &req, sig, &siglen, &e), SU_OK);
    const unsigned char *p = key->spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)key->spki_len);
    EVP_PKEY_CTX *v = EVP_PKEY_CTX_new(pub, NULL);
    CHECK(v != NULL && EVP_PKEY_verify_init(v) == 1 &&
          EVP_PKEY_CTX_set_signature_md(v, EVP_sha256()) == 1 &&
          EVP_PKEY_verify(v, sig, siglen, dig, sizeof(dig)) == 1);
    EVP_PKEY_CTX_free(v);
    EVP_PKEY_free(pub);
    /* the policy refuses through the client as through the store */
    req.digest = "SHA1";
    siglen = sizeof(sig);
    CHECK_EQ_INT(sc_sign(c, key->id, &req, sig, &siglen, &e), SU_EPOLICY);
    CHECK(strncmp(e.msg, "policy: key p256", 16) == 0);
    sc_info info;
    CHECK_EQ_INT(sc_get_info(c, &info, &e), SU_OK);
    CHECK(strcmp(info.environment, "dev") == 0 && info.daemon[0] == '\0');
    sc_key_free(key);
    ss_keyinfo_free(k);
    sc_close(c2);
    sc_close(c);
}

static void test_helpers(void) {
    CHECK(strcmp(sc_alg_ossl_name(SC_ALG_ED448), "ED448") == 0);
    CHECK(sc_env_canon("prod") != NULL && strcmp(sc_env_canon("prod"), "prod") == 0);
    CHECK(sc_env_canon("production") == NULL);
    CHECK_EQ_INT(sc_selftest_client(NULL, NULL, NULL, NULL), SU_OK);
}

static const check_case cases[] = {
    CHECK_CASE(client_login_rules, test_login_rules),
    CHECK_CASE(client_find_list_sign, test_find_list_sign),
    CHECK_CASE(client_helpers, test_helpers),
};

CHECK_MAIN(cases, store_fixture_setup, store_fixture_teardown)
