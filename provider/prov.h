/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to provider/: the provider context, error reporting, keystore
 * sessions and key objects shared by the operation files (store_loader.c,
 * keymgmt.c, signature.c, encoder.c, decoder.c).
 */
#ifndef SEALHSM_PROV_H
#define SEALHSM_PROV_H

#include "sealclient.h"

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

/*
 * Reason codes of the provider's errors. 1..7 are the SU_* codes so a client
 * (keystore or daemon) error keeps its meaning; the rest are the provider's own.
 */
enum {
    SEALHSM_R_USAGE = SU_EUSAGE,
    SEALHSM_R_NOT_FOUND = SU_ENOTFOUND,
    SEALHSM_R_NO_PIN = SU_ENOPIN,
    SEALHSM_R_PIN = SU_EPIN,
    SEALHSM_R_POLICY = SU_EPOLICY,
    SEALHSM_R_INTEGRITY = SU_EINTEGRITY,
    SEALHSM_R_IO = SU_EIO,
    SEALHSM_R_SELFTEST = 8,
    SEALHSM_R_UNSUPPORTED = 9,
    SEALHSM_R_PUBLIC_ONLY = 10,
    SEALHSM_R_WRONG_KEYSTORE = 11,
    SEALHSM_R_BAD_PARAM = 12
};

typedef struct sealhsm_session SEALHSM_SESSION;

typedef struct sealhsm_prov {
    const OSSL_CORE_HANDLE *handle;
    OSSL_FUNC_core_new_error_fn *new_error;
    OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
    OSSL_FUNC_core_vset_error_fn *vset_error;
    /* Our own library context with only the default provider: all the crypto
     * the provider and the store do happens here, never in the caller's. */
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *deflt;
    char *daemon;     /* provider param or SEALHSM_DAEMON: the daemon's socket; NULL = embedded */
    char *keystore;   /* provider param; NULL = SEALHSM_KEYSTORE / XDG default */
    char *pin_source; /* provider param; NULL = SEALHSM_PIN, then the app callback */
    char *key_pin_source; /* provider param; NULL = the app callback, then a prompt */
    char *environment;    /* never NULL */
    int syslog;           /* provider param syslog = 1: copy audit records to syslog */
    /* Why the provider is in its error state (a failed self-test, a bad
     * parameter); NULL when it may operate. */
    char *failure;
    int failure_reason;
    CRYPTO_RWLOCK *lock; /* guards sessions */
    SEALHSM_SESSION *sessions;
} SEALHSM_PROV;

/* ---- errors (prov.c) ------------------------------------------------------ */

