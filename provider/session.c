/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keystore sessions: one open ss_store per keystore directory per provider,
 * logged in as the user role on first need. LMDB forbids opening the same
 * environment twice in a process, so every object of the provider that names
 * a keystore shares its session.
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
    char *path;
    ss_store *store;
    /* The store allows concurrent calls once logged in but not during the
     * login itself: login takes this for writing, every other call for reading. */
    CRYPTO_RWLOCK *lock;
    /* Set after a wrong PIN: retrying the same source would only burn tries. */
    char *login_failure;
};

SEALHSM_PROV *sealhsm_session_prov(const SEALHSM_SESSION *s) {
    return s->prov;
}

const char *sealhsm_session_path(const SEALHSM_SESSION *s) {
    return s->path;
}

void sealhsm_session_store_id(const SEALHSM_SESSION *s, unsigned char out[SS_STORE_ID_LEN]) {
    ss_store_id(s->store, out);
}

static void session_free(SEALHSM_SESSION *s) {
    ss_close(s->store);
    CRYPTO_THREAD_lock_free(s->lock);
    OPENSSL_free(s->path);
    OPENSSL_free(s->login_failure);
    OPENSSL_free(s);
}

void sealhsm_sessions_free(SEALHSM_PROV *p) {
    while (p->sessions != NULL) {
        SEALHSM_SESSION *next = p->sessions->next;
        session_free(p->sessions);
        p->sessions = next;
    }
}

static SEALHSM_SESSION *session_open(SEALHSM_PROV *p, const char *path) {
    SEALHSM_SESSION *s = OPENSSL_zalloc(sizeof(*s));
    ss_error e = {0};

    if (s == NULL || (s->path = OPENSSL_strdup(path)) == NULL ||
        (s->lock = CRYPTO_THREAD_lock_new()) == NULL) {
        SEALHSM_ERR(p, SEALHSM_R_IO, "sealhsm: out of memory opening keystore %s", path);
        goto err;
    }
    if (ss_open(path, p->libctx, NULL, &s->store, &e) == SU_OK && p->syslog)
        ss_set_syslog(s->store, 1);
    if (s->store == NULL) {
        SEALHSM_STORE_ERR(p, &e);
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
    char path[PATH_MAX], canon[PATH_MAX];
    const char *key = path;
    SEALHSM_SESSION *s;
    ss_error e = {0};

    if (!sealhsm_prov_running(p))
        return NULL;
    if (ss_resolve_path(dir != NULL ? dir : p->keystore, path, sizeof(path), &e) != SU_OK) {
        SEALHSM_STORE_ERR(p, &e);
        return NULL;
    }
    /* "ks", "./ks" and "ks/" must share one session */
    if (realpath(path, canon) != NULL)
        key = canon;
    if (!CRYPTO_THREAD_write_lock(p->lock))
        return NULL;
    for (s = p->sessions; s != NULL; s = s->next)
        if (strcmp(s->path, key) == 0)
            break;
    if (s == NULL && (s = session_open(p, key)) != NULL) {
        s->next = p->sessions;
        p->sessions = s;
    }
    CRYPTO_THREAD_unlock(p->lock);
    return s;
}

int sealhsm_pin_from_callback(SEALHSM_PROV *p, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg,
                              const char *info, su_pin **out) {
    char buf[SU_PIN_MAX + 1];
    size_t len = 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO, (char *)info, 0),
        OSSL_PARAM_END};
    int ok = 0;

    if (!cb(buf, sizeof(buf), &len, params, cbarg)) {
        SEALHSM_ERR(p, SEALHSM_R_NO_PIN, "sealhsm: no PIN given for %s", info);
    } else if (len < SU_PIN_MIN || len > SU_PIN_MAX) {
        SEALHSM_ERR(p, SEALHSM_R_USAGE, "sealhsm: the PIN given for %s must be %d to %d bytes",
                    info, SU_PIN_MIN, SU_PIN_MAX);
    } else if ((*out = su_pin_new(buf, len)) == NULL) {
        SEALHSM_ERR(p, SEALHSM_R_IO, "sealhsm: out of secure memory for %s", info);
    } else {
        ok = 1;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return ok;
}

