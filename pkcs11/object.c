/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object model (docs/reference.md, PKCS#11 module): per key a private key object, a
 * public key object, and a certificate object per stored certificate, all with
 * the key's CKA_ID (its 16 id bytes) and CKA_LABEL (the issuers of a stored
 * chain: see object_new). Every object is read-only
 * and a token object. The public attributes come from the key's
 * SubjectPublicKeyInfo, parsed in the module's own library context.
 */
#include "p11.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 8410 curve identifiers: PKCS#11 3.0 CKA_EC_PARAMS of Edwards keys. */
static const unsigned char oid_ed25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
static const unsigned char oid_ed448[] = {0x06, 0x03, 0x2b, 0x65, 0x71};

/* DER OCTET STRING around v: CKA_EC_POINT. */
static bool add_octet_string(p11_object *o, CK_ATTRIBUTE_TYPE type, const unsigned char *v,
                             size_t len) {
    unsigned char buf[3 + 255];
    size_t h = 0;

    if (len > 255) /* P-521's point is 133 bytes: one length byte always does */
        return false;
    buf[h++] = 0x04;
    if (len < 128) {
        buf[h++] = (unsigned char)len;
    } else {
        buf[h++] = 0x81;
        buf[h++] = (unsigned char)len;
    }
    memcpy(buf + h, v, len);
    return p11_attr_add(o, type, buf, h + len);
}

static bool add_bn(p11_object *o, CK_ATTRIBUTE_TYPE type, const EVP_PKEY *pk, const char *name) {
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int n, ok = 0;

    if (EVP_PKEY_get_bn_param(pk, name, &bn) && (n = BN_num_bytes(bn)) <= (int)sizeof(buf) &&
        BN_bn2bin(bn, buf) == n)
        ok = p11_attr_add(o, type, buf, (size_t)n);
    BN_free(bn);
    return ok;
}

/* CKA_KEY_TYPE and the public attributes of the key's type. */
static bool add_public(p11_object *o, OSSL_LIB_CTX *libctx, const sc_key *k) {
    const unsigned char *p = k->spki;
    EVP_PKEY *pk = d2i_PUBKEY_ex(NULL, &p, (long)k->spki_len, libctx, NULL);
    unsigned char buf[256], *der = NULL;
    char group[64];
    size_t len = 0;
    int ok = pk != NULL, derlen;

    if (ok)
        ok = p11_attr_add(o, CKA_PUBLIC_KEY_INFO, k->spki, k->spki_len);
    switch (k->alg) {
    case SC_ALG_RSA:
        ok = ok && p11_attr_ulong(o, CKA_KEY_TYPE, CKK_RSA) &&
             add_bn(o, CKA_MODULUS, pk, OSSL_PKEY_PARAM_RSA_N) &&
             add_bn(o, CKA_PUBLIC_EXPONENT, pk, OSSL_PKEY_PARAM_RSA_E) &&
             p11_attr_ulong(o, CKA_MODULUS_BITS, k->bits);
        break;
    case SC_ALG_EC:
        ok = ok && p11_attr_ulong(o, CKA_KEY_TYPE, CKK_EC) &&
             EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            NULL) &&
             (derlen = i2d_ASN1_OBJECT(OBJ_nid2obj(OBJ_txt2nid(group)), &der)) > 0 &&
             p11_attr_add(o, CKA_EC_PARAMS, der, (size_t)derlen) &&
             EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf,
                                             sizeof(buf), &len) &&
             add_octet_string(o, CKA_EC_POINT, buf, len);
        break;
    case SC_ALG_ED25519:
    case SC_ALG_ED448:
        ok = ok && p11_attr_ulong(o, CKA_KEY_TYPE, CKK_EC_EDWARDS) &&
             (k->alg == SC_ALG_ED25519
                  ? p11_attr_add(o, CKA_EC_PARAMS, oid_ed25519, sizeof(oid_ed25519))
                  : p11_attr_add(o, CKA_EC_PARAMS, oid_ed448, sizeof(oid_ed448))) &&
             EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len) &&
             add_octet_string(o, CKA_EC_POINT, buf, len);
        break;
    default:
        ok = 0;
    }
    OPENSSL_free(der);
    EVP_PKEY_free(pk);
    return ok;
}

/* The DER subject of a certificate, or empty. */
static bool add_subject(p11_object *o, OSSL_LIB_CTX *libctx, const sc_blob *cert) {
    X509 *x = cert != NULL ? X509_new_ex(libctx, NULL) : NULL;
    const unsigned char *p = cert != NULL ? cert->data : NULL;
    unsigned char *der = NULL;
    int n = 0, ok;

    if (x != NULL && d2i_X509(&x, &p, (long)cert->len) != NULL)
        n = i2d_X509_NAME(X509_get_subject_name(x), &der);
    ok = n > 0 ? p11_attr_add(o, CKA_SUBJECT, der, (size_t)n) : p11_attr_add(o, CKA_SUBJECT, "", 0);
    OPENSSL_free(der);
    X509_free(x);
    return ok;
}

/* What every object of a key shares. idx > 0: an issuer certificate of the key's
 * chain, which gets CKA_LABEL "LABEL ca IDX" and CKA_ID = key id || IDX: clients that
 * pair a key with its certificate by label or id (SunPKCS11) must find exactly one,
 * the key's own; they find the issuers by subject. */
