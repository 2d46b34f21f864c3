/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealstore: the sealed keystore shared by the `sealhsm` tool and the provider.
 *
 * Every rule lives here once: PIN unlock and lockout, sealing, policy, audit.
 * The front ends parse their input, gather PINs, call one of these verbs and
 * print or encode the result. They never touch LMDB.
 *
 * Conventions
 *   - Every fallible call returns an SU_* code (which is also the tool's exit
 *     code) and fills the caller's ss_error with a one-line message naming the
 *     object involved (key label, path, record). ss_error may be NULL.
 *   - Objects returned through out-pointers belong to the caller and are freed
 *     with the matching *_free function (all of which accept NULL); DER buffers
 *     (keyref, attestation) are OPENSSL_malloc'd and freed with OPENSSL_free.
 *   - An ss_store may be used by several threads at once once logged in;
 *     ss_login / ss_logout / ss_close must not race with other calls.
 *   - Key material never crosses this API except inward (ss_import); public
 *     keys cross it as DER SubjectPublicKeyInfo.
 */
#ifndef SEALSTORE_H
#define SEALSTORE_H

#include "sealutil.h"

#include <openssl/types.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef su_error ss_error;
typedef struct ss_store ss_store;

#define SS_KEY_ID_LEN SU_KEY_ID_LEN
#define SS_STORE_ID_LEN 16
#define SS_LABEL_MAX 255
#define SS_DESC_MAX 1024
#define SS_MAX_USERS 32
#define SS_MAX_GROUPS 32
#define SS_OFFICER_NAME_MAX 64
#define SS_REASON_MAX 512

/* ---- enumerations (stable: their values are stored on disk) -------------- */

typedef enum { SS_ROLE_NONE = 0, SS_ROLE_SO = 1, SS_ROLE_USER = 2, SS_ROLE_OFFICER = 3 } ss_role;
typedef enum { SS_ALG_RSA = 1, SS_ALG_EC = 2, SS_ALG_ED25519 = 3, SS_ALG_ED448 = 4 } ss_alg;
typedef enum { SS_ENV_DEV = 0, SS_ENV_TEST = 1, SS_ENV_PROD = 2 } ss_env;
typedef enum {
    SS_STATE_ACTIVE = 0,
    SS_STATE_DISABLED = 1,
    SS_STATE_REVOKED = 2,
    SS_STATE_DESTROYED = 3
} ss_state;
typedef enum { SS_ORIGIN_GENERATED = 0, SS_ORIGIN_IMPORTED = 1 } ss_origin;

/* RSA paddings (bit flags for the policy) */
#define SS_PAD_PKCS1 0x1u
#define SS_PAD_PSS 0x2u

/* Digests (bit flags for the policy). SHA-1 and MD5 have no flag: never allowed. */
#define SS_MD_SHA224 0x001u
#define SS_MD_SHA256 0x002u
#define SS_MD_SHA384 0x004u
#define SS_MD_SHA512 0x008u
#define SS_MD_SHA512_224 0x010u
#define SS_MD_SHA512_256 0x020u
#define SS_MD_SHA3_224 0x040u
#define SS_MD_SHA3_256 0x080u
#define SS_MD_SHA3_384 0x100u
#define SS_MD_SHA3_512 0x200u
#define SS_MD_DEFAULT                                                                              \
    (SS_MD_SHA256 | SS_MD_SHA384 | SS_MD_SHA512 | SS_MD_SHA3_256 | SS_MD_SHA3_384 | SS_MD_SHA3_512)

/* Key type: algorithm plus size (RSA modulus bits, EC curve bits 256/384/521). */
typedef struct ss_keytype {
    ss_alg alg;
    unsigned bits;
} ss_keytype;

/* "rsa:3072", "ec:P-256", "ed25519", "ed448"; RSA 2048..4096 only. */
int ss_keytype_parse(const char *s, ss_keytype *out, ss_error *e);
/* The --type spelling of a type; out holds 16 bytes. */
void ss_keytype_name(ss_keytype t, char *out);
/* OpenSSL's key type name: "RSA", "EC", "ED25519", "ED448". */
const char *ss_keytype_ossl_name(ss_keytype t);
/* EC curve name ("P-256") or NULL. */
const char *ss_keytype_curve(ss_keytype t);

