/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to daemon/: sealhsmd's configuration, connections and the pieces
 * main.c (startup, unlock, socket), server.c (the event loop and the worker
 * pool) and handle.c (one request against the store) share. The protocol is
 * docs/protocol.md; the behaviour is the daemon section of docs/reference.md.
 */
#ifndef SEALHSMD_H
#define SEALHSMD_H

#include "sealstore.h"
#include "sealwire.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define D_MAX_GROUPS 64

typedef struct d_config {
    const char *keystore;
    const char *socket;
    unsigned socket_mode;
    int socket_gid; /* -1: leave the group */
    const char *environment;
    unsigned max_clients;
    unsigned workers;
    int idle_ms;  /* a connection with no request for this long is closed */
    int frame_ms; /* a frame must be complete this long after its first byte */
} d_config;

/* What the kernel says about a peer, read once at accept. */
typedef struct d_peer {
    uint32_t uid, gid, pid;
    uint32_t groups[D_MAX_GROUPS];
    size_t ngroups;
    char user[64];
    char program[64];
} d_peer;

typedef struct d_server {
    d_config cfg;
    ss_store *store;
    unsigned char store_id[SS_STORE_ID_LEN];
    char keystore[4096];
    int64_t started; /* Unix seconds */
    atomic_uint_fast64_t signatures;
    atomic_uint clients;
} d_server;

/* One log line on stderr ("sealhsmd: ..."); never given a secret. */
void d_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fills p from SO_PEERCRED, /proc/PID/status (Groups:) and /proc/PID/comm, and the
 * user name (cached a minute). Called by the event loop thread only. */
int d_peer_read(int fd, d_peer *p, su_error *e);

/* What becomes of a connection after a request. */
enum {
    D_KEEP = 0,  /* send the response, wait for the next request */
    D_CLOSE = 1, /* send the response, then close (a refused hello) */
    D_DROP = 2   /* a protocol error: close without a response */
};

/*
 * One request of a connection from peer: the first must be a hello (it sets
 * *hello_done). Fills resp (cleared first; free with sw_response_clear) and
 * returns D_KEEP, D_CLOSE or D_DROP.
 */
int d_handle(d_server *srv, const d_peer *peer, int *hello_done, const sw_request *req,
             sw_response *resp);

/* Serves cfg.socket's listening fd until SIGTERM/SIGINT; returns the exit code. */
int d_serve(d_server *srv, int listen_fd);

#endif
