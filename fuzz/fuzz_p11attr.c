/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PKCS#11 module's handling of the templates applications pass in
 * (pkcs11/attr.c: C_FindObjectsInit matching, C_GetAttributeValue) over real
 * objects (pkcs11/object.c: an RSA and an EC private key, an Ed25519 public key,
 * a certificate), plus the parsers of caller-supplied signing input
 * (pkcs11/mech.c: DigestInfo, DER ECDSA signatures and back).
 *
 * Input: byte 0 picks the object; then entries of 5 bytes + value:
 *   type (2 bytes: < 0x8000 an index into the interesting types, else raw),
 *   flags (1 byte: bit 0 pValue NULL, bit 1 value copied from the object),
 *   ulValueLen (2 bytes), then ulValueLen value bytes unless copied or NULL.
 * Each pValue buffer is exactly ulValueLen bytes, as PKCS#11 requires of the
 * caller: ASan catches any write beyond what the template says it holds.
 */
#include "harness.h"
#include "p11.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static const CK_ATTRIBUTE_TYPE types[] = {CKA_CLASS,
                                          CKA_TOKEN,
                                          CKA_PRIVATE,
                                          CKA_LABEL,
                                          CKA_VALUE,
                                          CKA_CERTIFICATE_TYPE,
                                          CKA_ISSUER,
                                          CKA_SERIAL_NUMBER,
                                          CKA_KEY_TYPE,
                                          CKA_SUBJECT,
                                          CKA_ID,
                                          CKA_SENSITIVE,
                                          CKA_SIGN,
                                          CKA_MODULUS,
                                          CKA_MODULUS_BITS,
                                          CKA_PUBLIC_EXPONENT,
                                          CKA_PRIVATE_EXPONENT,
                                          CKA_PRIME_1,
                                          CKA_COEFFICIENT,
                                          CKA_EXTRACTABLE,
                                          CKA_NEVER_EXTRACTABLE,
                                          CKA_EC_PARAMS,
                                          CKA_EC_POINT,
                                          CKA_ALWAYS_AUTHENTICATE,
                                          CKA_PUBLIC_KEY_INFO,
                                          CKA_ALLOWED_MECHANISMS,
                                          CKA_START_DATE,
                                          CKA_MODIFIABLE};
#define NTYPES (sizeof(types) / sizeof(types[0]))

static p11_object *objs[4];

static sc_key *key_of(EVP_PKEY *pk, sc_alg alg, unsigned bits, const char *label) {
    sc_key *k = calloc(1, sizeof(*k));
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pk, &der);

    FZ_CHECK(k != NULL && n > 0);
    k->label = strdup(label);
    k->alg = alg;
    k->bits = bits;
    k->generated = 1;
    k->spki = malloc((size_t)n);
    memcpy(k->spki, der, (size_t)n);
    k->spki_len = (size_t)n;
    memset(k->id, 0xa5, sizeof(k->id));
    OPENSSL_free(der);
    return k;
}

static void setup(void) {
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(ctx, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(ctx, NULL, "EC", "P-256");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(ctx, NULL, "ED25519");
    sc_key *kr = key_of(rsa, SC_ALG_RSA, 2048, "rsa"), *ke = key_of(ec, SC_ALG_EC, 256, "ec");
    sc_key *kd = key_of(ed, SC_ALG_ED25519, 255, "ed");
    X509 *x = X509_new();
    unsigned char *der = NULL;
    int n;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"fuzz", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, ec);
    FZ_CHECK(X509_sign(x, ec, EVP_sha256()) > 0 && (n = i2d_X509(x, &der)) > 0);
    sc_blob cert = {der, (size_t)n};
    objs[0] = p11_key_object(ctx, kr, CKO_PRIVATE_KEY, NULL);
    objs[1] = p11_key_object(ctx, ke, CKO_PRIVATE_KEY, &cert);
    objs[2] = p11_key_object(ctx, kd, CKO_PUBLIC_KEY, NULL);
    objs[3] = p11_cert_object(ctx, ke, &cert, 0);
    for (int i = 0; i < 4; i++)
        FZ_CHECK(objs[i] != NULL);
    OPENSSL_free(der);
    X509_free(x);
    sc_key_free(kr);
    sc_key_free(ke);
    sc_key_free(kd);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    OSSL_LIB_CTX_free(ctx);
}

