/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attestation certificates (docs/reference.md, Attestation certificates): the keystore's
 * self-signed P-384 CA, and per-key certificates carrying the sealhsm attestation extension.
 * Everything is built and signed in the caller's libctx, including the key-identifier hashes.
 */
#include "attest.h"

#include <limits.h>
#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CA_YEARS 20
#define KEY_YEARS 10
#define BACKDATE 3600 /* tolerate clocks a little behind the keystore's */
#define SERIAL_LEN 16
#define ATTEST_DIGEST "SHA384"

/* The extension value; see store/attest.h for its ASN.1. */
typedef struct SEALHSM_ATTESTATION_st {
    ASN1_ENUMERATED *origin;
    ASN1_BOOLEAN never_extractable;
    ASN1_UTF8STRING *key_type;
    ASN1_UTF8STRING *env;
    ASN1_OCTET_STRING *policy_digest;
    ASN1_OCTET_STRING *key_id;
} SEALHSM_ATTESTATION;

/* The ASN.1 template macros are beyond clang-format; the ';' ends them for it. */
/* clang-format off */
ASN1_SEQUENCE(SEALHSM_ATTESTATION) = {
    ASN1_SIMPLE(SEALHSM_ATTESTATION, origin, ASN1_ENUMERATED),
    ASN1_SIMPLE(SEALHSM_ATTESTATION, never_extractable, ASN1_BOOLEAN),
    ASN1_SIMPLE(SEALHSM_ATTESTATION, key_type, ASN1_UTF8STRING),
    ASN1_SIMPLE(SEALHSM_ATTESTATION, env, ASN1_UTF8STRING),
    ASN1_SIMPLE(SEALHSM_ATTESTATION, policy_digest, ASN1_OCTET_STRING),
    ASN1_SIMPLE(SEALHSM_ATTESTATION, key_id, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(SEALHSM_ATTESTATION)

IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(SEALHSM_ATTESTATION);
/* clang-format on */

/* ---- the attestation extension ---------------------------------------------------- */

static bool attestation_fill(SEALHSM_ATTESTATION *a, const ss_keyinfo *k) {
    unsigned char digest[32];
    char type[16];
    /* anything not known to be generated inside is attested as imported: never over-claim */
    int generated = k->origin == SS_ORIGIN_GENERATED;
    ss_keytype_name(k->type, type);
    a->never_extractable = generated ? 0xff : 0;
    return ss_policy_digest(&k->policy, digest, NULL) == SU_OK &&
           ASN1_ENUMERATED_set(a->origin, generated ? 0 : 1) &&
           ASN1_STRING_set(a->key_type, type, -1) &&
           ASN1_STRING_set(a->env, ss_env_name(k->policy.env), -1) &&
           ASN1_OCTET_STRING_set(a->policy_digest, digest, sizeof(digest)) &&
           ASN1_OCTET_STRING_set(a->key_id, k->id, SS_KEY_ID_LEN);
}

static bool add_attestation(X509 *x, const ss_keyinfo *k) {
    SEALHSM_ATTESTATION *a = SEALHSM_ATTESTATION_new();
    ASN1_OBJECT *oid = OBJ_txt2obj(ST_ATTEST_EXT_OID, 1);
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    unsigned char *der = NULL;
    int len = a != NULL && attestation_fill(a, k)
                  ? ASN1_item_i2d((ASN1_VALUE *)a, &der, ASN1_ITEM_rptr(SEALHSM_ATTESTATION))
                  : -1;
    int ok = len > 0 && oid != NULL && value != NULL && ASN1_OCTET_STRING_set(value, der, len) &&
             (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, value)) != NULL &&
             X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(oid);
    OPENSSL_free(der);
    SEALHSM_ATTESTATION_free(a);
    return ok;
}

/* ---- standard extensions ------------------------------------------------------------- */

static bool add_basic_constraints(X509 *x, int ca) {
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    int ok = bc != NULL;
    if (ok) {
        bc->ca = ca ? 0xff : 0;
        ok = X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) > 0;
    }
    BASIC_CONSTRAINTS_free(bc);
    return ok;
}

static bool add_ca_key_usage(X509 *x) {
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    int ok = ku != NULL && ASN1_BIT_STRING_set_bit(ku, 5, 1) /* keyCertSign */ &&
             ASN1_BIT_STRING_set_bit(ku, 6, 1) /* cRLSign */ &&
             X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) > 0;
    ASN1_BIT_STRING_free(ku);
    return ok;
}

/* RFC 7093 §2 method 1 (leftmost 160 bits of SHA-256 of subjectPublicKey) rather than
 * OpenSSL's SHA-1 default: no SHA-1 anywhere, and the hash is fetched from libctx. */