/* The user PIN: pin-source param, else $SEALHSM_PIN, else the application
 * (docs/reference.md, PIN sources (provider)). */
static int user_pin(SEALHSM_SESSION *s, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg, su_pin **out) {
    SEALHSM_PROV *p = s->prov;
    char info[PATH_MAX + 64];
    ss_error e = {0};
    int rc;

    snprintf(info, sizeof(info), "the sealhsm user PIN of keystore %s", s->path);
    if (p->pin_source != NULL) {
        rc = su_pin_from_source(p->pin_source, "sealhsm user PIN: ", out, &e);
    } else {
        rc = su_pin_from_source("env:SEALHSM_PIN", NULL, out, &e);
        if (rc == SU_ENOPIN && cb != NULL)
            return sealhsm_pin_from_callback(p, cb, cbarg, info, out);
        if (rc == SU_ENOPIN)
            su_err(&e, SU_ENOPIN,
                   "no user PIN for keystore %s: set the provider parameter pin-source or "
                   "SEALHSM_PIN",
                   s->path);
    }
    if (rc != SU_OK) {
        SEALHSM_STORE_ERR(p, &e);
        return 0;
    }
    return 1;
}

int sealhsm_session_login(SEALHSM_SESSION *s, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg) {
    su_pin *pin = NULL;
    ss_error e = {0};
    int ok = 0;

    /* Every signature passes here: once logged in, a shared lock is enough, so that
     * concurrent signers stay inside ss_sign together and share commits. */
    if (!CRYPTO_THREAD_read_lock(s->lock))
        return 0;
    ok = ss_logged_in(s->store) == SS_ROLE_USER;
    CRYPTO_THREAD_unlock(s->lock);
    if (ok)
        return 1;
    if (!CRYPTO_THREAD_write_lock(s->lock))
        return 0;
    if (ss_logged_in(s->store) == SS_ROLE_USER) {
        ok = 1;
    } else if (s->login_failure != NULL) {
        SEALHSM_ERR(s->prov, SEALHSM_R_PIN, "sealhsm: %s (not retried in this process)",
                    s->login_failure);
    } else if (user_pin(s, cb, cbarg, &pin)) {
        if (ss_login(s->store, SS_ROLE_USER, NULL, pin, &e) == SU_OK) {
            ok = 1;
        } else {
            if (e.code == SU_EPIN)
                s->login_failure = OPENSSL_strdup(e.msg);
            SEALHSM_STORE_ERR(s->prov, &e);
        }
    }
    su_pin_free(pin);
    CRYPTO_THREAD_unlock(s->lock);
    return ok;
}

int sealhsm_session_key_get(SEALHSM_SESSION *s, const char *label, const unsigned char *id,
                            ss_keyinfo **out) {
    ss_error e = {0};
    int rc;

    if (!CRYPTO_THREAD_read_lock(s->lock))
        return 0;
    /* a destroyed key is refused here, by name, and the refusal audited */
    rc = ss_key_use(s->store, label, id, out, &e);
    CRYPTO_THREAD_unlock(s->lock);
    if (rc != SU_OK)
        SEALHSM_STORE_ERR(s->prov, &e);
    return rc == SU_OK;
}

int sealhsm_session_cert_get(SEALHSM_SESSION *s, const unsigned char *id, ss_blob **chain,
                             size_t *n) {
    ss_error e = {0};
    int rc;

    if (!CRYPTO_THREAD_read_lock(s->lock))
        return 0;
    rc = ss_cert_get(s->store, id, chain, n, &e);
    CRYPTO_THREAD_unlock(s->lock);
    if (rc != SU_OK)
        SEALHSM_STORE_ERR(s->prov, &e);
    return rc == SU_OK;
}

int sealhsm_session_sign(SEALHSM_SESSION *s, const unsigned char *id, const ss_sign_req *req,
                         unsigned char *sig, size_t *siglen) {
    ss_error e = {0};
    int rc;

    if (!CRYPTO_THREAD_read_lock(s->lock))
        return 0;
    rc = ss_sign(s->store, id, req, sig, siglen, &e);
    CRYPTO_THREAD_unlock(s->lock);
    if (rc != SU_OK)
        SEALHSM_STORE_ERR(s->prov, &e);
    return rc == SU_OK;
}
