/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key references (docs/reference.md, Key-reference files): the DER inside a
 * "SEALHSM KEY REF" PEM block,
 *
 *   KeyRef ::= SEQUENCE { version INTEGER (1), keystoreId OCTET STRING (SIZE (16)),
 *                         keyId OCTET STRING (SIZE (16)), label UTF8String }
 *
 * It names a key and holds no secret. A reference that does not decode to exactly
 * this shape (trailing bytes, non-DER encoding, another version, wrong id sizes, an
 * empty, over-long, non-UTF-8 or NUL-carrying label) is refused with SU_EINTEGRITY:
 * it is a damaged or forged file, like any other corrupt record, whoever supplied it.
 * Bad arguments to the encoder are SU_EUSAGE.
 */
#include "sealstore.h"

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#define KEYREF_VERSION 1
#define KEYREF_MAX_DER 512 /* the largest valid reference is 301 bytes */

typedef struct SEALHSM_KEYREF_st {
    ASN1_INTEGER *version;
    ASN1_OCTET_STRING *store_id;
    ASN1_OCTET_STRING *key_id;
    ASN1_UTF8STRING *label;
} SEALHSM_KEYREF;

/* The ASN.1 template macros are beyond clang-format; the ';' ends them for it. */
/* clang-format off */
ASN1_SEQUENCE(SEALHSM_KEYREF) = {
    ASN1_SIMPLE(SEALHSM_KEYREF, version, ASN1_INTEGER),
    ASN1_SIMPLE(SEALHSM_KEYREF, store_id, ASN1_OCTET_STRING),
    ASN1_SIMPLE(SEALHSM_KEYREF, key_id, ASN1_OCTET_STRING),
    ASN1_SIMPLE(SEALHSM_KEYREF, label, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END(SEALHSM_KEYREF)

IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(SEALHSM_KEYREF)
IMPLEMENT_STATIC_ASN1_ENCODE_FUNCTIONS(SEALHSM_KEYREF);
/* clang-format on */

static bool fill(SEALHSM_KEYREF *ref, const unsigned char *store_id, const ss_keyinfo *k) {
    return ASN1_INTEGER_set_int64(ref->version, KEYREF_VERSION) &&
           ASN1_OCTET_STRING_set(ref->store_id, store_id, SS_STORE_ID_LEN) &&
           ASN1_OCTET_STRING_set(ref->key_id, k->id, SS_KEY_ID_LEN) &&
           ASN1_STRING_set(ref->label, k->label, (int)strlen(k->label));
}

int ss_keyref_encode(const unsigned char store_id[SS_STORE_ID_LEN], const ss_keyinfo *k,
                     unsigned char **der, size_t *len, ss_error *e) {
    *der = NULL;
    *len = 0;
    if (k == NULL || k->label == NULL || k->label[0] == '\0')
        return su_err(e, SU_EUSAGE, "key reference: the key has no label");
    if (strlen(k->label) > SS_LABEL_MAX)
        return su_err(e, SU_EUSAGE, "key reference: label of key %.64s... is longer than %d bytes",
                      k->label, SS_LABEL_MAX);
    SEALHSM_KEYREF *ref = SEALHSM_KEYREF_new();
    unsigned char *out = NULL;
    int n = ref != NULL && fill(ref, store_id, k) ? i2d_SEALHSM_KEYREF(ref, &out) : -1;
    SEALHSM_KEYREF_free(ref);
    if (n <= 0)
        return su_err(e, SU_EIO, "key reference: cannot encode the reference of key %s", k->label);
    *der = out;
    *len = (size_t)n;
    return SU_OK;
}

/* Accepts only the one DER encoding: d2i tolerates some BER, and a reference that
 * re-encodes differently was not written by ss_keyref_encode. */
static bool is_canonical(const SEALHSM_KEYREF *ref, const unsigned char *der, size_t len) {
    unsigned char *again = NULL;
    int n = i2d_SEALHSM_KEYREF(ref, &again);
    int ok = n > 0 && (size_t)n == len && memcmp(again, der, len) == 0;
    OPENSSL_free(again);
    return ok;
}

/* The label as a C string: valid UTF-8, 1..SS_LABEL_MAX bytes, no NUL inside. */
static const char *check_label(const ASN1_UTF8STRING *s, char **out) {
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int n = ASN1_STRING_length(s);
    if (n <= 0)
        return "empty label";
    if (n > SS_LABEL_MAX)
        return "label longer than 255 bytes";
    if (memchr(p, 0, (size_t)n) != NULL)
        return "label contains a NUL byte";
    unsigned char *utf8 = NULL;
    int m = ASN1_STRING_to_UTF8(&utf8, s); /* validates the UTF-8 on the way */
    OPENSSL_free(utf8);
    if (m != n)
        return "label is not valid UTF-8";
    if ((*out = malloc((size_t)n + 1)) == NULL)
        return "out of memory";
    memcpy(*out, p, (size_t)n);
    (*out)[n] = '\0';
    return NULL;
}

static const char *check_ref(const SEALHSM_KEYREF *ref, const unsigned char *der, size_t len) {
    int64_t version = 0;
    if (!ASN1_INTEGER_get_int64(&version, ref->version) || version != KEYREF_VERSION)
        return "unsupported version";
    if (ASN1_STRING_length(ref->store_id) != SS_STORE_ID_LEN)
        return "keystore id is not 16 bytes";
    if (ASN1_STRING_length(ref->key_id) != SS_KEY_ID_LEN)
        return "key id is not 16 bytes";
    if (!is_canonical(ref, der, len))
        return "not in DER form";
    return NULL;
}

int ss_keyref_decode(const unsigned char *der, size_t len, unsigned char store_id[SS_STORE_ID_LEN],
                     unsigned char key_id[SS_KEY_ID_LEN], char **label, ss_error *e) {
    *label = NULL;
    if (der == NULL || len == 0 || len > KEYREF_MAX_DER)
        return su_err(e, SU_EINTEGRITY, "key reference: empty or oversized (%zu bytes)", len);
    const unsigned char *p = der;
    const char *why = NULL;
    /* the reason goes into e; OpenSSL's parse errors would only linger on its queue */
    ERR_set_mark();
    SEALHSM_KEYREF *ref = d2i_SEALHSM_KEYREF(NULL, &p, (long)len);
    if (ref == NULL)
        why = "not a DER key reference";
    else if (p != der + len)
        why = "trailing bytes after the reference";
    else if ((why = check_ref(ref, der, len)) == NULL)
        why = check_label(ref->label, label);
    ERR_pop_to_mark();
    if (why == NULL) {
        memcpy(store_id, ASN1_STRING_get0_data(ref->store_id), SS_STORE_ID_LEN);
        memcpy(key_id, ASN1_STRING_get0_data(ref->key_id), SS_KEY_ID_LEN);
    }
    SEALHSM_KEYREF_free(ref);
    if (why != NULL)
        return su_err(e, SU_EINTEGRITY, "key reference: %s", why);
    return SU_OK;
}
