/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealclient: the one API the front ends (the OpenSSL provider, the PKCS#11
 * module) use to find keys, read public keys and certificates, and sign.
 *
 * Two backends stand behind it and a front end never knows which it has:
 *   - embedded: the keystore is opened in this process (libsealstore), the user
 *     role is logged in here, policy runs with this process's clock and the
 *     configured environment;
 *   - daemon: every call is one round trip to `sealhsmd` over its UNIX socket
 *     (docs/protocol.md); no keystore file, PIN or private key is in this
 *     process, and the daemon decides by the kernel's peer credentials.
 *
 * Conventions (as in sealstore.h)
 *   - Every fallible call returns an SU_* code (0 = SU_OK) and fills the
 *     caller's su_error (may be NULL) with a one-line message naming the object
 *     (key label, keystore path, socket path); the message has no "sealhsm: "
 *     prefix. A daemon that cannot be reached or that drops the connection gives
 *     SU_EIO with "daemon: cannot reach SOCKET: REASON" / "daemon: SOCKET: ...";
 *     the next call reconnects.
 *   - Objects returned through out-pointers belong to the caller and are freed
 *     with the matching *_free function (all accept NULL).
 *   - An sc_conn may be used by any number of threads at once; calls of
 *     different threads do not queue behind one another in the daemon backend
 *     (one connection per thread). After fork() the child's calls use a
 *     connection of their own (daemon backend) or an LMDB environment the store
 *     reopens for the child (embedded backend; docs/security.md), so forking
 *     servers work with either.
 */
#ifndef SEALCLIENT_H
#define SEALCLIENT_H

#include "sealutil.h"

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SC_KEY_ID_LEN 16
#define SC_STORE_ID_LEN 16

typedef struct sc_conn sc_conn;

/* Key algorithms, as stored (same values as the store's ss_alg). */
typedef enum { SC_ALG_RSA = 1, SC_ALG_EC = 2, SC_ALG_ED25519 = 3, SC_ALG_ED448 = 4 } sc_alg;
typedef enum {
    SC_STATE_ACTIVE = 0,
    SC_STATE_DISABLED = 1,
    SC_STATE_REVOKED = 2,
    SC_STATE_DESTROYED = 3
} sc_state;

/* RSA paddings of a signing request (same values as SS_PAD_*). */
#define SC_PAD_PKCS1 0x1u
#define SC_PAD_PSS 0x2u

/* ---- opening ------------------------------------------------------------- */

typedef struct sc_config {
    /* Daemon backend when set: the socket path (provider param `daemon`, env
     * SEALHSM_DAEMON). NULL: embedded backend. */
    const char *daemon;
    /* Embedded: keystore directory (NULL: $SEALHSM_KEYSTORE, then the XDG
     * default). Daemon: NULL, or a directory that must be the daemon's keystore
     * (a URI's ;keystore=): anything else is refused naming both. */
    const char *keystore;
    /* Embedded: where the user PIN comes from ("env:NAME", "file:PATH", "fd:N",
     * "prompt"); NULL = $SEALHSM_PIN, then the login's callback. Daemon: unused. */
    const char *pin_source;
    /* Embedded: the caller's environment for the policy's env rule (NULL =
     * "dev"). Daemon: unused, the daemon's own --environment decides. */
    const char *environment;
    int syslog;           /* embedded: copy audit records to syslog */
    OSSL_LIB_CTX *libctx; /* embedded: where the store does its crypto (NULL = default) */
} sc_config;

/*
 * Opens a connection to a keystore. Embedded: opens the store (not logged in
 * yet). Daemon: connects and says hello (protocol version negotiation).
 * Errors: SU_ENOTFOUND (no keystore), SU_EIO (daemon unreachable, I/O),
 * SU_EINTEGRITY (damaged keystore), SU_EUSAGE (bad config).
 */
int sc_open(const sc_config *cfg, sc_conn **out, su_error *e);
void sc_close(sc_conn *c);

/* True for the daemon backend, false for the embedded one (for messages and token
 * flags only: behaviour must not depend on it). */
bool sc_is_daemon(const sc_conn *c);

typedef struct sc_info {
    unsigned char store_id[SC_STORE_ID_LEN];
    char label[64];       /* keystore label (`sealhsm init --label`), "sealhsm" by default */
    char environment[16]; /* the environment signatures are checked against */
    char keystore[4096];  /* the keystore directory (daemon: as the daemon names it) */
    char daemon[108];     /* daemon: the socket path; embedded: "" */
} sc_info;

/* Any time after sc_open: the keystore's identity. */
int sc_get_info(sc_conn *c, sc_info *out, su_error *e);

/* ---- the user role --------------------------------------------------------- */

/* Asks the front end for a PIN. For the user PIN, what names it for a prompt
 * ("the sealhsm user PIN of keystore DIR"); for a key's usage PIN, what is the
 * key's label. SU_OK with *out set, or SU_ENOPIN. */
typedef int (*sc_pin_cb)(void *arg, const char *what, su_pin **out, su_error *e);