const char *ss_env_name(ss_env env);
int ss_env_parse(const char *s, ss_env *out);
const char *ss_state_name(ss_state st);
const char *ss_origin_name(ss_origin o);

/* Digest flag from any common spelling ("sha256", "SHA2-256", "SHA-256", "sha3-384");
 * 0 for unknown or forbidden digests (*forbidden set to 1 for SHA-1 / MD5 family). */
unsigned ss_digest_flag(const char *name, int *forbidden);
/* Lowercase policy spelling of one flag ("sha256"), NULL if not a single flag. */
const char *ss_digest_name(unsigned flag);
/* One spelling per digest for records and messages: the policy spelling, "sha1" /
 * "md5" for the forbidden families, "none" for NULL (EdDSA), else lowercased into buf. */
const char *ss_digest_canon(const char *name, char *buf, size_t n);
/* Output size in bytes of one digest flag, 0 if not a single known flag. */
size_t ss_digest_size(unsigned flag);

/* ---- policy (SPEC §5) ------------------------------------------------------- */

typedef struct ss_policy {
    ss_env env;
    unsigned digests;        /* SS_MD_* set; EdDSA keys ignore it */
    unsigned paddings;       /* SS_PAD_* set; RSA only */
    int64_t not_before;      /* Unix seconds; 0 = none */
    int64_t not_after;       /* Unix seconds; 0 = none */
    uint64_t max_signatures; /* 0 = unlimited */
    uint32_t rate_count;     /* 0 = no rate limit */
    uint32_t rate_period;    /* seconds */
    uint32_t approvals;      /* M of the officers; 0 = none */
    uint32_t activation_ttl; /* seconds; default 3600 */
    uint32_t nusers;         /* 0 = any OS user */
    uint32_t users[SS_MAX_USERS];
    int key_pin;       /* 1: a per-key usage PIN is asked at sign time */
    int audit_batched; /* 1: sign records may be flushed in batches */
    uint32_t ngroups;  /* 0 = any group; else the signer's gid or a supplementary gid */
    uint32_t groups[SS_MAX_GROUPS];
} ss_policy;

void ss_policy_default(ss_policy *p);
/* Canonical encoding (stable, used in the sealing AAD and the attestation digest;
 * a policy without groups encodes as it did before groups existed).
 * Returns 1 on success, 0 on failure (like a predicate, not an SU_* code). */
int ss_policy_encode(const ss_policy *p, su_buf *out);
/* SHA-256 of the canonical encoding; returns 1 on success, 0 on failure. */
int ss_policy_digest(const ss_policy *p, unsigned char out[32]);

/* ---- keystore lifecycle ---------------------------------------------------------- */

typedef struct ss_init_params {
    uint32_t kdf_mem_kib;    /* Argon2id memory, KiB (default 65536) */
    uint32_t kdf_iterations; /* default 3 */
    uint32_t kdf_lanes;      /* default 1 */
    uint32_t max_pin_tries;  /* default 10 */
    int syslog;              /* 1: every process copies audit records to syslog */
} ss_init_params;

void ss_init_params_default(ss_init_params *p);

/*
 * Resolves the keystore directory: explicit (--keystore / provider param), else
 * $SEALHSM_KEYSTORE, else $XDG_DATA_HOME/sealhsm, else ~/.local/share/sealhsm.
 */
int ss_resolve_path(const char *explicit_dir, char *out, size_t outlen, ss_error *e);

/* Creates a keystore in dir (created 0700 if missing; must be empty otherwise). */
int ss_init(const char *dir, const ss_init_params *p, const su_pin *so_pin, const su_pin *user_pin,
            ss_error *e);

/*
 * Opens an existing keystore without unlocking it. libctx/propq are used for all
 * cryptography (NULL for the default context). The directory's owner and mode are
 * checked; a newer on-disk format is refused.
 */
int ss_open(const char *dir, OSSL_LIB_CTX *libctx, const char *propq, ss_store **out, ss_error *e);
void ss_close(ss_store *s);

