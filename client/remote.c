/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon backend: every call is one request and one response to sealhsmd
 * over its UNIX socket (docs/protocol.md). No keystore file, PIN or private key
 * is in this process.
 *
 * Connections come from a small pool: a call takes an idle connection (or opens
 * one and says hello) and gives it back afterwards, so threads never wait for
 * one another's requests. A connection opened before fork() is never used by
 * the child (each remembers the fork generation it was opened in), and a
 * connection the daemon closed (it
 * restarted) is replaced once, transparently.
 */
#include "internal.h"
#include "sealwire.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define POOL_MAX 16
#define PIN_KEYS_MAX 64
/* A response may wait behind many other clients' commits; a daemon that says
 * nothing for this long is treated as gone. */
#define RESPONSE_MS 120000

typedef struct rconn {
    int fd;
    unsigned long gen; /* fork_gen when opened */
    struct rconn *next;
} rconn;

typedef struct pin_key {
    unsigned char id[SC_KEY_ID_LEN];
    char label[SC_LABEL_MAX + 1];
} pin_key;

typedef struct remote {
    char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
    pthread_mutex_t mu;
    rconn *idle;
    size_t nidle;
    sc_info info; /* from the first hello */
    /* keys found with a usage PIN: their sign requests carry it from the start */
    pin_key pin_keys[PIN_KEYS_MAX];
    size_t npin_keys;
    struct remote *next_open; /* the list fork() handling walks */
} remote;

/*
 * fork() in a threaded client: a pool lock held by another thread at that
 * moment would stay locked forever in the child. Around fork every pool's lock
 * is taken by the forking thread and released on both sides.
 */
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static remote *open_list;
/* Bumped in every child: a connection of an older generation is a parent's. Read
 * without a lock: it only changes in a child before any other of its threads runs.
 * (Cheaper than a getpid() system call per signature.) */
static unsigned long fork_gen;

static void fork_prepare(void) {
    pthread_mutex_lock(&open_mu);
    for (remote *r = open_list; r != NULL; r = r->next_open)
        pthread_mutex_lock(&r->mu);
}

static void fork_release(void) {
    for (remote *r = open_list; r != NULL; r = r->next_open)
        pthread_mutex_unlock(&r->mu);
    pthread_mutex_unlock(&open_mu);
}

static void fork_child(void) {
    fork_gen++;
    fork_release();
}

static void atfork_register(void) {
    pthread_atfork(fork_prepare, fork_release, fork_child);
}

static remote *rem(sc_conn *c) {
    return c->impl;
}

static void rconn_close(rconn *k) {
    if (k == NULL)
        return;
    /* the child of a fork only drops its reference: the parent's stays open */
    close(k->fd);
    free(k);
}

static int hello(remote *r, rconn *k, su_error *e) {
    sw_request q = {
        .op = SW_OP_HELLO, .version_min = SW_VERSION_MIN, .version_max = SW_VERSION_MAX};
    sw_response resp;
    su_error le = {0};
    int rc = sw_call(k->fd, &q, &resp, RESPONSE_MS, &le);

    if (rc != SU_OK)
        return su_err(e, SU_EIO, "daemon: cannot reach %s: %s", r->socket, le.msg);
    if (resp.status != SU_OK)
        rc = su_err(e, SU_EIO, "daemon: %s: %s", r->socket, resp.message);
    else if (!resp.has_store_id || resp.keystore == NULL || resp.environment == NULL)
        rc = su_err(e, SU_EIO, "daemon: %s: incomplete hello", r->socket);
    if (rc == SU_OK) {
        pthread_mutex_lock(&r->mu);
        if (r->info.keystore[0] == '\0') {
            memcpy(r->info.store_id, resp.store_id, SC_STORE_ID_LEN);
            snprintf(r->info.keystore, sizeof(r->info.keystore), "%s", resp.keystore);
            snprintf(r->info.environment, sizeof(r->info.environment), "%s", resp.environment);
            snprintf(r->info.label, sizeof(r->info.label), "%s",
                     resp.label != NULL ? resp.label : "sealhsm");
            snprintf(r->info.daemon, sizeof(r->info.daemon), "%s", r->socket);
        } else if (memcmp(r->info.store_id, resp.store_id, SC_STORE_ID_LEN) != 0) {
            /* key ids this process holds belong to the first keystore */
            rc = su_err(e, SU_EIO, "daemon: %s now serves another keystore (%s)", r->socket,
                        resp.keystore);
        }
        pthread_mutex_unlock(&r->mu);
    }
    sw_response_clear(&resp);
    return rc;
}