/*
 * Embedded: logs the user role in once per keystore and process (later calls
 * return SU_OK at once). The PIN is pin if given, else from cfg->pin_source,
 * else $SEALHSM_PIN, else cb. A wrong PIN is SU_EPIN; one that came from a
 * source (not pin) is not tried again in this process, an explicit pin may be
 * retried (each attempt counts toward the lockout). *locked (may be NULL) is
 * set to 1 when the role is locked.
 * Daemon: SU_OK, nothing is sent (the daemon is unlocked already; a PIN given
 * anyway is ignored).
 */
int sc_login(sc_conn *c, const su_pin *pin, sc_pin_cb cb, void *cbarg, int *locked, su_error *e);

/* ---- keys and certificates ------------------------------------------------ */

typedef struct sc_key {
    unsigned char id[SC_KEY_ID_LEN];
    char *label;
    sc_alg alg;
    unsigned bits; /* RSA modulus bits, EC curve bits (256/384/521) */
    sc_state state;
    int generated;       /* 1: made inside the keystore, 0: imported */
    int key_pin;         /* 1: signing asks for the key's usage PIN */
    unsigned char *spki; /* DER SubjectPublicKeyInfo */
    size_t spki_len;
} sc_key;

void sc_key_free(sc_key *k);
void sc_keys_free(sc_key **v, size_t n);

/*
 * One key by label (id NULL) or id (label NULL), for a front end about to use
 * it. Unknown: SU_ENOTFOUND naming it. Destroyed: SU_ENOTFOUND and the refusal
 * is audited. Needs sc_login first in the embedded backend.
 */
int sc_key_find(sc_conn *c, const char *label, const unsigned char *id, sc_key **out, su_error *e);
/* Every key that is not destroyed, ordered by label. */
int sc_key_list(sc_conn *c, sc_key ***out, size_t *n, su_error *e);

typedef struct sc_blob {
    unsigned char *data;
    size_t len;
} sc_blob;
void sc_blobs_free(sc_blob *v, size_t n);

/* The key's stored certificate chain (DER, leaf first); *n = 0 when none. */
int sc_cert_get(sc_conn *c, const unsigned char id[SC_KEY_ID_LEN], sc_blob **chain, size_t *n,
                su_error *e);

/* ---- signing ------------------------------------------------------------- */

typedef struct sc_sign_req {
    const char *digest;       /* digest that produced tbs (any OpenSSL spelling); NULL for EdDSA */
    unsigned padding;         /* RSA: SC_PAD_PKCS1 or SC_PAD_PSS; else 0 */
    const char *mgf1_digest;  /* PSS; NULL = digest */
    int pss_saltlen;          /* PSS: >= 0, or OpenSSL's RSA_PSS_SALTLEN_DIGEST/AUTO/MAX */
    const unsigned char *tbs; /* the digest value; for EdDSA the whole message */
    size_t tbslen;
    sc_pin_cb key_pin_cb; /* asked only for keys whose policy has a usage PIN */
    void *key_pin_arg;
} sc_sign_req;

/*
 * Signs through the keystore's one signing gate: state, policy, counters and the
 * durable audit record come first; the signature is written only after them.
 * sig == NULL: *siglen receives the maximum size. Refusals: SU_EPOLICY with a
 * message starting "policy: key 'LABEL': ". Wrong usage PIN: SU_EPIN.
 */
int sc_sign(sc_conn *c, const unsigned char id[SC_KEY_ID_LEN], const sc_sign_req *req,
            unsigned char *sig, size_t *siglen, su_error *e);

/* ---- helpers the front ends share (no connection needed) ------------------- */

#define SC_LABEL_MAX 255
#define SC_KEYREF_PEM_NAME "SEALHSM KEY REF"

/* OpenSSL's key type name of an algorithm: "RSA", "EC", "ED25519", "ED448". */
const char *sc_alg_ossl_name(sc_alg alg);
/* The canonical spelling ("dev", "test", "prod") of an environment name, or NULL. */
const char *sc_env_canon(const char *name);
/*
 * Decodes a key-reference file's DER (README: key-reference files) into the
 * keystore id, key id and label (*label malloc'd: free() it). SU_EUSAGE when
 * der is not a key reference.
 */
int sc_keyref_decode(const unsigned char *der, size_t len, unsigned char store_id[SC_STORE_ID_LEN],
                     unsigned char key_id[SC_KEY_ID_LEN], char **label, su_error *e);
/*
 * Runs the known-answer self-tests of every algorithm in libctx (NULL: the
 * default context); report (may be NULL) is called once per test. SU_OK when
 * all pass, else SU_EINTEGRITY.
 */
int sc_selftest(OSSL_LIB_CTX *libctx, void (*report)(const char *name, int ok, void *arg),
                void *arg, su_error *e);
/*
 * For a front end configured for the daemon: the known-answer tests of what it
 * computes itself (the digests); sealhsmd runs the whole set when it starts, so
 * a daemon client's start is not slowed by tests of algorithms it never runs.
 * Same contract as sc_selftest.
 */
int sc_selftest_client(OSSL_LIB_CTX *libctx, void (*report)(const char *name, int ok, void *arg),
                       void *arg, su_error *e);

#ifdef __cplusplus
}
#endif
#endif
