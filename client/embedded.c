/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The embedded backend: the keystore is opened in this process. LMDB forbids
 * opening one environment twice in a process, so every connection to a
 * keystore directory (and library context) shares one open store, kept in a
 * process-wide list with a reference count. The user role is logged in once
 * per open store; a wrong PIN is remembered and not retried, since retrying the
 * same source would only burn tries.
 */
#include "internal.h"
#include "sealstore.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct shared_store {
    struct shared_store *next;
    char *path;
    OSSL_LIB_CTX *libctx;
    unsigned refs;
    ss_store *store;
    /* The store allows concurrent calls once logged in but not during the login
     * itself: login takes this for writing, every other call for reading, so that
     * concurrent signers stay inside ss_sign together and share commits. */
    pthread_rwlock_t lock;
    char *login_failure; /* set after a wrong PIN */
} shared_store;

typedef struct embedded {
    shared_store *ss;
    char *pin_source;
    char environment[16];
} embedded;

static pthread_mutex_t stores_mu = PTHREAD_MUTEX_INITIALIZER;
static shared_store *stores;

static void shared_free(shared_store *s) {
    ss_close(s->store);
    pthread_rwlock_destroy(&s->lock);
    free(s->path);
    free(s->login_failure);
    free(s);
}

/* The open store of path in libctx, opened on first use; a new reference. */
static int shared_get(const char *path, OSSL_LIB_CTX *libctx, int syslog, shared_store **out,
                      su_error *e) {
    shared_store *s;
    int rc = SU_OK;

    pthread_mutex_lock(&stores_mu);
    for (s = stores; s != NULL; s = s->next)
        if (s->libctx == libctx && strcmp(s->path, path) == 0)
            break;
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s))) == NULL || (s->path = strdup(path)) == NULL) {
            free(s);
            s = NULL;
            rc = su_err(e, SU_EIO, "out of memory opening keystore %s", path);
        } else if ((rc = ss_open(path, libctx, NULL, &s->store, e)) != SU_OK) {
            free(s->path);
            free(s);
            s = NULL;
        } else {
            pthread_rwlock_init(&s->lock, NULL);
            s->libctx = libctx;
            s->next = stores;
            stores = s;
        }
    }
    if (s != NULL) {
        s->refs++;
        if (syslog)
            ss_set_syslog(s->store, 1);
    }
    pthread_mutex_unlock(&stores_mu);
    *out = s;
    return rc;
}

static void shared_put(shared_store *s) {
    pthread_mutex_lock(&stores_mu);
    if (--s->refs == 0) {
        for (shared_store **pp = &stores; *pp != NULL; pp = &(*pp)->next)
            if (*pp == s) {
                *pp = s->next;
                break;
            }
        shared_free(s);
    }
    pthread_mutex_unlock(&stores_mu);
}

static embedded *emb(sc_conn *c) {
    return c->impl;
}

static int emb_info(sc_conn *c, sc_info *out, su_error *e) {
    embedded *m = emb(c);

    ss_store_id(m->ss->store, out->store_id);
    snprintf(out->label, sizeof(out->label), "%s", ss_store_label(m->ss->store));
    snprintf(out->environment, sizeof(out->environment), "%s", m->environment);
    snprintf(out->keystore, sizeof(out->keystore), "%s", m->ss->path);
    return SU_OK;
}

/* The user PIN: the pin-source, else $SEALHSM_PIN, else the front end's callback. */
static int user_pin(embedded *m, sc_pin_cb cb, void *cbarg, su_pin **out, su_error *e) {
    char what[PATH_MAX + 64];
    int rc;

    if (m->pin_source != NULL)
        return su_pin_from_source(m->pin_source, "sealhsm user PIN: ", out, e);
    rc = su_pin_from_source("env:SEALHSM_PIN", NULL, out, e);
    if (rc == SU_ENOPIN && cb != NULL) {
        snprintf(what, sizeof(what), "the sealhsm user PIN of keystore %s", m->ss->path);
        su_error_clear(e);
        return cb(cbarg, what, out, e);
    }
    if (rc == SU_ENOPIN)
        return su_err(e, SU_ENOPIN,
                      "no user PIN for keystore %s: set the provider parameter pin-source or "
                      "SEALHSM_PIN",
                      m->ss->path);
    return rc;
}