/* sc_key_free lives in the client library; the harness needs only this much of it */
void sc_key_free(sc_key *k) {
    if (k == NULL)
        return;
    free(k->label);
    free(k->spki);
    free(k);
}

#define MAXT 16

static void check_signing_input(const uint8_t *data, size_t size) {
    const char *digest;
    const unsigned char *v;
    size_t vlen;
    unsigned char raw[2 * 66];

    if (p11_digestinfo_parse(data, size, &digest, &v, &vlen)) {
        FZ_CHECK(v >= data && v + vlen == data + size && vlen >= 16 && vlen <= 64);
        FZ_CHECK(digest != NULL);
    }
    for (size_t f = 32; f <= 66; f += 16) { /* 32, 48, 64: r||s sizes of P-256/384/521-ish */
        unsigned char *der = NULL, back[2 * 66];
        size_t n;

        if (!p11_ecdsa_raw(data, size, f, raw))
            continue;
        /* the way back (C_Verify) gives a signature that reads as the same r||s */
        FZ_CHECK((n = p11_ecdsa_der(raw, 2 * f, &der)) > 0);
        FZ_CHECK(p11_ecdsa_raw(der, n, f, back) && memcmp(raw, back, 2 * f) == 0);
        OPENSSL_free(der);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    CK_ATTRIBUTE tmpl[MAXT];
    size_t alloc[MAXT], n = 0, pos = 1;
    const p11_object *o;

    if (objs[0] == NULL)
        setup();
    check_signing_input(data, size);
    if (size < 1)
        return 0;
    o = objs[data[0] % 4];
    while (n < MAXT && pos + 5 <= size) {
        unsigned t = (unsigned)data[pos] << 8 | data[pos + 1];
        unsigned flags = data[pos + 2];
        size_t len = (size_t)data[pos + 3] << 8 | data[pos + 4];
        const p11_attr *a;

        pos += 5;
        tmpl[n].type = t < 0x8000 ? types[t % NTYPES] : (CK_ATTRIBUTE_TYPE)t;
        a = p11_attr_find(o, tmpl[n].type);
        if ((flags & 2) && a != NULL)
            len = a->len;
        tmpl[n].ulValueLen = len;
        alloc[n] = flags & 1 ? 0 : len;
        tmpl[n].pValue = NULL;
        if (!(flags & 1)) {
            tmpl[n].pValue = malloc(len > 0 ? len : 1);
            if ((flags & 2) && a != NULL) {
                if (len > 0)
                    memcpy(tmpl[n].pValue, a->value, len);
            } else {
                size_t take = size - pos < len ? size - pos : len;
                memset(tmpl[n].pValue, 0, len);
                memcpy(tmpl[n].pValue, data + pos, take);
                pos += take;
            }
        }
        n++;
    }

    /* matching: a template made of the object's own values always matches */
    int all_copied = 1;
    for (size_t i = 0; i < n; i++) {
        const p11_attr *a = p11_attr_find(o, tmpl[i].type);
        all_copied &= a != NULL && tmpl[i].pValue != NULL && tmpl[i].ulValueLen == a->len &&
                      (a->len == 0 || memcmp(a->value, tmpl[i].pValue, a->len) == 0);
    }
    int m = p11_template_match(o, tmpl, (CK_ULONG)n);
    FZ_CHECK(m == 0 || m == 1);
    if (all_copied)
        FZ_CHECK(m == 1);

    /* reading: never more than each buffer holds, never a secret */
    CK_RV rv = p11_attr_get(o, tmpl, (CK_ULONG)n);
    for (size_t i = 0; i < n; i++) {
        const p11_attr *a = p11_attr_find(o, tmpl[i].type);

        if (a == NULL || (tmpl[i].pValue != NULL && alloc[i] < a->len))
            FZ_CHECK(tmpl[i].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        else
            FZ_CHECK(tmpl[i].ulValueLen == a->len);
        if (o->cls == CKO_PRIVATE_KEY && p11_attr_is_sensitive(tmpl[i].type) &&
            tmpl[i].type != CKA_VALUE)
            FZ_CHECK(a == NULL && rv != CKR_OK);
        free(tmpl[i].pValue);
    }
    return 0;
}
