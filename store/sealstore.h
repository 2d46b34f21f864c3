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
 *
 * Contracts (each verb below says what it needs, returns and which errors it gives)
 *   - "Needs SO" / "Needs user" / "Needs officer": that role must be logged in
 *     (ss_login); with no login the verb gives SU_EPIN ("... needs X to log in
 *     first"), with another role SU_EPOLICY ("... is reserved to X"). "Needs a
 *     login": any role (SU_EPIN without one). "No login": works on a closed or a
 *     locked keystore.
 *   - Every verb that reads or writes the keystore can also give SU_EINTEGRITY (a
 *     corrupt file, a record or MAC that fails its check, an older copy of a record
 *     put back) and SU_EIO (I/O error, full map, read-only file, out of memory);
 *     the lists below do not repeat these two.
 *   - A label names a key as the user typed it: unknown labels give SU_ENOTFOUND,
 *     as do destroyed keys for every verb but ss_key_get and ss_key_list.
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

/* No login. Parses "rsa:2048|3072|4096", "ec:P-256|P-384|P-521", "ed25519", "ed448".
 * Returns SU_OK, or SU_EUSAGE for anything else (RSA below 2048 bits included). */
int ss_keytype_parse(const char *s, ss_keytype *out, ss_error *e);
/* No login. Writes the --type spelling of t into out (16 bytes); "" if t is unknown. */
void ss_keytype_name(ss_keytype t, char *out);
/* No login. OpenSSL's key type name: "RSA", "EC", "ED25519", "ED448"; "" if unknown. */
const char *ss_keytype_ossl_name(ss_keytype t);

/* No login. "dev", "test", "prod" ("unknown" for other values). */
const char *ss_env_name(ss_env env);
/* No login. Parses "dev", "test" or "prod" into *out. Returns SU_OK, or SU_EUSAGE (out
 * untouched) for anything else, NULL included. */
int ss_env_parse(const char *s, ss_env *out, ss_error *e);
/* No login. "active", "disabled", "revoked", "destroyed". */
const char *ss_state_name(ss_state st);
/* No login. "generated", "imported". */
const char *ss_origin_name(ss_origin o);

/* No login. Digest flag from any common spelling ("sha256", "SHA2-256", "SHA-256",
 * "sha3-384"); 0 for unknown or forbidden digests (*forbidden, when not NULL, set to 1
 * for the SHA-1 / MD5 family and left alone otherwise). */
unsigned ss_digest_flag(const char *name, int *forbidden);
/* No login. Lowercase policy spelling of one flag ("sha256"), NULL if not a single flag. */
const char *ss_digest_name(unsigned flag);

/* ---- policy (docs/reference.md, Policy) -------------------------------------------------- */

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

/* No login. The defaults of docs/reference.md, Policy: env dev, SS_MD_DEFAULT, both
 * paddings, activation TTL 1h, no other rule. */
void ss_policy_default(ss_policy *p);
/* No login. Appends the canonical encoding of p to out (stable: it is bound into the
 * sealing AAD and hashed into the attestation's policyDigest; the layout is in
 * docs/reference.md, Policy). Users and groups are encoded sorted, so equal policies
 * encode equally; a policy without groups encodes as it did before groups existed.
 * Returns SU_OK, SU_EUSAGE when p->nusers > SS_MAX_USERS or p->ngroups > SS_MAX_GROUPS,
 * SU_EIO when out ran out of memory. */
int ss_policy_encode(const ss_policy *p, su_buf *out, ss_error *e);
/* No login. SHA-256 of the canonical encoding into out. Returns SU_OK or the errors of
 * ss_policy_encode, SU_EIO if hashing fails. */
int ss_policy_digest(const ss_policy *p, unsigned char out[32], ss_error *e);

/* ---- keystore lifecycle ---------------------------------------------------------- */

typedef struct ss_init_params {
    uint32_t kdf_mem_kib;    /* Argon2id memory, KiB (default 65536) */
    uint32_t kdf_iterations; /* default 3 */
    uint32_t kdf_lanes;      /* default 1 */
    uint32_t max_pin_tries;  /* default 10 */
    int syslog;              /* 1: every process copies audit records to syslog */
    const char *label;       /* keystore label, 1..SS_STORE_LABEL_MAX bytes; NULL = "sealhsm" */
} ss_init_params;

/* A keystore label fits a PKCS#11 token label (32 bytes, blank-padded). */
#define SS_STORE_LABEL_MAX 32

/* No login. The defaults: 64 MiB, 3 passes, 1 lane, 10 tries, no syslog, label NULL. */
void ss_init_params_default(ss_init_params *p);

/*
 * No login. Writes the keystore directory into out: explicit_dir (--keystore / the
 * provider parameter) if not NULL or empty, else $SEALHSM_KEYSTORE, else
 * $XDG_DATA_HOME/sealhsm (absolute XDG_DATA_HOME only), else ~/.local/share/sealhsm;
 * trailing slashes removed. Nothing is checked on disk. Returns SU_OK, or SU_EUSAGE
 * when no location is known or it does not fit in outlen.
 */
int ss_resolve_path(const char *explicit_dir, char *out, size_t outlen, ss_error *e);

/*
 * No login. Creates a keystore in dir (created with its parents, mode 0700, if
 * missing) with a new master key wrapped under both PINs, and audits the init.
 * Returns SU_OK; SU_EUSAGE when dir holds anything already or a KDF or try parameter
 * is out of range; SU_ENOPIN when a PIN is NULL (PIN lengths are the caller's to check);
 * SU_EIO when dir cannot be created or written. Nothing is left behind on failure.
 */
int ss_init(const char *dir, const ss_init_params *p, const su_pin *so_pin, const su_pin *user_pin,
            ss_error *e);

/*
 * No login. Opens an existing keystore without unlocking it; *out belongs to the
 * caller (ss_close). libctx/propq are used for all cryptography (NULL for the default
 * context). Returns SU_OK; SU_ENOTFOUND when dir or its data.mdb does not exist;
 * SU_EIO when dir is not a directory, is owned by another user or is writable by
 * group or others, or holds a newer on-disk format; SU_EINTEGRITY when it is not a
 * sealhsm keystore or its metadata is damaged.
 */
int ss_open(const char *dir, OSSL_LIB_CTX *libctx, const char *propq, ss_store **out, ss_error *e);
/* Logs out (flushing batched audit records), closes and frees s; NULL ok. */
void ss_close(ss_store *s);

/* The keystore directory s was opened with. */
const char *ss_store_path(const ss_store *s);
/* No login. Copies this handle's committed audit records to syslog (facility
 * authpriv) even when the keystore was not initialized with syslog on; the socket is
 * /dev/log unless $SEALHSM_SYSLOG_SOCKET names another. */
void ss_set_syslog(ss_store *s, int on);
/* No login. The keystore's random 16-byte id (named by key references). */
void ss_store_id(const ss_store *s, unsigned char out[SS_STORE_ID_LEN]);
/* No login. The keystore label given at init ("sealhsm" for keystores made before
 * labels); the string belongs to s. */
const char *ss_store_label(const ss_store *s);

typedef struct ss_store_params {
    uint32_t format;                                 /* on-disk format version */
    uint32_t kdf_mem_kib, kdf_iterations, kdf_lanes; /* Argon2id of the user PIN slot */
    uint32_t max_pin_tries;
    uint32_t quorum; /* officer quorum setting; 0 when none is set */
} ss_store_params;

/* Any role logged in: the keystore's format version and settings into *out.
 * Returns SU_OK; SU_EPIN before a login; SU_EINTEGRITY when a setting is missing or
 * malformed; SU_EIO on a read failure. */
int ss_store_params_get(ss_store *s, ss_store_params *out, ss_error *e);

/*
 * No login. Unlocks a role (a previous login of s is dropped first). The role's try
 * counter is incremented and committed before the Argon2id attempt and reset on
 * success; a role at its limit is refused without a KDF attempt. Every attempt is
 * audited. officer names the officer for SS_ROLE_OFFICER and is ignored otherwise.
 * Returns SU_OK; SU_EPIN for a wrong PIN or a locked role; SU_ENOPIN when pin is
 * NULL; SU_ENOTFOUND for an unknown officer; SU_EUSAGE for SS_ROLE_NONE or a missing
 * officer name.
 */
int ss_login(ss_store *s, ss_role role, const char *officer, const su_pin *pin, ss_error *e);
/* The role s is logged in as, SS_ROLE_NONE if none. */
ss_role ss_logged_in(const ss_store *s);
/* Drops the login: flushes batched audit records, wipes the session keys and the
 * cached unsealed keys. Safe to call when not logged in. */
void ss_logout(ss_store *s);

/* ---- PINs and officers ------------------------------------------------------------- */

/* Needs a login. Changes the PIN of the logged-in role; old_pin is that role's current
 * PIN (the master key is not kept after a user or officer login, so it is unwrapped
 * again). Audited. Returns SU_OK; SU_EPIN when old_pin is wrong; SU_ENOPIN when
 * new_pin is NULL; SU_EUSAGE when it is not 6..256 bytes. */
int ss_pin_change(ss_store *s, const su_pin *old_pin, const su_pin *new_pin, ss_error *e);
/* Needs SO. Sets a new user PIN and clears the user lockout. Audited. Returns SU_OK;
 * SU_ENOPIN / SU_EUSAGE for a missing or badly sized new_pin. */
int ss_pin_reset_user(ss_store *s, const su_pin *new_pin, ss_error *e);
/* SO only: sets a new usage PIN on key label (which must have policy.key_pin) and
 * clears its lockout; audited. SU_ENOTFOUND for no such key, SU_EUSAGE for a key
 * without a key PIN or a PIN of the wrong length, SU_EPOLICY for a revoked key. */
int ss_pin_reset_key(ss_store *s, const char *label, const su_pin *new_pin, ss_error *e);

/* Needs SO. Adds officer name (1..64 bytes of letters, digits, '.', '_', '-', '@')
 * with its own PIN slot. Audited. Returns SU_OK; SU_EUSAGE for a bad name, an existing
 * officer or a badly sized pin; SU_ENOPIN when pin is NULL. */
int ss_officer_add(ss_store *s, const char *name, const su_pin *pin, ss_error *e);
/* Needs SO. Removes the officer's PIN slot. Audited. SU_ENOTFOUND if there is none. */
int ss_officer_remove(ss_store *s, const char *name, ss_error *e);
/* Needs a login. The officers' names in byte order (*names NULL, *n 0 when none); free
 * with ss_strings_free. Returns SU_OK. */
int ss_officer_list(ss_store *s, char ***names, size_t *n, ss_error *e);
/* Frees the n strings of v and v; NULL ok. */
void ss_strings_free(char **v, size_t n);

/* Needs officer. Records the logged-in officer's approval of the key; M distinct
 * approvals within the activation TTL activate it (ss_keyinfo.activation_expires).
 * Audited. Returns SU_OK; SU_EUSAGE when the key does not require approvals;
 * SU_EPOLICY when it is revoked. */
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

/* Free one key, or a list of n keys and the list; NULL ok. */
void ss_keyinfo_free(ss_keyinfo *k);
void ss_keylist_free(ss_keyinfo **v, size_t n);

typedef struct ss_keyspec {
    const char *label;
    ss_keytype type;
    const char *description; /* may be NULL */
    ss_policy policy;
    const su_pin *key_pin; /* required when policy.key_pin */
} ss_keyspec;

/* Needs SO. Generates a key inside the store (OpenSSL DRBG, pairwise sign/verify test
 * before storing), seals it and audits the keygen; *out (caller frees) describes it.
 * Returns SU_OK; SU_EUSAGE for a bad or taken label (destroyed keys keep theirs), a
 * bad type, description or policy (batched audit with counters, approvals without a
 * TTL, too many users), a badly sized key PIN; SU_ENOPIN when policy.key_pin is set
 * without spec->key_pin; SU_EINTEGRITY when the pairwise test fails. */
int ss_keygen(ss_store *s, const ss_keyspec *spec, ss_keyinfo **out, ss_error *e);
/* Needs SO. Imports an unencrypted PKCS#8 PrivateKeyInfo (DER) like ss_keygen, marked
 * origin=imported; spec->type is ignored and taken from the key. Returns what
 * ss_keygen does, and SU_EUSAGE for input that is not such a key or a type sealhsm
 * does not support. */
int ss_import(ss_store *s, const ss_keyspec *spec, const unsigned char *pkcs8, size_t len,
              ss_keyinfo **out, ss_error *e);

/* Needs a login. One key by label (id NULL) or by id (label NULL), its usage counters
 * and activation included; *out belongs to the caller. Destroyed keys are returned
 * as tombstones (state destroyed, no spki). Returns SU_OK; SU_ENOTFOUND for an
 * unknown key; SU_EUSAGE when neither or both of label and id are given. */
int ss_key_get(ss_store *s, const char *label, const unsigned char *id, ss_keyinfo **out,
               ss_error *e);
/* Needs a login (the provider's loader, before signing). Like ss_key_get, but a
 * destroyed key is refused with SU_ENOTFOUND and the refusal is audited, so later
 * uses of a destroyed key are refused by name and leave a record. */
int ss_key_use(ss_store *s, const char *label, const unsigned char *id, ss_keyinfo **out,
               ss_error *e);
/* Needs a login. Every key, tombstones included, ordered by label: *out (free with
 * ss_keylist_free) holds *n keys, NULL when none. Returns SU_OK. */
int ss_key_list(ss_store *s, ss_keyinfo ***out, size_t *n, ss_error *e);

/* Needs SO. Replaces the key's policy (env included) and audits the change, with the
 * new policy's digest. key_pin: a new per-key PIN, or NULL to keep the current one.
 * Returns SU_OK; SU_EPOLICY when the key is revoked, or has approvals and no live
 * activation (that refusal is audited too); SU_ENOPIN when turning policy.key_pin on
 * for a key without one and key_pin is NULL; SU_EUSAGE for a bad policy or key PIN. */
int ss_key_set_policy(ss_store *s, const char *label, const ss_policy *p, const su_pin *key_pin,
                      ss_error *e);
/* Needs SO. active <-> disabled, or -> revoked (final), with an optional reason (at
 * most SS_REASON_MAX bytes). Audited. Returns SU_OK; SU_EPOLICY when the key is
 * revoked; SU_EUSAGE for st == SS_STATE_DESTROYED (use ss_key_destroy) or a long
 * reason. */
int ss_key_set_state(ss_store *s, const char *label, ss_state st, const char *reason, ss_error *e);
/* Needs SO. Zeroizes the key; a tombstone keeps label and id. Audited. Needs exclusive
 * use of the keystore (the store file is compacted so no freed page keeps the sealed
 * bytes): SU_EIO when another handle or process has it open. */
int ss_key_destroy(ss_store *s, const char *label, ss_error *e);

/* ---- signing: the one gate --------------------------------------------------------- */

/* Asks the caller for a per-key usage PIN; label names the key for the prompt. Returns
 * SU_OK with *out set (the store frees it), or an SU_* code (the signature is refused). */
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

/* ss_key_use for a front end serving another process (the daemon): the refusal of a
 * destroyed key is audited as signer's (NULL: this process, exactly ss_key_use). */
int ss_key_use_by(ss_store *s, const ss_signer *signer, const char *label, const unsigned char *id,
                  ss_keyinfo **out, ss_error *e);

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
 * Needs user. The only way a signature leaves the store. Checks state and policy,
 * signs, then commits the usage counters and the audit record (allowed or refused) in
 * one durable transaction (batched-audit keys: queued, committed within a few ms); the
 * signature is written to sig only after that commit. sig == NULL: *siglen receives
 * the maximum size. Returns SU_OK with *siglen set; SU_EPOLICY for a refusal (state,
 * environment, digest, padding, window, counters, rate, approvals, OS user, key PIN),
 * with a message starting "policy: key LABEL: "; SU_ENOTFOUND for an unknown or
 * destroyed key; SU_EUSAGE when tbslen does not match the digest, sig is too small or
 * the parameters make OpenSSL refuse the operation.
 */
int ss_sign(ss_store *s, const unsigned char id[SS_KEY_ID_LEN], const ss_sign_req *req,
            unsigned char *sig, size_t *siglen, ss_error *e);

/* ---- certificates ------------------------------------------------------------------ */

typedef struct ss_blob {
    unsigned char *data;
    size_t len;
} ss_blob;
/* Frees the n blobs of v and v; NULL ok. */
void ss_blobs_free(ss_blob *v, size_t n);

/* Needs SO. Stores a certificate chain (DER, leaf first) with the key, replacing any
 * earlier chain; the leaf's public key must match the key. Of the others only those
 * that chain the leaf are kept, in issuing order (unrelated ones and duplicates are
 * dropped: ss_cert_get shows what was kept). Audited. Returns SU_OK; SU_EUSAGE when n
 * is not 1..the chain limit, a certificate is not DER X.509, or the leaf's public key
 * is not the key's. */
int ss_cert_import(ss_store *s, const char *label, const ss_blob *chain, size_t n, ss_error *e);
/* Needs a login. The stored chain (leaf first; free with ss_blobs_free); *chain NULL
 * and *n 0 when none, also for an id that names no key. Returns SU_OK. */
int ss_cert_get(ss_store *s, const unsigned char id[SS_KEY_ID_LEN], ss_blob **chain, size_t *n,
                ss_error *e);

/* ---- key references (docs/reference.md, Key-reference files) ----------------------------- */

/* No login. DER of SEQUENCE { version INTEGER (1), keystoreId OCTET STRING, keyId
 * OCTET STRING, label UTF8String }: no secret; *der is OPENSSL_malloc'd. Returns SU_OK;
 * SU_EUSAGE when k has no label or a label over SS_LABEL_MAX bytes; SU_EIO when
 * encoding fails. */
int ss_keyref_encode(const unsigned char store_id[SS_STORE_ID_LEN], const ss_keyinfo *k,
                     unsigned char **der, size_t *len, ss_error *e);
/* No login. Decodes a reference made by ss_keyref_encode; *label is malloc'd: free()
 * it. Returns SU_OK, or SU_EINTEGRITY for anything that is not exactly that shape
 * (trailing bytes, non-DER, another version, wrong id sizes, a bad label). */
int ss_keyref_decode(const unsigned char *der, size_t len, unsigned char store_id[SS_STORE_ID_LEN],
                     unsigned char key_id[SS_KEY_ID_LEN], char **label, ss_error *e);
#define SS_KEYREF_PEM_NAME "SEALHSM KEY REF"

/* ---- attestation -------------------------------------------------------------------- */

/* Needs a login. DER certificate of the keystore's attestation CA (OPENSSL_free it).
 * Returns SU_OK. */
int ss_attest_ca(ss_store *s, unsigned char **der, size_t *len, ss_error *e);
/* Needs a login. DER certificate of the key's public key, issued now by the
 * attestation CA (docs/reference.md, Attestation certificates; OPENSSL_free it).
 * Returns SU_OK; SU_ENOTFOUND for an unknown or destroyed key. */
int ss_attest_key(ss_store *s, const char *label, unsigned char **der, size_t *len, ss_error *e);

/* ---- audit (docs/reference.md, Audit log) ------------------------------------------------ */

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

/* No login. The record spellings ("sign", "denied"); "unknown" / "error" otherwise. */
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

/* Needs a login. Calls fn for each record with seq >= since, in order (the record and
 * its strings live until fn returns); stops and returns fn's value when it is not
 * SU_OK. Returns SU_OK after the last record; SU_EINTEGRITY for a record that does
 * not decode (verification is ss_audit_verify's job). */
int ss_audit_each(ss_store *s, uint64_t since, int (*fn)(const ss_audit_rec *r, void *arg),
                  void *arg, ss_error *e);

typedef struct ss_audit_report {
    uint64_t records;         /* records checked */
    uint64_t unauthenticated; /* tail records still without MAC */
    uint64_t first_bad;       /* seq of the first bad record, 0 = none */
} ss_audit_report;

/* Needs a login. Checks sequence, hash chain, MACs and the authenticated head, and
 * fills *r. Returns SU_OK, or SU_EINTEGRITY with r->first_bad and the message naming
 * the first bad record. */
int ss_audit_verify(ss_store *s, ss_audit_report *r, ss_error *e);

/* ---- whole-keystore integrity, clock, quorum, master-key rotation (docs/security.md) ---- */

/* The keystore's format version (ST_FORMAT_VERSION after the first login with a key). */
uint32_t ss_format(const ss_store *s);

typedef struct ss_verify_report {
    uint64_t keys, labels, officers; /* records checked in each table */
    ss_audit_report audit;
} ss_verify_report;
/* Any role: every record of every table and index against its MAC, the freshness
 * tree and the authenticated head, then the audit log. SU_OK or SU_EINTEGRITY
 * naming the first problem. */
int ss_verify(ss_store *s, ss_verify_report *r, ss_error *e);

/* SO: the current clock becomes the keystore's clock floor (audited). */
int ss_clock_accept(ss_store *s, ss_error *e);

/* Any role: the `officer quorum` setting, the effective quorum (the setting or the
 * largest --approvals of a key not destroyed) and the number of officers. */
int ss_quorum_get(ss_store *s, uint32_t *setting, uint32_t *effective, uint32_t *officers,
                  ss_error *e);
/* SO: sets the quorum setting (SU_EUSAGE above the number of officers; lowering it
 * needs a live admin activation, else SU_EPOLICY, audited). */
int ss_quorum_set(ss_store *s, uint32_t m, ss_error *e);
/* Officer logged in: one approval toward the admin activation that officer add and
 * remove, lowering approvals or the quorum, and rekey need while the quorum is >= 1.
 * expires (may be NULL) gets the activation's end, 0 while approvals are missing. */
int ss_approve_admin(ss_store *s, int64_t *expires, ss_error *e);

typedef struct ss_officer_pin {
    const char *name;
    const su_pin *pin;
} ss_officer_pin;
typedef struct ss_rekey_report {
    uint64_t keys, records, officers_kept, officers_removed;
} ss_rekey_report;
/* SO, with the keystore open in no other process: a new master key; every key record,
 * counter, approval, certificate record, the attestation key and every audit MAC are
 * redone under it and the SO and user slots rewrapped with their (unchanged) PINs, in
 * one transaction. Officers given in officers[] keep their slots (rewrapped with their
 * PINs); the others are removed. Needs an admin activation while the quorum is >= 1
 * (SU_EPOLICY); SU_EPIN for a wrong PIN; report (may be NULL) counts what was done. */
int ss_rekey(ss_store *s, const su_pin *so_pin, const su_pin *user_pin,
             const ss_officer_pin *officers, size_t n, ss_rekey_report *report, ss_error *e);

/* ---- backup and restore ------------------------------------------------------------------ */

/* Needs SO. Writes a sealed, integrity-protected backup file (a temporary file renamed
 * into place). Audited. Returns SU_OK; SU_EUSAGE for a too long path; SU_EIO when the
 * file cannot be written or the keystore changed during the backup. */
int ss_backup(ss_store *s, const char *out_path, ss_error *e);
/* No login. Checks the backup with the SO PIN it carries and recreates the keystore
 * in new_dir (which must not exist or be empty), ids, states, counters and audit chain
 * included. Nothing is written unless the file verifies. Returns SU_OK; SU_EPIN for
 * the wrong SO PIN; SU_EINTEGRITY for a damaged or truncated file; SU_EUSAGE when
 * new_dir already holds a keystore; SU_EIO for an unreadable file or a backup version
 * or format this sealhsm cannot read. */
int ss_restore(const char *in_path, const char *new_dir, const su_pin *so_pin, OSSL_LIB_CTX *libctx,
               ss_error *e);
/* The header of a backup file: when it was made (Unix ms) and the id of the keystore
 * it came from. Unauthenticated until ss_restore has checked the file with the SO
 * PIN; SU_EINTEGRITY for a file that is not a sealhsm backup, SU_ENOTFOUND if
 * missing. */
int ss_backup_info(const char *in_path, int64_t *created_ms,
                   unsigned char store_id[SS_STORE_ID_LEN], ss_error *e);

/* ---- self-tests ------------------------------------------------------------------------- */

/* No keystore. Known-answer tests of every algorithm the store uses, fetched from
 * libctx/propq (NULL: the default context). report (may be NULL) is called once per
 * test. Returns SU_OK when all pass, else SU_EINTEGRITY naming the first failure. */
int ss_selftest(OSSL_LIB_CTX *libctx, const char *propq,
                void (*report)(const char *name, int ok, void *arg), void *arg, ss_error *e);
/* The subset a daemon client computes itself: the digests (the keystore's
 * algorithms run in sealhsmd, which runs ss_selftest when it starts). Same
 * contract as ss_selftest. */
int ss_selftest_digests(OSSL_LIB_CTX *libctx, const char *propq,
                        void (*report)(const char *name, int ok, void *arg), void *arg,
                        ss_error *e);

#ifdef __cplusplus
}
#endif
#endif
