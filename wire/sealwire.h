/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealwire: the protocol between sealhsmd and its clients (docs/protocol.md).
 *
 * A frame is a 4-byte big-endian payload length followed by the payload, one
 * CBOR map (RFC 8949, encoded with libcbor). Requests and responses are maps
 * with small unsigned integer keys; keys a reader does not know (integer or
 * text) are skipped, so either side may add fields without a version bump.
 * Every connection starts with a hello that negotiates the version.
 *
 * Conventions (as in sealutil.h)
 *   - Fallible calls return an SU_* code (0 = SU_OK) and fill su_error (may be
 *     NULL) with a one-line message. Malformed input is SU_EUSAGE; a peer that
 *     closed or broke the connection, or a timeout, is SU_EIO.
 *   - The decoders are pure functions over a byte buffer: no I/O, no globals,
 *     no allocation bigger than the input justifies. They accept any bytes and
 *     either fill *out (free with the matching *_clear) or fail leaving *out
 *     cleared; they are fuzz targets.
 */
#ifndef SEALWIRE_H
#define SEALWIRE_H

#include "sealutil.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SW_VERSION_MIN 1 /* oldest protocol version this build speaks */
#define SW_VERSION_MAX 1 /* newest */
#define SW_FRAME_HDR 4
#define SW_FRAME_MAX (64u << 20) /* payload bytes; EdDSA messages fit up to this */
#define SW_STORE_ID_LEN 16
#define SW_KEY_ID_LEN SU_KEY_ID_LEN

/* ---- message.c: requests and responses, their encoders and decoders -------------------------- */

/* Request operations (the `op` field). */
enum {
    SW_OP_HELLO = 1,    /* version negotiation; the first request of a connection */
    SW_OP_STATUS = 2,   /* daemon and keystore facts, no secret: `sealhsm status` */
    SW_OP_KEY_FIND = 3, /* one key by label or id */
    SW_OP_KEY_LIST = 4, /* every key that is not destroyed */
    SW_OP_CERT_GET = 5, /* the certificate chain stored with a key */
    SW_OP_SIGN = 6      /* one signature: the signing gate */
};

/* Response status: an SU_* code, or this one: the key needs its usage PIN and the
 * request carried none; the client asks its callback and sends the request again. */
#define SW_ST_KEY_PIN_NEEDED 100

typedef struct sw_blob {
    unsigned char *data;
    size_t len;
} sw_blob;

typedef struct sw_key {
    unsigned char id[SW_KEY_ID_LEN];
    char *label;
    uint32_t alg, bits, state; /* sealclient.h's sc_alg / sc_state values */
    int generated, key_pin;
    unsigned char *spki;
    size_t spki_len;
} sw_key;

typedef struct sw_request {
    uint32_t op;
    uint32_t version_min, version_max; /* hello */
    char *label;                       /* key find: by label ... */
    int has_id;                        /* ... or by id; cert get, sign: the key */
    unsigned char id[SW_KEY_ID_LEN];
    char *digest; /* sign: NULL for EdDSA */
    uint32_t padding;
    char *mgf1_digest;
    int32_t pss_saltlen;
    unsigned char *tbs; /* sign: the digest value, or the EdDSA message */
    size_t tbslen;
    su_pin *key_pin; /* sign: the key's usage PIN when it has one (secure heap) */
} sw_request;

typedef struct sw_response {
    uint32_t status;  /* SU_OK, an SU_* error, or SW_ST_KEY_PIN_NEEDED */
    char *message;    /* the error's one-line text */
    uint32_t version; /* hello: the version chosen */
    int has_store_id; /* hello, status */
    unsigned char store_id[SW_STORE_ID_LEN];
    char *keystore;                         /* hello, status: the daemon's keystore directory */
    char *environment;                      /* hello, status */
    char *label;                            /* hello, status: the keystore's label */
    char *server;                           /* status: the daemon's version */
    uint64_t uptime_s, clients, signatures; /* status */
    sw_key *keys;                           /* key find (one), key list */
    size_t nkeys;
    sw_blob *certs; /* cert get, leaf first */
    size_t ncerts;
    unsigned char *sig; /* sign */
    size_t siglen;
} sw_response;

void sw_request_clear(sw_request *r);   /* frees the fields (cleanses the key PIN); zeroes */
void sw_response_clear(sw_response *r); /* frees the fields; zeroes */

/*
 * Encoders: the payload of one frame (without its header) into out, which the
 * caller has initialized (su_buf_init; su_buf cleanses its storage when it
 * moves or is freed, which a request carrying a key PIN relies on). Only the fields that apply to
 * r->op (request) or are set (response) are written. SU_EIO when out of memory; SU_EUSAGE for a
 * payload over SW_FRAME_MAX.
 */
int sw_encode_request(const sw_request *r, su_buf *out, su_error *e);
int sw_encode_response(const sw_response *r, su_buf *out, su_error *e);

/*
 * Decoders: one payload (len bytes at buf) into *out. Needs nothing but the
 * bytes. Returns SU_OK, or SU_EUSAGE for anything that is not exactly one
 * well-formed map of this protocol (trailing bytes, indefinite lengths, tags,
 * nesting deeper than 4, a known field of the wrong type or size, a request
 * missing what its op needs, op 0), SU_EIO when out of memory. An op this build
 * does not know decodes (with only the common fields).
 */
int sw_decode_request(const unsigned char *buf, size_t len, sw_request *out, su_error *e);
int sw_decode_response(const unsigned char *buf, size_t len, sw_response *out, su_error *e);

/* ---- frame.c: frames over a connected stream socket ------------------------------------------ */

/* The payload length a frame header announces; SU_EUSAGE for 0 or more than
 * SW_FRAME_MAX. */
int sw_frame_length(const unsigned char hdr[SW_FRAME_HDR], size_t *len, su_error *e);

/* Writes one frame (header + payload) to fd, all of it; MSG_NOSIGNAL, so a
 * closed peer is SU_EIO and never SIGPIPE. */
int sw_write_frame(int fd, const unsigned char *payload, size_t len, su_error *e);

/*
 * Reads one frame from fd into out (initialized by the caller; its old content
 * is replaced). idle_ms bounds the wait for the first byte (-1: forever),
 * frame_ms the time the rest of the frame may take (a client that stalls
 * mid-frame). SU_EIO on EOF, error or timeout (*eof set to 1 for a clean EOF
 * before the first byte, may be NULL); SU_EUSAGE for a bad header, or bytes
 * after the frame (the protocol has one frame in flight per connection).
 */
int sw_read_frame(int fd, su_buf *out, int idle_ms, int frame_ms, int *eof, su_error *e);

/* ---- call.c: the client's side --------------------------------------------------------------- */

/* Connects a close-on-exec stream socket to the UNIX socket at path. SU_EIO with
 * errno's text (the caller names the socket), SU_EUSAGE for a path too long. */
int sw_connect(const char *path, int *fd, su_error *e);

/*
 * One round trip on fd: encodes q, sends it, waits up to timeout_ms for the
 * response and decodes it into *resp (free with sw_response_clear). SU_EIO when
 * the connection broke, timed out or the answer does not decode: the
 * connection is then unusable.
 */
int sw_call(int fd, const sw_request *q, sw_response *resp, int timeout_ms, su_error *e);

#ifdef __cplusplus
}
#endif
#endif