static int connect_new(remote *r, rconn **out, su_error *e) {
    rconn *k = calloc(1, sizeof(*k));
    su_error le = {0};
    int rc;

    if (k == NULL)
        return su_err(e, SU_EIO, "out of memory");
    k->gen = fork_gen;
    if (sw_connect(r->socket, &k->fd, &le) != SU_OK) {
        free(k);
        return su_err(e, SU_EIO, "daemon: cannot reach %s: %s", r->socket, le.msg);
    }
    if ((rc = hello(r, k, e)) != SU_OK) {
        rconn_close(k);
        return rc;
    }
    *out = k;
    return SU_OK;
}

/* An idle connection of this process, or NULL. Those of a parent are dropped. */
static rconn *take_idle(remote *r) {
    rconn *k, *stale = NULL;

    pthread_mutex_lock(&r->mu);
    while ((k = r->idle) != NULL) {
        r->idle = k->next;
        r->nidle--;
        if (k->gen == fork_gen)
            break;
        k->next = stale;
        stale = k;
    }
    pthread_mutex_unlock(&r->mu);
    while (stale != NULL) {
        rconn *n = stale->next;
        rconn_close(stale);
        stale = n;
    }
    return k;
}

static void give_back(remote *r, rconn *k) {
    pthread_mutex_lock(&r->mu);
    if (r->nidle < POOL_MAX) {
        k->next = r->idle;
        r->idle = k;
        r->nidle++;
        k = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    rconn_close(k);
}

/*
 * One round trip. A pooled connection that fails may be one the daemon closed
 * when it restarted: the request is sent again once on a fresh connection.
 */
static int call(remote *r, const sw_request *q, sw_response *resp, su_error *e) {
    for (int attempt = 0;; attempt++) {
        rconn *k = take_idle(r);
        su_error le = {0};
        int fresh = k == NULL, rc;

        if (fresh && (rc = connect_new(r, &k, e)) != SU_OK)
            return rc;
        if ((rc = sw_call(k->fd, q, resp, RESPONSE_MS, &le)) == SU_OK) {
            give_back(r, k);
            return SU_OK;
        }
        rconn_close(k);
        if (fresh || attempt > 0)
            return su_err(e, SU_EIO, "daemon: %s: %s", r->socket, le.msg);
    }
}

/* A response's error as the client's: the daemon's message as it is. */
static int resp_err(const sw_response *resp, su_error *e) {
    int code = resp->status >= SU_EUSAGE && resp->status <= SU_EIO ? (int)resp->status : SU_EIO;
    return su_err(e, code, "%s", resp->message != NULL ? resp->message : "daemon error");
}

static int rem_info(sc_conn *c, sc_info *out, su_error *e) {
    remote *r = rem(c);

    pthread_mutex_lock(&r->mu);
    *out = r->info;
    pthread_mutex_unlock(&r->mu);
    return SU_OK;
}

/* The daemon is unlocked already; nothing to send. */
static int rem_login(sc_conn *c, const su_pin *pin, sc_pin_cb cb, void *cbarg, int *locked,
                     su_error *e) {
    return SU_OK;
}

static void remember_pin_key(remote *r, const sc_key *k) {
    pthread_mutex_lock(&r->mu);
    size_t i;
    for (i = 0; i < r->npin_keys; i++)
        if (memcmp(r->pin_keys[i].id, k->id, SC_KEY_ID_LEN) == 0)
            break;
    if (k->key_pin && i == r->npin_keys && i < PIN_KEYS_MAX) {
        memcpy(r->pin_keys[i].id, k->id, SC_KEY_ID_LEN);
        snprintf(r->pin_keys[i].label, sizeof(r->pin_keys[i].label), "%s", k->label);
        r->npin_keys++;
    } else if (!k->key_pin && i < r->npin_keys) {
        r->pin_keys[i] = r->pin_keys[--r->npin_keys];
    }
    pthread_mutex_unlock(&r->mu);
}

/* The label of a key known to need its usage PIN, into label; false when not known. */
static bool pin_key_label(remote *r, const unsigned char *id, char *label, size_t n) {
    int found = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->npin_keys && !found; i++)
        if (memcmp(r->pin_keys[i].id, id, SC_KEY_ID_LEN) == 0) {
            snprintf(label, n, "%s", r->pin_keys[i].label);
            found = 1;
        }
    pthread_mutex_unlock(&r->mu);
    return found;
}

