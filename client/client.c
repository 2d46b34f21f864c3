/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The public entry points of sealclient.h: argument checks, the choice of
 * backend, and the helpers every front end shares. The backends do the work.
 */
#include "internal.h"
#include "sealstore.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

int sc_open(const sc_config *cfg, sc_conn **out, su_error *e) {
    sc_conn *c;
    int rc;

    if (cfg == NULL || out == NULL)
        return su_err(e, SU_EUSAGE, "sc_open: no configuration");
    *out = NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return su_err(e, SU_EIO, "out of memory");
    if (cfg->daemon != NULL && *cfg->daemon != '\0')
        rc = sc_remote_open(cfg, c, e);
    else
        rc = sc_embedded_open(cfg, c, e);
    if (rc != SU_OK) {
        free(c);
        return rc;
    }
    *out = c;
    return SU_OK;
}

void sc_close(sc_conn *c) {
    if (c == NULL)
        return;
    c->be->close(c);
    free(c);
}

bool sc_is_daemon(const sc_conn *c) {
    return c->be->daemon;
}

int sc_get_info(sc_conn *c, sc_info *out, su_error *e) {
    memset(out, 0, sizeof(*out));
    return c->be->info(c, out, e);
}

int sc_login(sc_conn *c, const su_pin *pin, sc_pin_cb cb, void *cbarg, int *locked, su_error *e) {
    if (locked != NULL)
        *locked = 0;
    return c->be->login(c, pin, cb, cbarg, locked, e);
}

int sc_key_find(sc_conn *c, const char *label, const unsigned char *id, sc_key **out, su_error *e) {
    *out = NULL;
    if ((label == NULL) == (id == NULL))
        return su_err(e, SU_EUSAGE, "a key is named by its label or by its id");
    return c->be->key_find(c, label, id, out, e);
}

int sc_key_list(sc_conn *c, sc_key ***out, size_t *n, su_error *e) {
    *out = NULL;
    *n = 0;
    return c->be->key_list(c, out, n, e);
}

int sc_cert_get(sc_conn *c, const unsigned char id[SC_KEY_ID_LEN], sc_blob **chain, size_t *n,
                su_error *e) {
    *chain = NULL;
    *n = 0;
    return c->be->cert_get(c, id, chain, n, e);
}

int sc_sign(sc_conn *c, const unsigned char id[SC_KEY_ID_LEN], const sc_sign_req *req,
            unsigned char *sig, size_t *siglen, su_error *e) {
    if (req == NULL || siglen == NULL || (sig != NULL && req->tbs == NULL))
        return su_err(e, SU_EUSAGE, "sc_sign: no request");
    return c->be->sign(c, id, req, sig, siglen, e);
}

void sc_key_free(sc_key *k) {
    if (k == NULL)
        return;
    free(k->label);
    free(k->spki);
    free(k);
}

void sc_keys_free(sc_key **v, size_t n) {
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        sc_key_free(v[i]);
    free(v);
}

void sc_blobs_free(sc_blob *v, size_t n) {
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i].data);
    free(v);
}

/* ---- shared helpers: the store's own rules, so no front end writes them again ---- */

const char *sc_alg_ossl_name(sc_alg alg) {
    ss_keytype t = {.alg = (ss_alg)alg, .bits = 0};

    return ss_keytype_ossl_name(t);
}

const char *sc_env_canon(const char *name) {
    ss_env env;

    if (name == NULL || ss_env_parse(name, &env, NULL) != SU_OK)
        return NULL;
    return ss_env_name(env);
}

int sc_keyref_decode(const unsigned char *der, size_t len, unsigned char store_id[SC_STORE_ID_LEN],
                     unsigned char key_id[SC_KEY_ID_LEN], char **label, su_error *e) {
    return ss_keyref_decode(der, len, store_id, key_id, label, e);
}

int sc_selftest(OSSL_LIB_CTX *libctx, void (*report)(const char *name, int ok, void *arg),
                void *arg, su_error *e) {
    return ss_selftest(libctx, NULL, report, arg, e);
}

int sc_selftest_client(OSSL_LIB_CTX *libctx, void (*report)(const char *name, int ok, void *arg),
                       void *arg, su_error *e) {
    return ss_selftest_digests(libctx, NULL, report, arg, e);
}