static bool add_ski(X509 *x, OSSL_LIB_CTX *libctx, const char *propq) {
    const ASN1_BIT_STRING *spk = X509_get0_pubkey_bitstr(x);
    EVP_MD *sha256 = EVP_MD_fetch(libctx, "SHA2-256", propq);
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = spk != NULL && sha256 != NULL && ski != NULL &&
             EVP_Digest(ASN1_STRING_get0_data(spk), (size_t)ASN1_STRING_length(spk), md, &mdlen,
                        sha256, NULL) &&
             ASN1_OCTET_STRING_set(ski, md, 20) &&
             X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) > 0;
    ASN1_OCTET_STRING_free(ski);
    EVP_MD_free(sha256);
    return ok;
}

static bool add_aki(X509 *x, const ASN1_OCTET_STRING *issuer_ski) {
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    int ok = akid != NULL && (akid->keyid = ASN1_OCTET_STRING_dup(issuer_ski)) != NULL &&
             X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) > 0;
    AUTHORITY_KEYID_free(akid);
    return ok;
}

/* ---- certificate skeleton, signing, output --------------------------------------------- */

static bool set_serial(X509 *x, OSSL_LIB_CTX *libctx) {
    unsigned char r[SERIAL_LEN];
    if (RAND_bytes_ex(libctx, r, sizeof(r), 0) <= 0)
        return false;
    r[0] = (r[0] & 0x7f) | 0x40; /* positive, and always the full 16 bytes */
    BIGNUM *bn = BN_bin2bn(r, sizeof(r), NULL);
    int ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

/* Labels may be up to SS_LABEL_MAX bytes, beyond X.520's 64-character bound for CN
 * that MBSTRING_UTF8 would enforce, so the UTF8String is set as is. */
static bool set_subject_cn(X509 *x, const char *cn) {
    return X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, V_ASN1_UTF8STRING,
                                      (const unsigned char *)cn, -1, -1, 0);
}

/* Calendar years, not a day count: "now+10y" ends on the same date ten years on
 * (29 February moves to 1 March). */
static bool set_after_years(ASN1_TIME *t, int64_t now, int years) {
    time_t base = (time_t)now;
    struct tm tm;
    if (gmtime_r(&base, &tm) == NULL)
        return false;
    tm.tm_year += years;
    time_t end = timegm(&tm);
    return end != (time_t)-1 && ASN1_TIME_set(t, end) != NULL;
}

static bool set_validity(X509 *x, int64_t now, int years, const ASN1_TIME *cap) {
    if (ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(now - BACKDATE)) == NULL ||
        !set_after_years(X509_getm_notAfter(x), now, years))
        return false;
    if (cap != NULL && ASN1_TIME_compare(X509_get0_notAfter(x), cap) > 0)
        return X509_set1_notAfter(x, cap);
    return true;
}

