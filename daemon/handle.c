/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One request against the daemon's one store handle. Every signature goes
 * through ss_sign with the peer as the signer and the daemon's environment, so
 * policy, counters and the audit record are the store's, and concurrent
 * clients share its group commit (docs/protocol.md).
 */
#include "sealhsmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SEALHSM_VERSION
#define SEALHSM_VERSION "unknown"
#endif

static void fail(sw_response *r, int code, const char *msg) {
    r->status = (uint32_t)code;
    r->message = strdup(msg);
}

static void store_facts(d_server *srv, sw_response *r) {
    r->has_store_id = 1;
    memcpy(r->store_id, srv->store_id, SW_STORE_ID_LEN);
    r->keystore = strdup(srv->keystore);
    r->environment = strdup(srv->cfg.environment);
    r->label = strdup(ss_store_label(srv->store));
}

static void hello(d_server *srv, const sw_request *q, sw_response *r, int *ok) {
    char msg[128];

    if (q->version_max < SW_VERSION_MIN || q->version_min > SW_VERSION_MAX) {
        snprintf(msg, sizeof(msg),
                 "protocol versions %u..%u are not spoken by this daemon (it speaks %u..%u)",
                 q->version_min, q->version_max, SW_VERSION_MIN, SW_VERSION_MAX);
        fail(r, SU_EUSAGE, msg);
        return;
    }
    r->version = q->version_max < SW_VERSION_MAX ? q->version_max : SW_VERSION_MAX;
    store_facts(srv, r);
    *ok = 1;
}

static void status(d_server *srv, sw_response *r) {
    int64_t up = su_now() - srv->started;

    store_facts(srv, r);
    r->server = strdup(SEALHSM_VERSION);
    r->uptime_s = up > 0 ? (uint64_t)up : 0;
    r->clients = atomic_load(&srv->clients);
    r->signatures = atomic_load(&srv->signatures);
}

/* A key for the wire: public facts only. Takes the strings of k. */
static void key_out(ss_keyinfo *k, sw_key *o) {
    memcpy(o->id, k->id, SW_KEY_ID_LEN);
    o->label = k->label;
    k->label = NULL;
    o->alg = (uint32_t)k->type.alg;
    o->bits = k->type.bits;
    o->state = (uint32_t)k->state;
    o->generated = k->origin == SS_ORIGIN_GENERATED;
    o->key_pin = k->policy.key_pin;
    o->spki = k->spki;
    o->spki_len = k->spki_len;
    k->spki = NULL;
}

/* The peer as the store's signer: the identity policy and audit use. */
static ss_signer signer_of(const d_peer *peer) {
    return (ss_signer){.uid = peer->uid,
                       .gid = peer->gid,
                       .groups = peer->groups,
                       .ngroups = peer->ngroups,
                       .pid = peer->pid,
                       .user = peer->user,
                       .program = peer->program};
}

static void key_find(d_server *srv, const d_peer *peer, const sw_request *q, sw_response *r) {
    ss_signer who = signer_of(peer);
    ss_keyinfo *k = NULL;
    su_error e = {0};

    /* a destroyed key is refused here by name and the refusal audited as the peer's */
    if (ss_key_use_by(srv->store, &who, q->label, q->has_id ? q->id : NULL, &k, &e) != SU_OK) {
        fail(r, e.code, e.msg);
        return;
    }
    if ((r->keys = calloc(1, sizeof(*r->keys))) == NULL) {
        fail(r, SU_EIO, "out of memory");
    } else {
        r->nkeys = 1;
        key_out(k, &r->keys[0]);
    }
    ss_keyinfo_free(k);
}

static void key_list(d_server *srv, sw_response *r) {
    ss_keyinfo **v = NULL;
    size_t n = 0;
    su_error e = {0};

    if (ss_key_list(srv->store, &v, &n, &e) != SU_OK) {
        fail(r, e.code, e.msg);
        return;
    }
    /* an empty array, not none: the client tells "no keys" from a daemon without them */
    if ((r->keys = calloc(n > 0 ? n : 1, sizeof(*r->keys))) == NULL) {
        fail(r, SU_EIO, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++)
            if (v[i]->state != SS_STATE_DESTROYED)
                key_out(v[i], &r->keys[r->nkeys++]);
    }
    ss_keylist_free(v, n);
}

