/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to pkcs11/: the map of sealhsm-pkcs11.so (docs/reference.md, PKCS#11 module).
 *
 *   module.c   C_GetFunctionList, C_Initialize/C_Finalize, C_GetInfo, the function
 *              list, the one module state and its locks, fork detection
 *   config.c   where the keys are: $SEALHSM_DAEMON, $SEALHSM_KEYSTORE or the file
 *              named by $SEALHSM_PKCS11_CONF
 *   config_file.c  that file's syntax, and the p11_config struct's setters
 *   token.c    the client connection behind the one token: open, user login and
 *              logout, the object table refreshed from the keystore
 *   slot.c     slot and token info, mechanism list and info
 *   session.c  sessions, C_Login/C_Logout
 *   object.c   the object model: a key or certificate as a list of attributes
 *   attr.c     attribute templates: matching and C_GetAttributeValue's rules
 *   find.c     C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal
 *   mech.c     mechanisms: which key types they take, their digests, DigestInfo
 *              parsing, ECDSA DER -> r||s
 *   sign.c     C_SignInit/C_Sign/C_SignUpdate/C_SignFinal over sc_sign
 *   verify.c   C_VerifyInit/C_Verify/...: with the public key, in the module
 *   refuse.c   what a read-only token refuses (key generation, object creation ...)
 *
 * Every C_* entry point checks that the module is initialized in this process
 * (p11_enter) before it touches the state. Three locks, never taken in another
 * order than this one: the state mutex (mu: sessions, objects, login flag), a
 * session's op mutex (op_mu: its find and sign operations), the connection lock
 * (conn_lock, a rwlock: sc_* calls hold it for reading, a login or logout that
 * replaces the connection for writing, holding nothing else). No sc_* call is
 * made under mu; a signature is made under its session's op_mu.
 */
#ifndef SEALHSM_P11_H
#define SEALHSM_P11_H

#include "sealclient.h"

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#define P11_SLOT_ID 1
#define P11_MANUFACTURER "sealhsm"
#define P11_MAX_SIG 1024 /* RSA-4096: 512 bytes; ECDSA P-521 DER: 139 bytes */

/* ---- attr.c: an object is a class and a list of attributes ------------------ */

typedef struct p11_attr {
    CK_ATTRIBUTE_TYPE type;
    unsigned char *value; /* malloc'd, may be NULL when len == 0 */
    size_t len;
} p11_attr;

typedef struct p11_object {
    CK_OBJECT_HANDLE handle;
    CK_OBJECT_CLASS cls;
    int is_private; /* CKA_PRIVATE: visible only after C_Login */
    unsigned char key_id[SC_KEY_ID_LEN];
    unsigned idx; /* certificates: position in the stored chain (0 = leaf) */
    sc_alg alg;
    unsigned bits;
    int key_pin;
    p11_attr *attrs;
    size_t nattrs;
} p11_object;

/* Appends one attribute (value copied). False on out of memory. */
bool p11_attr_add(p11_object *o, CK_ATTRIBUTE_TYPE type, const void *value, size_t len);
bool p11_attr_bool(p11_object *o, CK_ATTRIBUTE_TYPE type, int v);
bool p11_attr_ulong(p11_object *o, CK_ATTRIBUTE_TYPE type, CK_ULONG v);
const p11_attr *p11_attr_find(const p11_object *o, CK_ATTRIBUTE_TYPE type);
void p11_object_free(p11_object *o);
/* True when every attribute of the template is present in o with the same bytes. */
bool p11_template_match(const p11_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n);
/* C_GetAttributeValue's rules (PKCS#11 v2.40 section 5.7) over o's attributes:
 * secret-key material types answer CKR_ATTRIBUTE_SENSITIVE. */
CK_RV p11_attr_get(const p11_object *o, CK_ATTRIBUTE *tmpl, CK_ULONG n);
/* 1 for the attribute types that hold private key material. */
bool p11_attr_is_sensitive(CK_ATTRIBUTE_TYPE type);

/* ---- object.c: objects of a key and its certificates ------------------------- */

/* The private key (cls CKO_PRIVATE_KEY) or public key object of k, its public
 * attributes taken from the SPKI with libctx; leaf = the key's certificate or NULL
 * (its subject becomes CKA_SUBJECT). NULL on a malformed key or out of memory. */
p11_object *p11_key_object(OSSL_LIB_CTX *libctx, const sc_key *k, CK_OBJECT_CLASS cls,
                           const sc_blob *leaf);
/* The certificate object of chain[idx] of k. NULL on a malformed certificate. */
p11_object *p11_cert_object(OSSL_LIB_CTX *libctx, const sc_key *k, const sc_blob *cert,
                            unsigned idx);

/* ---- mech.c: mechanisms ------------------------------------------------------------ */

typedef struct p11_mech {
    CK_MECHANISM_TYPE type;
    sc_alg alg;         /* key algorithm it takes (EC also means P-256/384/521) */
    const char *digest; /* the module hashes with it; NULL: the caller hashed (or EdDSA) */
    unsigned padding;   /* SC_PAD_PKCS1 / SC_PAD_PSS for RSA, else 0 */
} p11_mech;

const p11_mech *p11_mech_find(CK_MECHANISM_TYPE type);
/* Every mechanism, for C_GetMechanismList; *n receives the count. */
const p11_mech *p11_mech_all(size_t *n);
/* The mechanisms a key of alg takes, for CKA_ALLOWED_MECHANISMS (returns the count). */
size_t p11_mech_for_alg(sc_alg alg, CK_MECHANISM_TYPE *out, size_t max);
/* The hash of a PSS parameter (CKM_SHA256 ...) or MGF (CKG_MGF1_SHA256 ...): the
 * digest name and size; NULL for unknown ones. */
const char *p11_pss_hash(CK_MECHANISM_TYPE hash, size_t *len);
const char *p11_mgf_hash(CK_RSA_PKCS_MGF_TYPE mgf);
/* Splits a DER DigestInfo into its digest name ("sha256", also "sha1" and "md5",
 * which the store's policy refuses) and value. False when it is not a DigestInfo of a
 * known digest in its one canonical encoding (parameters NULL). */
bool p11_digestinfo_parse(const unsigned char *in, size_t len, const char **digest,
                          const unsigned char **value, size_t *vlen);
/* The digest of a raw ECDSA hash by its length (32/48/64); NULL for other lengths. */
const char *p11_ecdsa_digest(size_t hashlen);
/* DER ECDSA-Sig-Value -> r||s, each fieldlen bytes. False on malformed input. */
bool p11_ecdsa_raw(const unsigned char *der, size_t len, size_t fieldlen, unsigned char *out);
/* r||s (len bytes, even) -> DER ECDSA-Sig-Value in out (OPENSSL_malloc'd); its length, or
 * 0 on failure. */
size_t p11_ecdsa_der(const unsigned char *raw, size_t len, unsigned char **out);
/* Signature size of a key. */
size_t p11_sig_len(sc_alg alg, unsigned bits);

/* ---- config_file.c, config.c ------------------------------------------------------------ */

/* The longest line of the configuration file, newline included: a path of PATH_MAX
 * and its setting's name, with room to spare. */
#define P11_CONFIG_LINE_MAX 4352

typedef struct p11_config {
    char *daemon, *keystore, *environment, *pin_source; /* malloc'd or NULL */
} p11_config;

/* *dst = a copy of v (the old value freed). SU_OK or SU_EIO. */
int p11_config_set(char **dst, const char *v, su_error *e);
/* Adds the settings of configuration file f (named name in errors) to cfg, whose
 * fields must be NULL on entry. SU_OK; SU_EUSAGE "config NAME line N: ..." for a line
 * too long, a NUL byte, no '=', an unknown name or a name given twice; SU_EIO. On error
 * cfg may hold the lines before: p11_config_clear it. */
int p11_config_read(p11_config *cfg, FILE *f, const char *name, su_error *e);
/* Fills cfg from the environment and the configuration file. SU_OK, or SU_EUSAGE /
 * SU_ENOTFOUND / SU_EIO with e naming the file and line. */
int p11_config_load(p11_config *cfg, su_error *e);
void p11_config_clear(p11_config *cfg);

/* ---- sessions ---------------------------------------------------------------------------- */

typedef struct p11_sign_op {
    int active;
    const p11_mech *mech;
    unsigned char key_id[SC_KEY_ID_LEN];
    sc_alg alg;
    unsigned bits;
    int key_pin;
    EVP_MD_CTX *md; /* hash-and-sign mechanisms */
    int updated;    /* C_SignUpdate was called: only C_SignFinal may end it */
    const char *pss_digest, *pss_mgf;
    int pss_saltlen;
    size_t pss_hlen;     /* length of the PSS parameters' hash */
    su_pin *context_pin; /* C_Login(CKU_CONTEXT_SPECIFIC) after C_SignInit */
    EVP_PKEY *pub;       /* verification: the public key, in the module's context */
} p11_sign_op;

typedef struct p11_session {
    struct p11_session *next;
    CK_SESSION_HANDLE handle;
    CK_FLAGS flags;
    unsigned refs; /* users inside an entry point; freed at 0 once closed */
    int closed;
    pthread_mutex_t op_mu; /* the session's operations */
    CK_OBJECT_HANDLE *found;
    size_t nfound, pos;
    int finding;
    p11_sign_op sign, verify; /* the same shape: a key, a mechanism, its parameters */
} p11_session;

/* ---- module.c: the one state --------------------------------------------------------------- */

typedef struct p11_module {
    pid_t pid;
    OSSL_LIB_CTX *libctx; /* the module's own: never the application's */
    p11_config cfg;
    pthread_rwlock_t conn_lock;
    sc_conn *conn; /* NULL: no token (keystore absent, daemon down at load) */
    sc_info info;
    int daemon;
    /* CKF_LOGIN_REQUIRED (embedded). Without it (daemon: the daemon knows the caller
     * by its credentials) every session has the user's functions, as PKCS#11 gives
     * a token that needs no login, and C_Login/C_Logout change nothing. */
    int login_required;
    pthread_mutex_t mu;
    int logged_in; /* the user role, for every session of the application */
    p11_session *sessions;
    CK_SESSION_HANDLE next_session;
    p11_object **objs;
    size_t nobjs;
    CK_OBJECT_HANDLE next_object;
    struct p11_module *next_abandoned;
} p11_module;

extern p11_module *p11_g;

/* CKR_OK when the module is initialized in this process (not only in a parent). */
CK_RV p11_enter(void);
/* Logs one line "sealhsm-pkcs11: MSG" on stderr (refusals, configuration errors). */
void p11_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Maps a client SU_* code to a CK_RV (policy refusal: CKR_FUNCTION_REJECTED ...). */
CK_RV p11_rv(int su);
/* Copies s into a blank-padded, unterminated PKCS#11 string field. */
void p11_pad(CK_UTF8CHAR *dst, size_t n, const char *s);

/* ---- token.c ----------------------------------------------------------------------------- */

/* Opens the connection (at C_Initialize); no token when it fails. */
void p11_token_open(p11_module *m);
void p11_token_close(p11_module *m);
/* C_Login CKU_USER: a fresh connection that logs in with pin (NULL in daemon mode
 * or from the configured source); the object table is reloaded. */
CK_RV p11_token_login(p11_module *m, const su_pin *pin);
CK_RV p11_token_logout(p11_module *m);
/* Whether the user role is logged in: m's flag, read under mu (the caller holds no lock). */
bool p11_is_logged_in(p11_module *m);
/* Reloads the object table from the keystore (handles stay stable). */
CK_RV p11_token_refresh(p11_module *m);
/* Under mu: the object of a handle visible in this login state, or NULL. */
p11_object *p11_object_get(p11_module *m, CK_OBJECT_HANDLE h);

/* ---- session.c ------------------------------------------------------------------------------ */

/* A session by handle with a reference taken (p11_session_put releases it). */
CK_RV p11_session_get(CK_SESSION_HANDLE h, p11_session **out);
void p11_session_put(p11_session *s);
void p11_sign_op_clear(p11_sign_op *op);

/* ---- sign.c, shared with verify.c ------------------------------------------------------------ */

/* C_SignInit (verify 0: a private key, after the login) or C_VerifyInit (verify 1: the
 * public key of a private or public key object). */
CK_RV p11_op_init(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey,
                  int verify);
/* Under op_mu: what the signature covers for the caller's data (data NULL: the end of
 * a multi-part hash): the digest's name (NULL for EdDSA) and the bytes a signature is
 * made over (the hash, in hash or in data; EdDSA: the message). CKR_DATA_INVALID /
 * CKR_DATA_LEN_RANGE for input the mechanism does not take. */
CK_RV p11_op_input(p11_sign_op *op, const unsigned char *data, size_t len,
                   unsigned char hash[EVP_MAX_MD_SIZE], const char **digest,
                   const unsigned char **tbs, size_t *tbslen);
/* Under op_mu: whether C_Sign/C_Verify (final 0) or C_SignFinal/C_VerifyFinal (final 1)
 * may go on with op. CKR_OPERATION_NOT_INITIALIZED, CKR_ARGUMENTS_BAD (out NULL, or data
 * NULL with len > 0), CKR_OPERATION_ACTIVE (a single-part call after an update),
 * CKR_FUNCTION_NOT_SUPPORTED (a Final call for a single-part mechanism). */
CK_RV p11_op_ready(const p11_sign_op *op, const void *out, const void *data, size_t len, int final);
/* Under op_mu, after such a call returned rv: ends op, unless it was a length query or a
 * single-part call refused while a multi-part one runs (CKR_OPERATION_ACTIVE). */
void p11_op_end(p11_sign_op *op, CK_RV rv, int query);
/* C_SignUpdate (verify 0) or C_VerifyUpdate (verify 1): hashes the part; an error ends
 * the operation. CKR_FUNCTION_NOT_SUPPORTED for single-part mechanisms. */
CK_RV p11_op_update(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, int verify);
void p11_sessions_free(p11_module *m);

#endif