const char *ss_store_path(const ss_store *s);
/* Copies this handle's committed audit records to syslog (facility authpriv) even
 * when the keystore was not initialized with syslog on; the socket is /dev/log
 * unless $SEALHSM_SYSLOG_SOCKET names another. */
void ss_set_syslog(ss_store *s, int on);
void ss_store_id(const ss_store *s, unsigned char out[SS_STORE_ID_LEN]);

/*
 * Unlocks a role. The role's try counter is incremented and committed before the
 * Argon2id attempt and reset on success; a role at its limit is refused without a
 * KDF attempt (SU_EPIN, "locked"). Every attempt is audited. officer names the
 * officer for SS_ROLE_OFFICER and is ignored otherwise.
 */
int ss_login(ss_store *s, ss_role role, const char *officer, const su_pin *pin, ss_error *e);
ss_role ss_logged_in(const ss_store *s);
void ss_logout(ss_store *s);

/* ---- PINs and officers ------------------------------------------------------------- */

/* Changes the PIN of the logged-in role; old_pin is that role's current PIN (the
 * master key is not kept after a user or officer login, so it is unwrapped again). */
int ss_pin_change(ss_store *s, const su_pin *old_pin, const su_pin *new_pin, ss_error *e);
/* SO only: sets a new user PIN and clears the user lockout. */
int ss_pin_reset_user(ss_store *s, const su_pin *new_pin, ss_error *e);

int ss_officer_add(ss_store *s, const char *name, const su_pin *pin, ss_error *e); /* SO */
int ss_officer_remove(ss_store *s, const char *name, ss_error *e);                 /* SO */
/* Any role: names of the officers; free with ss_strings_free. */
int ss_officer_list(ss_store *s, char ***names, size_t *n, ss_error *e);
void ss_strings_free(char **v, size_t n);

/* Officer logged in: records that officer's approval of the key. */
int ss_approve(ss_store *s, const char *label, ss_error *e);

/* ---- keys --------------------------------------------------------------------------- */

typedef struct ss_keyinfo {
    unsigned char id[SS_KEY_ID_LEN];
    char *label;
    ss_keytype type;
    ss_origin origin;
    ss_state state;
    int64_t created;    /* Unix seconds */
    int64_t state_time; /* when the state last changed */
    char *description;  /* "" when none */
    char *state_reason; /* "" when none */
    ss_policy policy;
    unsigned char *spki; /* DER SubjectPublicKeyInfo (kept in tombstones too) */
    size_t spki_len;
    /* usage (authenticated counters) */
    uint64_t signatures;
    int64_t last_used;          /* 0 = never */
    size_t ncerts;              /* certificates stored with the key */
    int64_t activation_expires; /* approvals: when the live activation ends, 0 = none */
} ss_keyinfo;

void ss_keyinfo_free(ss_keyinfo *k);
void ss_keylist_free(ss_keyinfo **v, size_t n);

typedef struct ss_keyspec {
    const char *label;
    ss_keytype type;
    const char *description; /* may be NULL */
    ss_policy policy;
    const su_pin *key_pin; /* required when policy.key_pin */
} ss_keyspec;

/* SO: generates a key inside the store (OpenSSL DRBG, pairwise test before storing). */
int ss_keygen(ss_store *s, const ss_keyspec *spec, ss_keyinfo **out, ss_error *e);
/* SO: imports a PKCS#8 PrivateKeyInfo (DER); origin=imported. spec->type is ignored
 * and taken from the key. */
int ss_import(ss_store *s, const ss_keyspec *spec, const unsigned char *pkcs8, size_t len,
              ss_keyinfo **out, ss_error *e);

/* Any role: one key by label (id NULL) or by id (label NULL). Destroyed keys are
 * returned as tombstones (state destroyed, no spki). */
int ss_key_get(ss_store *s, const char *label, const unsigned char *id, ss_keyinfo **out,
               ss_error *e);
/* User: like ss_key_get, for a front end about to sign with the key (the provider's
 * loader). A destroyed key is refused with SU_ENOTFOUND and the refusal is audited,
 * so later uses of a destroyed key are refused by name and leave a record. */
int ss_key_use(ss_store *s, const char *label, const unsigned char *id, ss_keyinfo **out,
               ss_error *e);