static void cert_get(d_server *srv, const sw_request *q, sw_response *r) {
    ss_blob *v = NULL;
    size_t n = 0;
    su_error e = {0};

    if (ss_cert_get(srv->store, q->id, &v, &n, &e) != SU_OK) {
        fail(r, e.code, e.msg);
        return;
    }
    if ((r->certs = calloc(n > 0 ? n : 1, sizeof(*r->certs))) == NULL) {
        fail(r, SU_EIO, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            if ((r->certs[i].data = malloc(v[i].len)) == NULL) {
                sw_response_clear(r);
                fail(r, SU_EIO, "out of memory");
                break;
            }
            memcpy(r->certs[i].data, v[i].data, v[i].len);
            r->certs[i].len = v[i].len;
            r->ncerts = i + 1;
        }
    }
    ss_blobs_free(v, n);
}

typedef struct key_pin_ctx {
    const su_pin *pin;
    int asked_without;
} key_pin_ctx;

/* The store asks for a key's usage PIN: the one the client sent with the request. */
static int key_pin_cb(void *arg, const char *label, su_pin **out, su_error *e) {
    key_pin_ctx *k = arg;

    if (k->pin == NULL) {
        k->asked_without = 1;
        return su_err(e, SU_ENOPIN, "key %s needs its usage PIN", label);
    }
    *out = su_pin_new(k->pin->data, k->pin->len);
    return *out != NULL ? SU_OK : su_err(e, SU_EIO, "out of secure memory");
}

static void sign(d_server *srv, const d_peer *peer, const sw_request *q, sw_response *r) {
    key_pin_ctx kp = {.pin = q->key_pin};
    ss_signer who = signer_of(peer);
    ss_sign_req req = {.digest = q->digest,
                       .padding = q->padding,
                       .mgf1_digest = q->mgf1_digest,
                       .pss_saltlen = q->pss_saltlen,
                       .tbs = q->tbs,
                       .tbslen = q->tbslen,
                       .environment = srv->cfg.environment,
                       .key_pin_cb = key_pin_cb,
                       .key_pin_arg = &kp,
                       .signer = &who};
    /* the store's own bound: no signature it makes is longer */
    size_t len = 1024;
    su_error e = {0};
    int rc = SU_OK;

    if ((r->sig = malloc(len)) == NULL)
        rc = su_err(&e, SU_EIO, "out of memory");
    if (rc == SU_OK)
        rc = ss_sign(srv->store, q->id, &req, r->sig, &len, &e);
    if (rc == SU_OK) {
        r->siglen = len;
        atomic_fetch_add(&srv->signatures, 1);
        return;
    }
    free(r->sig);
    r->sig = NULL;
    if (kp.asked_without) {
        fail(r, SW_ST_KEY_PIN_NEEDED, e.msg);
        return;
    }
    fail(r, rc, e.msg);
    d_log("sign refused: uid=%u (%s) pid=%u program=%s: %s", peer->uid, peer->user, peer->pid,
          peer->program, e.msg);
}

int d_handle(d_server *srv, const d_peer *peer, int *hello_done, const sw_request *q,
             sw_response *r) {
    memset(r, 0, sizeof(*r));
    if (!*hello_done) {
        if (q->op != SW_OP_HELLO)
            return D_DROP;
        hello(srv, q, r, hello_done);
        return *hello_done ? D_KEEP : D_CLOSE;
    }
    switch (q->op) {
    case SW_OP_HELLO:
        return D_DROP;
    case SW_OP_STATUS:
        status(srv, r);
        break;
    case SW_OP_KEY_FIND:
        key_find(srv, peer, q, r);
        break;
    case SW_OP_KEY_LIST:
        key_list(srv, r);
        break;
    case SW_OP_CERT_GET:
        cert_get(srv, q, r);
        break;
    case SW_OP_SIGN:
        sign(srv, peer, q, r);
        break;
    default:
        fail(r, SU_EUSAGE, "unknown operation");
    }
    return D_KEEP;
}
