/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to client/: the backend table behind sealclient.h. sc_conn is a
 * backend table plus that backend's state; client.c checks arguments and
 * dispatches, embedded.c calls the store in this process, remote.c talks to
 * sealhsmd (docs/protocol.md).
 */
#ifndef SEALCLIENT_INTERNAL_H
#define SEALCLIENT_INTERNAL_H

#include "sealclient.h"

typedef struct sc_backend {
    int daemon;
    int (*info)(sc_conn *c, sc_info *out, su_error *e);
    int (*login)(sc_conn *c, const su_pin *pin, sc_pin_cb cb, void *cbarg, int *locked,
                 su_error *e);
    int (*key_find)(sc_conn *c, const char *label, const unsigned char *id, sc_key **out,
                    su_error *e);
    int (*key_list)(sc_conn *c, sc_key ***out, size_t *n, su_error *e);
    int (*cert_get)(sc_conn *c, const unsigned char *id, sc_blob **chain, size_t *n, su_error *e);
    int (*sign)(sc_conn *c, const unsigned char *id, const sc_sign_req *req, unsigned char *sig,
                size_t *siglen, su_error *e);
    void (*close)(sc_conn *c);
} sc_backend;

struct sc_conn {
    const sc_backend *be;
    void *impl;
};

int sc_embedded_open(const sc_config *cfg, sc_conn *c, su_error *e);
int sc_remote_open(const sc_config *cfg, sc_conn *c, su_error *e);

#endif