/* Any role: every key, ordered by label. */
int ss_key_list(ss_store *s, ss_keyinfo ***out, size_t *n, ss_error *e);

/* SO: replaces the key's policy (env included). Keys with approvals need a live
 * activation. key_pin: a new per-key PIN, or NULL to keep the current one; turning
 * policy.key_pin on for a key without one needs it (SU_ENOPIN otherwise). */
int ss_key_set_policy(ss_store *s, const char *label, const ss_policy *p, const su_pin *key_pin,
                      ss_error *e);
/* SO: active <-> disabled, or -> revoked (final). */
int ss_key_set_state(ss_store *s, const char *label, ss_state st, const char *reason, ss_error *e);
/* SO: zeroizes the key; a tombstone keeps label and id. Needs exclusive use of the
 * keystore (the store file is compacted so no freed page keeps the sealed bytes). */
int ss_key_destroy(ss_store *s, const char *label, ss_error *e);

/* ---- signing: the one gate --------------------------------------------------------- */

/* Asks the caller for a per-key usage PIN; label names the key for the prompt. */
typedef int (*ss_pin_cb)(void *arg, const char *label, su_pin **out, ss_error *e);

/*
 * Who asks for a signature when it is not this process: the daemon fills it from
 * the kernel's peer credentials (SO_PEERCRED, /proc/PID/status and comm). The
 * policy's users and groups are checked against it and the audit record names
 * it, marked as coming through the daemon. The strings are only read during
 * the call.
 */
typedef struct ss_signer {
    uint32_t uid, gid;
    const uint32_t *groups; /* supplementary gids */
    size_t ngroups;
    uint32_t pid;
    const char *user;    /* uid's name (or the uid in decimal) */
    const char *program; /* /proc/PID/comm */
} ss_signer;

typedef struct ss_sign_req {
    const char *digest;       /* digest that produced tbs; NULL for EdDSA */
    unsigned padding;         /* RSA: SS_PAD_PKCS1 or SS_PAD_PSS; else 0 */
    const char *mgf1_digest;  /* PSS; NULL = digest */
    int pss_saltlen;          /* PSS: >= 0, or OpenSSL's RSA_PSS_SALTLEN_DIGEST/AUTO/MAX */
    const unsigned char *tbs; /* the digest value; for EdDSA the whole message */
    size_t tbslen;
    const char *environment; /* the caller's environment; NULL = "dev" */
    ss_pin_cb key_pin_cb;    /* used only for keys with policy.key_pin */
    void *key_pin_arg;
    const ss_signer *signer; /* NULL: this process (getuid, getgid, getgroups, getpid) */
} ss_sign_req;

/*
 * User: the only way a signature leaves the store. Checks state and policy, signs,
 * then commits the usage counters and the audit record (allowed or refused) in one
 * durable transaction; the signature is written to sig only after that commit.
 * sig == NULL: *siglen receives the maximum size. Refusals return SU_EPOLICY with a
 * message starting "policy: key LABEL: ".
 */
int ss_sign(ss_store *s, const unsigned char id[SS_KEY_ID_LEN], const ss_sign_req *req,
            unsigned char *sig, size_t *siglen, ss_error *e);

/* ---- certificates ------------------------------------------------------------------ */

typedef struct ss_blob {
    unsigned char *data;
    size_t len;
} ss_blob;
void ss_blobs_free(ss_blob *v, size_t n);

/* SO: stores a certificate chain (DER, leaf first) with the key; the leaf's public
 * key must match the key. Replaces any earlier chain. */
int ss_cert_import(ss_store *s, const char *label, const ss_blob *chain, size_t n, ss_error *e);
/* Any role: the stored chain (leaf first); n = 0 when none. */
int ss_cert_get(ss_store *s, const unsigned char id[SS_KEY_ID_LEN], ss_blob **chain, size_t *n,
                ss_error *e);

/* ---- key references (SPEC §4) ------------------------------------------------------- */

/* DER of SEQUENCE { version INTEGER (1), keystoreId OCTET STRING, keyId OCTET STRING,
 * label UTF8String }: no secret. */