/* Version, serial, subject, validity and public key: what every certificate here shares. */
static X509 *new_cert(OSSL_LIB_CTX *libctx, const char *propq, const char *cn, EVP_PKEY *pub,
                      int64_t now, int years, const ASN1_TIME *cap) {
    X509 *x = X509_new_ex(libctx, propq);
    if (x == NULL || !X509_set_version(x, X509_VERSION_3) || !set_serial(x, libctx) ||
        !set_subject_cn(x, cn) || !set_validity(x, now, years, cap) || !X509_set_pubkey(x, pub)) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static bool sign_cert(X509 *x, EVP_PKEY *key, OSSL_LIB_CTX *libctx, const char *propq) {
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok = mctx != NULL &&
             EVP_DigestSignInit_ex(mctx, NULL, ATTEST_DIGEST, libctx, propq, key, NULL) > 0 &&
             X509_sign_ctx(x, mctx) > 0;
    EVP_MD_CTX_free(mctx);
    return ok;
}

static bool to_der(X509 *x, unsigned char **der, size_t *len) {
    unsigned char *out = NULL;
    int n = i2d_X509(x, &out);
    if (n <= 0)
        return false;
    *der = out;
    *len = (size_t)n;
    return true;
}

/* ---- the CA ---------------------------------------------------------------------------- */

static bool build_ca(OSSL_LIB_CTX *libctx, const char *propq, EVP_PKEY *key, const char *cn,
                     int64_t now, unsigned char **der, size_t *len) {
    X509 *x = new_cert(libctx, propq, cn, key, now, CA_YEARS, NULL);
    int ok = x != NULL && X509_set_issuer_name(x, X509_get_subject_name(x)) &&
             add_basic_constraints(x, 1) && add_ca_key_usage(x) && add_ski(x, libctx, propq) &&
             sign_cert(x, key, libctx, propq) && to_der(x, der, len);
    X509_free(x);
    return ok;
}

int st_attest_ca_create(OSSL_LIB_CTX *libctx, const char *propq,
                        const unsigned char store_id[SS_STORE_ID_LEN], int64_t now,
                        EVP_PKEY **ca_key, unsigned char **cert_der, size_t *cert_len,
                        ss_error *e) {
    char hex[2 * SS_STORE_ID_LEN + 1], cn[64];
    *ca_key = NULL;
    *cert_der = NULL;
    *cert_len = 0;
    su_hex(hex, store_id, SS_STORE_ID_LEN);
    snprintf(cn, sizeof(cn), "sealhsm attestation CA %s", hex);
    EVP_PKEY *key = EVP_PKEY_Q_keygen(libctx, propq, "EC", "P-384");
    if (key == NULL)
        return su_err(e, SU_EIO, "attestation CA of keystore %s: cannot generate its P-384 key",
                      hex);
    if (!build_ca(libctx, propq, key, cn, now, cert_der, cert_len)) {
        EVP_PKEY_free(key);
        return su_err(e, SU_EIO, "attestation CA of keystore %s: cannot build its certificate",
                      hex);
    }
    *ca_key = key;
    return SU_OK;
}

/* ---- key attestation --------------------------------------------------------------------- */

static X509 *parse_cert(OSSL_LIB_CTX *libctx, const char *propq, const unsigned char *der,
                        size_t len) {
    const unsigned char *p = der;
    X509 *x = X509_new_ex(libctx, propq);
    if (x == NULL || der == NULL || len == 0 || len > LONG_MAX ||
        d2i_X509(&x, &p, (long)len) == NULL || p != der + len) {
        X509_free(x); /* d2i already freed and cleared it on a parse error */
        return NULL;
    }
    return x;
}

static EVP_PKEY *parse_spki(OSSL_LIB_CTX *libctx, const char *propq, const ss_keyinfo *k) {
    const unsigned char *p = k->spki;
    if (k->spki == NULL || k->spki_len == 0 || k->spki_len > LONG_MAX)
        return NULL;
    EVP_PKEY *pub = d2i_PUBKEY_ex(NULL, &p, (long)k->spki_len, libctx, propq);
    if (pub != NULL && p != k->spki + k->spki_len) {
        EVP_PKEY_free(pub);
        return NULL;
    }
    return pub;
}

static bool build_key_cert(OSSL_LIB_CTX *libctx, const char *propq, EVP_PKEY *ca_key, X509 *ca,
                           const ASN1_OCTET_STRING *ca_ski, EVP_PKEY *pub, const ss_keyinfo *k,
                           int64_t now, unsigned char **der, size_t *len) {
    X509 *x = new_cert(libctx, propq, k->label, pub, now, KEY_YEARS, X509_get0_notAfter(ca));
    int ok = x != NULL && X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
             add_basic_constraints(x, 0) && add_ski(x, libctx, propq) && add_aki(x, ca_ski) &&
             add_attestation(x, k) && sign_cert(x, ca_key, libctx, propq) && to_der(x, der, len);
    X509_free(x);
    return ok;
}

static int check_issue_args(EVP_PKEY *ca_key, const ss_keyinfo *k, ss_error *e) {
    if (k == NULL || k->label == NULL || k->label[0] == '\0')
        return su_err(e, SU_EUSAGE, "attestation: the key has no label");
    if (k->spki == NULL)
        return su_err(e, SU_EUSAGE, "attestation of key %s: the key has no public key (%s)",
                      k->label, ss_state_name(k->state));
    if (ca_key == NULL)
        return su_err(e, SU_EUSAGE, "attestation of key %s: no attestation CA key", k->label);
    return SU_OK;
}

int st_attest_issue(OSSL_LIB_CTX *libctx, const char *propq, EVP_PKEY *ca_key,
                    const unsigned char *ca_der, size_t ca_len, const ss_keyinfo *k, int64_t now,
                    unsigned char **der, size_t *len, ss_error *e) {
    *der = NULL;
    *len = 0;
    int rc = check_issue_args(ca_key, k, e);
    if (rc != SU_OK)
        return rc;
    X509 *ca = parse_cert(libctx, propq, ca_der, ca_len);
    const ASN1_OCTET_STRING *ca_ski = ca != NULL ? X509_get0_subject_key_id(ca) : NULL;
    EVP_PKEY *pub = NULL;
    if (ca == NULL || ca_ski == NULL)
        rc = su_err(e, SU_EINTEGRITY,
                    "attestation of key %s: the attestation CA certificate is corrupt", k->label);
    else if (X509_check_private_key(ca, ca_key) != 1)
        rc = su_err(e, SU_EINTEGRITY,
                    "attestation of key %s: the attestation CA key does not match its certificate",
                    k->label);
    else if ((pub = parse_spki(libctx, propq, k)) == NULL)
        rc = su_err(e, SU_EINTEGRITY, "attestation of key %s: its stored public key is corrupt",
                    k->label);
    else if (!build_key_cert(libctx, propq, ca_key, ca, ca_ski, pub, k, now, der, len))
        rc = su_err(e, SU_EIO, "attestation of key %s: cannot build the certificate", k->label);
    EVP_PKEY_free(pub);
    X509_free(ca);
    return rc;
}