void sealhsm_raise(const SEALHSM_PROV *p, const char *file, int line, const char *func, int reason,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define SEALHSM_ERR(p, reason, ...)                                                                \
    sealhsm_raise((p), OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC, (reason), __VA_ARGS__)
/* A client error: its code is the reason, its message the text after "sealhsm: ". */
#define SEALHSM_CLIENT_ERR(p, e)                                                                   \
    SEALHSM_ERR((p), (e)->code != SU_OK ? (e)->code : SEALHSM_R_IO, "sealhsm: %s", (e)->msg)

/* 1 when the provider may operate; else raises the self-test error and returns 0. */
int sealhsm_prov_running(const SEALHSM_PROV *p);

/* ---- keystore sessions (session.c) ----------------------------------------- */

/*
 * The session of a keystore directory (dir NULL: the configured keystore),
 * opened on first use: one client connection per directory named. In daemon
 * mode dir must be the daemon's keystore. Raises an error and returns NULL on
 * failure.
 */
SEALHSM_SESSION *sealhsm_session_get(SEALHSM_PROV *p, const char *dir);
void sealhsm_sessions_free(SEALHSM_PROV *p);
SEALHSM_PROV *sealhsm_session_prov(const SEALHSM_SESSION *s);
const char *sealhsm_session_path(const SEALHSM_SESSION *s);
void sealhsm_session_store_id(const SEALHSM_SESSION *s, unsigned char out[SC_STORE_ID_LEN]);

/*
 * Logs the user role in unless that is done already. The PIN comes from the
 * pin-source param, else $SEALHSM_PIN, else cb (the application's passphrase
 * callback; may be NULL). A wrong PIN is not retried in this process.
 */
int sealhsm_session_login(SEALHSM_SESSION *s, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg);
/* Asks the application's passphrase callback for a PIN; info completes its
 * "Enter pass phrase for ..." prompt. SU_OK, or SU_ENOPIN / SU_EUSAGE / SU_EIO
 * with e filled. */
int sealhsm_pin_from_callback(OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg, const char *info,
                              su_pin **out, su_error *e);

/* Client calls; each raises the client's error on failure and returns 0. */
int sealhsm_session_key_get(SEALHSM_SESSION *s, const char *label, const unsigned char *id,
                            sc_key **out);
int sealhsm_session_cert_get(SEALHSM_SESSION *s, const unsigned char *id, sc_blob **chain,
                             size_t *n);
int sealhsm_session_sign(SEALHSM_SESSION *s, const unsigned char *id, const sc_sign_req *req,
                         unsigned char *sig, size_t *siglen);

/* ---- key objects and references (key.c) ------------------------------------ */

/* The key types our keymgmt registers, named as OpenSSL names them. */
enum { SEALHSM_KT_RSA, SEALHSM_KT_RSA_PSS, SEALHSM_KT_EC, SEALHSM_KT_ED25519, SEALHSM_KT_ED448 };

const char *sealhsm_kt_name(int kt);

typedef struct sealhsm_key {
    SEALHSM_PROV *prov;
    int kt;
    EVP_PKEY *pub;         /* public half in prov->libctx; NULL until loaded or imported */
    SEALHSM_SESSION *sess; /* NULL for an imported public key */
    unsigned char id[SC_KEY_ID_LEN];
    char *label;
    int public_only; /* loaded with type=public, decoded for public use, or imported */
    int key_pin;     /* the key's policy asks for a usage PIN at sign time */
    su_pin *pin;     /* that PIN when the application's callback gave it at load */
} SEALHSM_KEY;

SEALHSM_KEY *sealhsm_key_new(SEALHSM_PROV *p, int kt);
void sealhsm_key_free(SEALHSM_KEY *k);
SEALHSM_KEY *sealhsm_key_dup(const SEALHSM_KEY *k);
/* The key behind a reference made by sealhsm_key_emit(); NULL (error raised) otherwise. */
SEALHSM_KEY *sealhsm_key_load(int kt, const void *ref, size_t ref_sz);
/* 1 when k may sign; else raises an error naming the key and returns 0. */
int sealhsm_key_can_sign(const SEALHSM_KEY *k);
/* The digest used when the caller names none: NULL for EdDSA. */
const char *sealhsm_key_default_digest(const SEALHSM_KEY *k);

/*
 * Passes the key of info to an object callback (OSSL_STORE or OSSL_DECODER) as
 * a reference that our keymgmt's load turns into a SEALHSM_KEY. cb/cbarg are the
 * application's passphrase callback, used by load for a per-key PIN; they are
 * only valid during this call, which is the only time load runs with them.
 */
int sealhsm_key_emit(SEALHSM_SESSION *s, const sc_key *info, int public_only,
                     OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg, OSSL_CALLBACK *object_cb,
                     void *object_cbarg);

/* ---- dispatch tables (one file each) ----------------------------------------- */

extern const OSSL_ALGORITHM sealhsm_store_algs[];
extern const OSSL_ALGORITHM sealhsm_keymgmt_algs[];
extern const OSSL_ALGORITHM sealhsm_signature_algs[];
extern const OSSL_ALGORITHM sealhsm_encoder_algs[];
extern const OSSL_ALGORITHM sealhsm_decoder_algs[];

#endif