static int emb_login(sc_conn *c, const su_pin *pin, sc_pin_cb cb, void *cbarg, int *locked,
                     su_error *e) {
    shared_store *s = emb(c)->ss;
    su_pin *got = NULL;
    int rc;

    pthread_rwlock_rdlock(&s->lock);
    rc = ss_logged_in(s->store) == SS_ROLE_USER;
    pthread_rwlock_unlock(&s->lock);
    if (rc)
        return SU_OK;
    pthread_rwlock_wrlock(&s->lock);
    if (ss_logged_in(s->store) == SS_ROLE_USER) {
        rc = SU_OK;
    } else if (pin != NULL) {
        /* a PIN the caller typed (PKCS#11 C_Login): every attempt is its own, and the
         * store counts it */
        rc = ss_login(s->store, SS_ROLE_USER, NULL, pin, e);
    } else if (s->login_failure != NULL) {
        rc = su_err(e, SU_EPIN, "%s (not retried in this process)", s->login_failure);
    } else if ((rc = user_pin(emb(c), cb, cbarg, &got, e)) == SU_OK) {
        rc = ss_login(s->store, SS_ROLE_USER, NULL, got, e);
        /* the same source would give the same wrong PIN: not asked again */
        if (rc == SU_EPIN)
            s->login_failure = strdup(e != NULL ? e->msg : "wrong user PIN");
    }
    if (rc == SU_EPIN && locked != NULL && e != NULL && strstr(e->msg, "locked") != NULL)
        *locked = 1;
    su_pin_free(got);
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

/* A client copy of a store key record (no secret crosses: the public key only). */
static sc_key *key_from_info(const ss_keyinfo *k) {
    sc_key *o = calloc(1, sizeof(*o));

    if (o == NULL || (o->label = strdup(k->label)) == NULL)
        goto err;
    memcpy(o->id, k->id, sizeof(o->id));
    o->alg = (sc_alg)k->type.alg;
    o->bits = k->type.bits;
    o->state = (sc_state)k->state;
    o->generated = k->origin == SS_ORIGIN_GENERATED;
    o->key_pin = k->policy.key_pin;
    if (k->spki != NULL && k->spki_len > 0) {
        if ((o->spki = malloc(k->spki_len)) == NULL)
            goto err;
        memcpy(o->spki, k->spki, k->spki_len);
        o->spki_len = k->spki_len;
    }
    return o;

err:
    sc_key_free(o);
    return NULL;
}

static int emb_key_find(sc_conn *c, const char *label, const unsigned char *id, sc_key **out,
                        su_error *e) {
    shared_store *s = emb(c)->ss;
    ss_keyinfo *info = NULL;
    int rc;

    pthread_rwlock_rdlock(&s->lock);
    /* a destroyed key is refused here, by name, and the refusal audited */
    rc = ss_key_use(s->store, label, id, &info, e);
    pthread_rwlock_unlock(&s->lock);
    if (rc == SU_OK && (*out = key_from_info(info)) == NULL)
        rc = su_err(e, SU_EIO, "out of memory");
    ss_keyinfo_free(info);
    return rc;
}

static int emb_key_list(sc_conn *c, sc_key ***out, size_t *n, su_error *e) {
    shared_store *s = emb(c)->ss;
    ss_keyinfo **v = NULL;
    size_t nv = 0, cnt = 0;
    int rc;

    pthread_rwlock_rdlock(&s->lock);
    rc = ss_key_list(s->store, &v, &nv, e);
    pthread_rwlock_unlock(&s->lock);
    if (rc == SU_OK && nv > 0 && (*out = calloc(nv, sizeof(**out))) == NULL)
        rc = su_err(e, SU_EIO, "out of memory");
    for (size_t i = 0; rc == SU_OK && i < nv; i++) {
        if (v[i]->state == SS_STATE_DESTROYED)
            continue;
        if (((*out)[cnt] = key_from_info(v[i])) == NULL)
            rc = su_err(e, SU_EIO, "out of memory");
        else
            cnt++;
    }
    ss_keylist_free(v, nv);
    if (rc != SU_OK) {
        sc_keys_free(*out, cnt);
        *out = NULL;
        cnt = 0;
    }
    *n = cnt;
    return rc;
}

static int emb_cert_get(sc_conn *c, const unsigned char *id, sc_blob **chain, size_t *n,
                        su_error *e) {
    shared_store *s = emb(c)->ss;
    ss_blob *v = NULL;
    size_t nv = 0;
    int rc;

    pthread_rwlock_rdlock(&s->lock);
    rc = ss_cert_get(s->store, id, &v, &nv, e);
    pthread_rwlock_unlock(&s->lock);
    if (rc == SU_OK && nv > 0 && (*chain = calloc(nv, sizeof(**chain))) == NULL)
        rc = su_err(e, SU_EIO, "out of memory");
    for (size_t i = 0; rc == SU_OK && i < nv; i++) {
        if (((*chain)[i].data = malloc(v[i].len)) == NULL) {
            rc = su_err(e, SU_EIO, "out of memory");
            break;
        }
        memcpy((*chain)[i].data, v[i].data, v[i].len);
        (*chain)[i].len = v[i].len;
        *n = i + 1;
    }
    ss_blobs_free(v, nv);
    if (rc != SU_OK) {
        sc_blobs_free(*chain, *n);
        *chain = NULL;
        *n = 0;
    }
    return rc;
}

static int emb_sign(sc_conn *c, const unsigned char *id, const sc_sign_req *req, unsigned char *sig,
                    size_t *siglen, su_error *e) {
    embedded *m = emb(c);
    ss_sign_req r = {.digest = req->digest,
                     .padding = req->padding,
                     .mgf1_digest = req->mgf1_digest,
                     .pss_saltlen = req->pss_saltlen,
                     .tbs = req->tbs,
                     .tbslen = req->tbslen,
                     .environment = m->environment,
                     /* same shape: (arg, label, out, e) */
                     .key_pin_cb = (ss_pin_cb)req->key_pin_cb,
                     .key_pin_arg = req->key_pin_arg};
    int rc;

    pthread_rwlock_rdlock(&m->ss->lock);
    rc = ss_sign(m->ss->store, id, &r, sig, siglen, e);
    pthread_rwlock_unlock(&m->ss->lock);
    return rc;
}

static void emb_close(sc_conn *c) {
    embedded *m = emb(c);

    shared_put(m->ss);
    free(m->pin_source);
    free(m);
}

static const sc_backend embedded_backend = {.daemon = 0,
                                            .info = emb_info,
                                            .login = emb_login,
                                            .key_find = emb_key_find,
                                            .key_list = emb_key_list,
                                            .cert_get = emb_cert_get,
                                            .sign = emb_sign,
                                            .close = emb_close};

int sc_embedded_open(const sc_config *cfg, sc_conn *c, su_error *e) {
    char path[PATH_MAX], canon[PATH_MAX];
    const char *key = path, *env = cfg->environment != NULL ? cfg->environment : "dev";
    embedded *m;
    int rc;

    if (sc_env_canon(env) == NULL)
        return su_err(e, SU_EUSAGE, "environment '%.64s' is not dev, test or prod", env);
    if ((rc = ss_resolve_path(cfg->keystore, path, sizeof(path), e)) != SU_OK)
        return rc;
    /* "ks", "./ks" and "ks/" must share one open store */
    if (realpath(path, canon) != NULL)
        key = canon;
    if ((m = calloc(1, sizeof(*m))) == NULL ||
        (cfg->pin_source != NULL && (m->pin_source = strdup(cfg->pin_source)) == NULL)) {
        free(m);
        return su_err(e, SU_EIO, "out of memory");
    }
    snprintf(m->environment, sizeof(m->environment), "%s", sc_env_canon(env));
    if ((rc = shared_get(key, cfg->libctx, cfg->syslog, &m->ss, e)) != SU_OK) {
        free(m->pin_source);
        free(m);
        return rc;
    }
    c->be = &embedded_backend;
    c->impl = m;
    return SU_OK;
}