int ss_keyref_encode(const unsigned char store_id[SS_STORE_ID_LEN], const ss_keyinfo *k,
                     unsigned char **der, size_t *len, ss_error *e);
/* *label is malloc'd: free() it. */
int ss_keyref_decode(const unsigned char *der, size_t len, unsigned char store_id[SS_STORE_ID_LEN],
                     unsigned char key_id[SS_KEY_ID_LEN], char **label, ss_error *e);
#define SS_KEYREF_PEM_NAME "SEALHSM KEY REF"

/* ---- attestation -------------------------------------------------------------------- */

/* Any role: DER certificate of the keystore's attestation CA. */
int ss_attest_ca(ss_store *s, unsigned char **der, size_t *len, ss_error *e);
/* Any role: DER certificate of the key's public key, issued by the attestation CA. */
int ss_attest_key(ss_store *s, const char *label, unsigned char **der, size_t *len, ss_error *e);

/* ---- audit (SPEC §6) ----------------------------------------------------------------- */

typedef enum {
    SS_OP_INIT = 0,
    SS_OP_UNLOCK,
    SS_OP_KEYGEN,
    SS_OP_IMPORT,
    SS_OP_POLICY,
    SS_OP_OFFICER,
    SS_OP_APPROVE,
    SS_OP_SIGN,
    SS_OP_STATE,
    SS_OP_CERT,
    SS_OP_BACKUP,
    SS_OP_RESTORE,
    SS_OP_PIN
} ss_audit_op;
typedef enum { SS_OUT_OK = 0, SS_OUT_DENIED = 1, SS_OUT_ERROR = 2 } ss_audit_outcome;

const char *ss_audit_op_name(ss_audit_op op);
const char *ss_audit_outcome_name(ss_audit_outcome o);

typedef struct ss_audit_rec {
    uint64_t seq;
    int64_t time_ms;
    uint32_t uid;
    const char *user;
    uint32_t pid;
    const char *program;
    ss_audit_op op;
    int has_key;
    unsigned char key_id[SS_KEY_ID_LEN];
    const char *label;
    ss_audit_outcome outcome;
    const char *reason;
    const char *digest;
    const unsigned char *tbs_hash;
    size_t tbs_hash_len;
    unsigned char prev_hash[32];
    int via_daemon;    /* 1: signed for a client of sealhsmd (user, pid, program are the peer's) */
    int authenticated; /* 0: written before an unlock, no MAC yet */
    unsigned char mac[32];
} ss_audit_rec;

/* Any role: calls fn for each record with seq >= since, in order; stops (and returns
 * its value) when fn returns nonzero. */
int ss_audit_each(ss_store *s, uint64_t since, int (*fn)(const ss_audit_rec *r, void *arg),
                  void *arg, ss_error *e);

typedef struct ss_audit_report {
    uint64_t records;         /* records checked */
    uint64_t unauthenticated; /* tail records still without MAC */
    uint64_t first_bad;       /* seq of the first bad record, 0 = none */
} ss_audit_report;

/* Any role: checks sequence, hash chain, MACs and the authenticated head. SU_OK or
 * SU_EINTEGRITY with the message naming the first bad record. */
int ss_audit_verify(ss_store *s, ss_audit_report *r, ss_error *e);

/* ---- backup and restore ------------------------------------------------------------------ */

/* SO: writes a sealed, integrity-protected backup file. */
int ss_backup(ss_store *s, const char *out_path, ss_error *e);
/* Checks the backup with the SO PIN it carries and recreates the keystore in new_dir
 * (which must not exist or be empty). Nothing is written unless the file verifies. */
int ss_restore(const char *in_path, const char *new_dir, const su_pin *so_pin, OSSL_LIB_CTX *libctx,
               ss_error *e);

/* ---- self-tests ------------------------------------------------------------------------- */

/* Known-answer tests of every algorithm the store uses. report (may be NULL) is
 * called once per test. SU_OK when all pass, else SU_EINTEGRITY. */
int ss_selftest(OSSL_LIB_CTX *libctx, const char *propq,
                void (*report)(const char *name, int ok, void *arg), void *arg, ss_error *e);

#ifdef __cplusplus
}
#endif
#endif
