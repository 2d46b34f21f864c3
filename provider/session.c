/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keystore sessions: the provider's client connection (sealclient.h) per
 * keystore the configuration or a URI names, opened on first use, and the
 * calls that turn the client's errors into the provider's. Which backend
 * (keystore in this process, or the daemon) is the client's business.
 */
#include "prov.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sealhsm_session {
    SEALHSM_SESSION *next;
    SEALHSM_PROV *prov;
    char *dir; /* as configured or named by a URI; "" = the configured keystore */
    sc_conn *conn;
    sc_info info;
};

SEALHSM_PROV *sealhsm_session_prov(const SEALHSM_SESSION *s) {
    return s->prov;
}

const char *sealhsm_session_path(const SEALHSM_SESSION *s) {
    return s->info.keystore;
}

void sealhsm_session_store_id(const SEALHSM_SESSION *s, unsigned char out[SC_STORE_ID_LEN]) {
    memcpy(out, s->info.store_id, SC_STORE_ID_LEN);
}

static void session_free(SEALHSM_SESSION *s) {
    sc_close(s->conn);
    OPENSSL_free(s->dir);
    OPENSSL_free(s);
}

void sealhsm_sessions_free(SEALHSM_PROV *p) {
    while (p->sessions != NULL) {
        SEALHSM_SESSION *next = p->sessions->next;
        session_free(p->sessions);
        p->sessions = next;
    }
}

static SEALHSM_SESSION *session_open(SEALHSM_PROV *p, const char *dir) {
    SEALHSM_SESSION *s = OPENSSL_zalloc(sizeof(*s));
    sc_config cfg = {.daemon = p->daemon,
                     .keystore = *dir != '\0' ? dir : p->keystore,
                     .pin_source = p->pin_source,
                     .environment = p->environment,
                     .syslog = p->syslog,
                     .libctx = p->libctx};
    su_error e = {0};

    if (s == NULL || (s->dir = OPENSSL_strdup(dir)) == NULL) {
        SEALHSM_ERR(p, SEALHSM_R_IO, "sealhsm: out of memory opening a keystore");
        goto err;
    }
    /* In daemon mode only a URI's ;keystore= is checked against the daemon's. */
    if (p->daemon != NULL && *dir == '\0')
        cfg.keystore = NULL;
    if (sc_open(&cfg, &s->conn, &e) != SU_OK || sc_get_info(s->conn, &s->info, &e) != SU_OK) {
        SEALHSM_CLIENT_ERR(p, &e);
        goto err;
    }
    s->prov = p;
    return s;

err:
    if (s != NULL)
        session_free(s);
    return NULL;
}

SEALHSM_SESSION *sealhsm_session_get(SEALHSM_PROV *p, const char *dir) {
    SEALHSM_SESSION *s;

    if (!sealhsm_prov_running(p))
        return NULL;
    if (dir == NULL)
        dir = "";
    if (!CRYPTO_THREAD_write_lock(p->lock))
        return NULL;
    for (s = p->sessions; s != NULL; s = s->next)
        if (strcmp(s->dir, dir) == 0)
            break;
    if (s == NULL && (s = session_open(p, dir)) != NULL) {
        s->next = p->sessions;
        p->sessions = s;
    }
    CRYPTO_THREAD_unlock(p->lock);
    return s;
}

int sealhsm_pin_from_callback(OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg, const char *info,
                              su_pin **out, su_error *e) {
    char buf[SU_PIN_MAX + 1];
    size_t len = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO, (char *)info, 0),
        OSSL_PARAM_END};
    int rc = SU_OK;

    if (!cb(buf, sizeof(buf), &len, params, cbarg))
        rc = su_err(e, SU_ENOPIN, "no PIN given for %s", info);
    else if (len < SU_PIN_MIN || len > SU_PIN_MAX)
        rc = su_err(e, SU_EUSAGE, "the PIN given for %s must be %d to %d bytes", info, SU_PIN_MIN,
                    SU_PIN_MAX);
    else if ((*out = su_pin_new(buf, len)) == NULL)
        rc = su_err(e, SU_EIO, "out of secure memory for %s", info);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

typedef struct app_cb {
    OSSL_PASSPHRASE_CALLBACK *cb;
    void *cbarg;
} APP_CB;

/* The client asks for the user PIN with the keystore named in what. */
static int user_pin_cb(void *arg, const char *what, su_pin **out, su_error *e) {
    const APP_CB *a = arg;

    return sealhsm_pin_from_callback(a->cb, a->cbarg, what, out, e);
}

int sealhsm_session_login(SEALHSM_SESSION *s, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg) {
    APP_CB a = {cb, cbarg};
    su_error e = {0};

    if (sc_login(s->conn, NULL, cb != NULL ? user_pin_cb : NULL, &a, NULL, &e) == SU_OK)
        return 1;
    SEALHSM_CLIENT_ERR(s->prov, &e);
    return 0;
}

int sealhsm_session_key_get(SEALHSM_SESSION *s, const char *label, const unsigned char *id,
                            sc_key **out) {
    su_error e = {0};

    if (sc_key_find(s->conn, label, id, out, &e) == SU_OK)
        return 1;
    SEALHSM_CLIENT_ERR(s->prov, &e);
    return 0;
}

int sealhsm_session_cert_get(SEALHSM_SESSION *s, const unsigned char *id, sc_blob **chain,
                             size_t *n) {
    su_error e = {0};

    if (sc_cert_get(s->conn, id, chain, n, &e) == SU_OK)
        return 1;
    SEALHSM_CLIENT_ERR(s->prov, &e);
    return 0;
}

int sealhsm_session_sign(SEALHSM_SESSION *s, const unsigned char *id, const sc_sign_req *req,
                         unsigned char *sig, size_t *siglen) {
    su_error e = {0};

    if (sc_sign(s->conn, id, req, sig, siglen, &e) == SU_OK)
        return 1;
    SEALHSM_CLIENT_ERR(s->prov, &e);
    return 0;
}
