/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one token: a client connection (sealclient.h) to the configured keystore
 * or daemon, and the object table read through it.
 *
 * Login: the client logs a connection in once and answers later logins at
 * once, but PKCS#11 wants every C_Login to check its PIN (a wrong one counted,
 * a locked role reported). So C_Login and C_Logout replace the connection: the
 * PIN is checked by a connection that has not logged in yet.
 *
 * Before C_Login, public objects: in daemon mode the daemon answers without a
 * PIN. In embedded mode the keystore's records are authenticated with keys
 * derived from the user PIN, so they are read only when the configuration or
 * $SEALHSM_PIN gives one (docs/reference.md, PKCS#11 module); private keys stay hidden
 * until C_Login either way.
 */
#include "p11.h"

#include <stdlib.h>
#include <string.h>

static sc_config config_of(const p11_module *m) {
    sc_config c = {.daemon = m->cfg.daemon,
                   .keystore = m->cfg.keystore,
                   .pin_source = m->cfg.pin_source,
                   .environment = m->cfg.environment,
                   .libctx = m->libctx};
    return c;
}

static bool configured(const p11_module *m) {
    return m->cfg.daemon != NULL || m->cfg.keystore != NULL;
}

void p11_token_open(p11_module *m) {
    sc_config cfg = config_of(m);
    su_error e = {0};
    int rc = sc_open(&cfg, &m->conn, &e);

    if (rc == SU_OK && (rc = sc_get_info(m->conn, &m->info, &e)) != SU_OK) {
        sc_close(m->conn);
        m->conn = NULL;
    }
    if (rc == SU_OK) {
        m->daemon = sc_is_daemon(m->conn);
        m->login_required = !m->daemon;
        m->logged_in = !m->login_required;
    }
    /* an unconfigured module (loaded by p11-kit for every program) stays quiet when
     * the default keystore does not exist: there is simply no token */
    else if (configured(m) || rc != SU_ENOTFOUND)
        p11_log("no token: %s", e.msg);
}

static void objects_free(p11_object **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        p11_object_free(v[i]);
    free(v);
}

void p11_token_close(p11_module *m) {
    sc_close(m->conn);
    m->conn = NULL;
    objects_free(m->objs, m->nobjs);
    m->objs = NULL;
    m->nobjs = 0;
}

/* Under conn_lock for writing: a fresh connection in place of the current one. */
static int reconnect(p11_module *m, su_error *e) {
    sc_config cfg = config_of(m);

    sc_close(m->conn);
    m->conn = NULL;
    return sc_open(&cfg, &m->conn, e);
}

CK_RV p11_token_login(p11_module *m, const su_pin *pin) {
    su_error e = {0};
    int locked = 0, rc;
    CK_RV rv = CKR_OK;

    pthread_rwlock_wrlock(&m->conn_lock);
    if (m->conn == NULL) {
        pthread_rwlock_unlock(&m->conn_lock);
        return CKR_TOKEN_NOT_PRESENT;
    }
    rc = reconnect(m, &e);
    if (rc == SU_OK)
        rc = sc_login(m->conn, pin, NULL, NULL, &locked, &e);
    if (rc != SU_OK) {
        p11_log("login: %s", e.msg);
        rv = locked            ? CKR_PIN_LOCKED
             : rc == SU_EPIN   ? CKR_PIN_INCORRECT
             : rc == SU_ENOPIN ? CKR_ARGUMENTS_BAD
                               : p11_rv(rc);
        /* the failed connection would not try again: keep a fresh one for public objects */
        if (reconnect(m, &e) != SU_OK)
            p11_log("no token: %s", e.msg);
    }
    pthread_rwlock_unlock(&m->conn_lock);
    if (rv == CKR_OK) {
        pthread_mutex_lock(&m->mu);
        m->logged_in = 1;
        pthread_mutex_unlock(&m->mu);
        p11_token_refresh(m);
    }
    return rv;
}

bool p11_is_logged_in(p11_module *m) {
    bool logged_in;

    pthread_mutex_lock(&m->mu);
    logged_in = m->logged_in;
    pthread_mutex_unlock(&m->mu);
    return logged_in;
}

CK_RV p11_token_logout(p11_module *m) {
    su_error e = {0};
    int logged_in;

    logged_in = p11_is_logged_in(m);
    if (!logged_in || !m->login_required)
        return CKR_OK;
    pthread_rwlock_wrlock(&m->conn_lock);
    if (m->conn != NULL && reconnect(m, &e) != SU_OK)
        p11_log("no token: %s", e.msg);
    pthread_rwlock_unlock(&m->conn_lock);
    /* not under conn_lock: a signer holds its session's op_mu while it waits for that
     * lock; one that gets in now meets a connection that is not logged in */
    pthread_mutex_lock(&m->mu);
    m->logged_in = 0;
    for (p11_session *s = m->sessions; s != NULL; s = s->next) {
        pthread_mutex_lock(&s->op_mu);
        p11_sign_op_clear(&s->sign);
        pthread_mutex_unlock(&s->op_mu);
    }
    pthread_mutex_unlock(&m->mu);
    return CKR_OK;
}

/* The objects of one key: private key, public key, one per stored certificate.
 * A part that cannot be made (malformed public key or certificate) is left out and
 * logged; 0 only when out of memory. */
static bool key_objects(p11_module *m, const sc_key *k, p11_object ***v, size_t *n, size_t *cap) {
    sc_blob *chain = NULL;
    size_t nc = 0;
    su_error e = {0};
    p11_object *o;

    if (sc_cert_get(m->conn, k->id, &chain, &nc, &e) != SU_OK) {
        p11_log("key '%s': certificates not readable: %s", k->label, e.msg);
        nc = 0;
    }
    if (*n + 2 + nc > *cap) {
        size_t nk = (*n + 2 + nc) * 2;
        p11_object **nv = realloc(*v, nk * sizeof(*nv));

        if (nv == NULL) {
            sc_blobs_free(chain, nc);
            return false;
        }
        *v = nv;
        *cap = nk;
    }
    for (int priv = 1; priv >= 0; priv--) {
        o = p11_key_object(m->libctx, k, priv ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY,
                           nc > 0 ? &chain[0] : NULL);
        if (o == NULL)
            p11_log("key '%s': public key not usable", k->label);
        else
            (*v)[(*n)++] = o;
    }
    for (size_t i = 0; i < nc; i++) {
        if ((o = p11_cert_object(m->libctx, k, &chain[i], (unsigned)i)) == NULL)
            p11_log("key '%s': certificate %zu not usable", k->label, i + 1);
        else
            (*v)[(*n)++] = o;
    }
    sc_blobs_free(chain, nc);
    return true;
}

static bool same_object(const p11_object *a, const p11_object *b) {
    if (a->cls != b->cls || a->idx != b->idx || memcmp(a->key_id, b->key_id, SC_KEY_ID_LEN) != 0 ||
        a->nattrs != b->nattrs)
        return false;
    for (size_t i = 0; i < a->nattrs; i++)
        if (a->attrs[i].type != b->attrs[i].type || a->attrs[i].len != b->attrs[i].len ||
            (a->attrs[i].len > 0 && memcmp(a->attrs[i].value, b->attrs[i].value, a->attrs[i].len)))
            return false;
    return true;
}

CK_RV p11_token_refresh(p11_module *m) {
    sc_key **keys = NULL;
    size_t nk = 0, n = 0, cap = 0;
    p11_object **v = NULL;
    su_error e = {0};
    int rc, logged_in;

    logged_in = p11_is_logged_in(m);
    pthread_rwlock_rdlock(&m->conn_lock);
    if (m->conn == NULL) {
        pthread_rwlock_unlock(&m->conn_lock);
        return CKR_OK;
    }
    /* before C_Login: the configured PIN source, if any, opens the public view */
    if (!logged_in)
        sc_login(m->conn, NULL, NULL, NULL, NULL, NULL);
    rc = sc_key_list(m->conn, &keys, &nk, &e);
    for (size_t i = 0; rc == SU_OK && i < nk; i++)
        if (!key_objects(m, keys[i], &v, &n, &cap))
            rc = su_err(&e, SU_EIO, "out of memory");
    pthread_rwlock_unlock(&m->conn_lock);
    sc_keys_free(keys, nk);
    if (rc == SU_EPIN || rc == SU_ENOPIN) { /* nothing is readable without a PIN */
        rc = SU_OK;
        objects_free(v, n);
        v = NULL;
        n = 0;
    }
    if (rc != SU_OK) {
        p11_log("reading the keys: %s", e.msg);
        objects_free(v, n);
        return p11_rv(rc);
    }
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < m->nobjs && v[i]->handle == 0; j++)
            if (m->objs[j] != NULL && same_object(v[i], m->objs[j]))
                v[i]->handle = m->objs[j]->handle;
        if (v[i]->handle == 0)
            v[i]->handle = m->next_object++;
    }
    objects_free(m->objs, m->nobjs);
    m->objs = v;
    m->nobjs = n;
    pthread_mutex_unlock(&m->mu);
    return CKR_OK;
}

p11_object *p11_object_get(p11_module *m, CK_OBJECT_HANDLE h) {
    for (size_t i = 0; i < m->nobjs; i++)
        if (m->objs[i]->handle == h)
            return m->objs[i]->is_private && !m->logged_in ? NULL : m->objs[i];
    return NULL;
}