static p11_object *object_new(const sc_key *k, CK_OBJECT_CLASS cls, int is_private, unsigned idx) {
    p11_object *o = calloc(1, sizeof(*o));
    unsigned char id[SC_KEY_ID_LEN + 1];
    char label[SC_LABEL_MAX + 32];

    if (o == NULL)
        return NULL;
    memcpy(id, k->id, SC_KEY_ID_LEN);
    id[SC_KEY_ID_LEN] = (unsigned char)idx;
    snprintf(label, sizeof(label), idx > 0 ? "%s ca %u" : "%s", k->label, idx);
    o->cls = cls;
    o->is_private = is_private;
    memcpy(o->key_id, k->id, SC_KEY_ID_LEN);
    o->alg = k->alg;
    o->bits = k->bits;
    o->key_pin = k->key_pin;
    if (!p11_attr_ulong(o, CKA_CLASS, cls) || !p11_attr_bool(o, CKA_TOKEN, 1) ||
        !p11_attr_bool(o, CKA_PRIVATE, is_private) || !p11_attr_bool(o, CKA_MODIFIABLE, 0) ||
        !p11_attr_bool(o, CKA_COPYABLE, 0) || !p11_attr_bool(o, CKA_DESTROYABLE, 0) ||
        !p11_attr_add(o, CKA_LABEL, label, strlen(label)) ||
        !p11_attr_add(o, CKA_ID, id, idx > 0 ? sizeof(id) : SC_KEY_ID_LEN)) {
        p11_object_free(o);
        return NULL;
    }
    return o;
}

p11_object *p11_key_object(OSSL_LIB_CTX *libctx, const sc_key *k, CK_OBJECT_CLASS cls,
                           const sc_blob *leaf) {
    int priv = cls == CKO_PRIVATE_KEY, ok;
    CK_MECHANISM_TYPE mechs[16];
    size_t nm = p11_mech_for_alg(k->alg, mechs, 16);
    p11_object *o = object_new(k, cls, priv, 0);

    if (o == NULL)
        return NULL;
    ok = add_public(o, libctx, k) && add_subject(o, libctx, leaf) &&
         p11_attr_add(o, CKA_START_DATE, "", 0) && p11_attr_add(o, CKA_END_DATE, "", 0) &&
         p11_attr_bool(o, CKA_DERIVE, 0) && p11_attr_bool(o, CKA_LOCAL, k->generated) &&
         p11_attr_ulong(o, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION) &&
         p11_attr_add(o, CKA_ALLOWED_MECHANISMS, mechs, nm * sizeof(mechs[0]));
    if (ok && priv)
        ok = p11_attr_bool(o, CKA_SENSITIVE, 1) && p11_attr_bool(o, CKA_DECRYPT, 0) &&
             p11_attr_bool(o, CKA_SIGN, 1) && p11_attr_bool(o, CKA_SIGN_RECOVER, 0) &&
             p11_attr_bool(o, CKA_UNWRAP, 0) && p11_attr_bool(o, CKA_EXTRACTABLE, 0) &&
             p11_attr_bool(o, CKA_ALWAYS_SENSITIVE, 1) &&
             p11_attr_bool(o, CKA_NEVER_EXTRACTABLE, k->generated) &&
             p11_attr_bool(o, CKA_WRAP_WITH_TRUSTED, 0) &&
             p11_attr_bool(o, CKA_ALWAYS_AUTHENTICATE, k->key_pin);
    else if (ok)
        ok = p11_attr_bool(o, CKA_ENCRYPT, 0) && p11_attr_bool(o, CKA_VERIFY, 1) &&
             p11_attr_bool(o, CKA_VERIFY_RECOVER, 0) && p11_attr_bool(o, CKA_WRAP, 0) &&
             p11_attr_bool(o, CKA_TRUSTED, 0);
    if (!ok) {
        p11_object_free(o);
        return NULL;
    }
    return o;
}

p11_object *p11_cert_object(OSSL_LIB_CTX *libctx, const sc_key *k, const sc_blob *cert,
                            unsigned idx) {
    X509 *x = X509_new_ex(libctx, NULL);
    const unsigned char *p = cert->data;
    unsigned char *subj = NULL, *iss = NULL, *serial = NULL;
    int ns, ni, nr, ok = 0;
    p11_object *o = NULL;

    if (x == NULL || d2i_X509(&x, &p, (long)cert->len) == NULL || p != cert->data + cert->len ||
        (ns = i2d_X509_NAME(X509_get_subject_name(x), &subj)) <= 0 ||
        (ni = i2d_X509_NAME(X509_get_issuer_name(x), &iss)) <= 0 ||
        (nr = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &serial)) <= 0 ||
        (o = object_new(k, CKO_CERTIFICATE, 0, idx)) == NULL || idx > 255)
        goto done;
    o->idx = idx;
    /* the key's own certificate is a user certificate, the rest of the chain authorities */
    ok = p11_attr_ulong(o, CKA_CERTIFICATE_TYPE, CKC_X_509) && p11_attr_bool(o, CKA_TRUSTED, 0) &&
         p11_attr_ulong(o, CKA_CERTIFICATE_CATEGORY, idx == 0 ? 1 : 2) &&
         p11_attr_add(o, CKA_VALUE, cert->data, cert->len) &&
         p11_attr_add(o, CKA_SUBJECT, subj, (size_t)ns) &&
         p11_attr_add(o, CKA_ISSUER, iss, (size_t)ni) &&
         p11_attr_add(o, CKA_SERIAL_NUMBER, serial, (size_t)nr) &&
         p11_attr_add(o, CKA_START_DATE, "", 0) && p11_attr_add(o, CKA_END_DATE, "", 0) &&
         p11_attr_add(o, CKA_URL, "", 0) && p11_attr_ulong(o, CKA_JAVA_MIDP_SECURITY_DOMAIN, 0);

done:
    if (!ok) {
        p11_object_free(o);
        o = NULL;
    }
    OPENSSL_free(subj);
    OPENSSL_free(iss);
    OPENSSL_free(serial);
    X509_free(x);
    return o;
}