static sc_key *key_from_wire(sw_key *k) {
    sc_key *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return NULL;
    memcpy(o->id, k->id, SC_KEY_ID_LEN);
    o->label = k->label;
    k->label = NULL;
    o->alg = (sc_alg)k->alg;
    o->bits = k->bits;
    o->state = (sc_state)k->state;
    o->generated = k->generated;
    o->key_pin = k->key_pin;
    o->spki = k->spki;
    o->spki_len = k->spki_len;
    k->spki = NULL;
    return o;
}

static int rem_key_find(sc_conn *c, const char *label, const unsigned char *id, sc_key **out,
                        su_error *e) {
    sw_request q = {.op = SW_OP_KEY_FIND, .label = (char *)label, .has_id = id != NULL};
    sw_response resp;
    int rc;

    if (id != NULL)
        memcpy(q.id, id, SC_KEY_ID_LEN);
    if ((rc = call(rem(c), &q, &resp, e)) != SU_OK)
        return rc;
    if (resp.status != SU_OK)
        rc = resp_err(&resp, e);
    else if (resp.nkeys != 1)
        rc =
            su_err(e, SU_EIO, "daemon: %s: key-find answered %zu keys", rem(c)->socket, resp.nkeys);
    else if ((*out = key_from_wire(&resp.keys[0])) == NULL)
        rc = su_err(e, SU_EIO, "out of memory");
    else
        remember_pin_key(rem(c), *out);
    sw_response_clear(&resp);
    return rc;
}

static int rem_key_list(sc_conn *c, sc_key ***out, size_t *n, su_error *e) {
    sw_request q = {.op = SW_OP_KEY_LIST};
    sw_response resp;
    int rc;

    if ((rc = call(rem(c), &q, &resp, e)) != SU_OK)
        return rc;
    if (resp.status != SU_OK) {
        rc = resp_err(&resp, e);
    } else if (resp.nkeys > 0 && (*out = calloc(resp.nkeys, sizeof(**out))) == NULL) {
        rc = su_err(e, SU_EIO, "out of memory");
    } else {
        for (size_t i = 0; i < resp.nkeys; i++) {
            if (((*out)[i] = key_from_wire(&resp.keys[i])) == NULL) {
                sc_keys_free(*out, i);
                *out = NULL;
                rc = su_err(e, SU_EIO, "out of memory");
                break;
            }
            *n = i + 1;
        }
    }
    if (rc != SU_OK)
        *n = 0;
    sw_response_clear(&resp);
    return rc;
}

static int rem_cert_get(sc_conn *c, const unsigned char *id, sc_blob **chain, size_t *n,
                        su_error *e) {
    sw_request q = {.op = SW_OP_CERT_GET, .has_id = 1};
    sw_response resp;
    int rc;

    memcpy(q.id, id, SC_KEY_ID_LEN);
    if ((rc = call(rem(c), &q, &resp, e)) != SU_OK)
        return rc;
    if (resp.status != SU_OK) {
        rc = resp_err(&resp, e);
    } else if (resp.ncerts > 0) {
        /* same layout: the blobs change hands */
        *chain = (sc_blob *)resp.certs;
        *n = resp.ncerts;
        resp.certs = NULL;
        resp.ncerts = 0;
    }
    sw_response_clear(&resp);
    return rc;
}

/* Without a buffer: the maximum size, from the key's public half. */
static int max_size(sc_conn *c, const unsigned char *id, size_t *siglen, su_error *e) {
    sc_key *k = NULL;
    EVP_PKEY *pk = NULL;
    const unsigned char *p;
    int rc = rem_key_find(c, NULL, id, &k, e);

    if (rc != SU_OK)
        return rc;
    p = k->spki;
    if (p == NULL || (pk = d2i_PUBKEY(NULL, &p, (long)k->spki_len)) == NULL)
        rc = su_err(e, SU_EINTEGRITY, "public key of key '%s' does not parse", k->label);
    else
        *siglen = (size_t)EVP_PKEY_get_size(pk);
    EVP_PKEY_free(pk);
    sc_key_free(k);
    return rc;
}

static int rem_sign(sc_conn *c, const unsigned char *id, const sc_sign_req *req, unsigned char *sig,
                    size_t *siglen, su_error *e) {
    remote *r = rem(c);
    sw_request q = {.op = SW_OP_SIGN,
                    .has_id = 1,
                    .digest = (char *)req->digest,
                    .padding = req->padding,
                    .mgf1_digest = (char *)req->mgf1_digest,
                    .pss_saltlen = req->pss_saltlen,
                    .tbs = (unsigned char *)req->tbs,
                    .tbslen = req->tbslen};
    sw_response resp;
    char label[SC_LABEL_MAX + 1];
    int rc, asked = 0;

    if (sig == NULL)
        return max_size(c, id, siglen, e);
    memcpy(q.id, id, SC_KEY_ID_LEN);
    /* The usage PIN goes with the request when the key is known to need it. If the
     * front end has none, the request goes without: the daemon refuses it by policy
     * and audits the refusal, as the embedded store does. */
    if (req->key_pin_cb != NULL && pin_key_label(r, id, label, sizeof(label))) {
        su_error pe = {0};
        asked = 1;
        if (req->key_pin_cb(req->key_pin_arg, label, &q.key_pin, &pe) != SU_OK)
            q.key_pin = NULL;
    }
    for (;;) {
        if ((rc = call(r, &q, &resp, e)) != SU_OK)
            break;
        /* the key's policy changed since it was found: ask once and send again */
        if (resp.status == SW_ST_KEY_PIN_NEEDED && !asked && req->key_pin_cb != NULL) {
            char hex[2 * SC_KEY_ID_LEN + 1];
            su_error pe = {0};
            su_hex(hex, id, SC_KEY_ID_LEN);
            asked = 1;
            if (req->key_pin_cb(req->key_pin_arg,
                                pin_key_label(r, id, label, sizeof(label)) ? label : hex,
                                &q.key_pin, &pe) == SU_OK) {
                sw_response_clear(&resp);
                continue;
            }
        }
        if (resp.status == SW_ST_KEY_PIN_NEEDED)
            rc = su_err(e, SU_EPOLICY, "%s", resp.message);
        else if (resp.status != SU_OK)
            rc = resp_err(&resp, e);
        else if (resp.sig == NULL || resp.siglen > *siglen)
            rc = su_err(e, SU_EUSAGE, "signature of %zu bytes does not fit the %zu-byte buffer",
                        resp.siglen, *siglen);
        else {
            memcpy(sig, resp.sig, resp.siglen);
            *siglen = resp.siglen;
        }
        sw_response_clear(&resp);
        break;
    }
    su_pin_free(q.key_pin);
    return rc;
}

static void rem_close(sc_conn *c) {
    remote *r = rem(c);
    rconn *k = r->idle;

    pthread_mutex_lock(&open_mu);
    for (remote **pp = &open_list; *pp != NULL; pp = &(*pp)->next_open)
        if (*pp == r) {
            *pp = r->next_open;
            break;
        }
    pthread_mutex_unlock(&open_mu);

    while (k != NULL) {
        rconn *n = k->next;
        rconn_close(k);
        k = n;
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static const sc_backend remote_backend = {.daemon = 1,
                                          .info = rem_info,
                                          .login = rem_login,
                                          .key_find = rem_key_find,
                                          .key_list = rem_key_list,
                                          .cert_get = rem_cert_get,
                                          .sign = rem_sign,
                                          .close = rem_close};

/* A ;keystore= must be the daemon's keystore: compared as resolved paths. */
static int check_keystore(remote *r, const char *want, su_error *e) {
    char canon[PATH_MAX];
    const char *w = realpath(want, canon) != NULL ? canon : want;

    if (strcmp(w, r->info.keystore) == 0)
        return SU_OK;
    return su_err(e, SU_EUSAGE, "keystore %s is not the keystore of the daemon at %s (%s)", want,
                  r->socket, r->info.keystore);
}

int sc_remote_open(const sc_config *cfg, sc_conn *c, su_error *e) {
    remote *r = calloc(1, sizeof(*r));
    rconn *k = NULL;
    int rc;

    if (r == NULL)
        return su_err(e, SU_EIO, "out of memory");
    if (strlen(cfg->daemon) >= sizeof(r->socket)) {
        free(r);
        return su_err(e, SU_EUSAGE, "daemon: socket path %s is too long", cfg->daemon);
    }
    snprintf(r->socket, sizeof(r->socket), "%s", cfg->daemon);
    pthread_mutex_init(&r->mu, NULL);
    pthread_once(&atfork_once, atfork_register);
    pthread_mutex_lock(&open_mu);
    r->next_open = open_list;
    open_list = r;
    pthread_mutex_unlock(&open_mu);
    c->be = &remote_backend;
    c->impl = r;
    /* the first connection says hello: the daemon is there, and which keystore it has */
    rc = connect_new(r, &k, e);
    if (rc == SU_OK) {
        give_back(r, k);
        if (cfg->keystore != NULL)
            rc = check_keystore(r, cfg->keystore, e);
    }
    if (rc != SU_OK)
        rem_close(c);
    return rc;
}
