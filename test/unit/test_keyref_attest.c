/* SPDX-License-Identifier: Apache-2.0 */
/* Key references (DER round trip, damaged input) and attestation certificates (chain,
 * fields, the sealhsm extension parsed back independently of store/attest.c). */
#include "attest.h"
#include "check.h"
#include "sealstore.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char store_id[SS_STORE_ID_LEN] = {
    0x5e, 0xa1, 0x45, 0x30, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
static const unsigned char key_id[SS_KEY_ID_LEN] = {0xc0, 0xde, 0x51, 0x67, 0x10, 0x20, 0x30, 0x40,
                                                    0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0};
#define LABEL "release-signing \xc3\xa9t\xc3\xa9 2025" /* UTF-8: "été" */

static int has_prefix(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- key references ------------------------------------------------------------------ */

static void keyinfo_init(ss_keyinfo *k, const char *label) {
    memset(k, 0, sizeof(*k));
    memcpy(k->id, key_id, sizeof(k->id));
    k->label = (char *)label;
    k->type = (ss_keytype){SS_ALG_EC, 256};
    k->origin = SS_ORIGIN_GENERATED;
    ss_policy_default(&k->policy);
}

static int encode_ref(const char *label, unsigned char **der, size_t *len) {
    ss_keyinfo k;
    keyinfo_init(&k, label);
    ss_error e = {0};
    return ss_keyref_encode(store_id, &k, der, len, &e);
}

/* Decodes; on success checks nothing, returns the pieces for the caller to compare. */
static int decode_ref(const unsigned char *der, size_t len, unsigned char *sid, unsigned char *kid,
                      char **label, ss_error *e) {
    su_error_clear(e);
    int rc = ss_keyref_decode(der, len, sid, kid, label, e);
    if (rc != SU_OK) {
        CHECK(*label == NULL);
        CHECK(has_prefix(e->msg, "key reference: "));
        CHECK_EQ_INT(rc, SU_EINTEGRITY);
        CHECK(ERR_peek_error() == 0); /* the reason is in e, not left on OpenSSL's queue */
    }
    return rc;
}

static void keyref_round_trip(void) {
    unsigned char *der = NULL;
    size_t len = 0;
    CHECK_EQ_INT(encode_ref(LABEL, &der, &len), SU_OK);
    CHECK(der != NULL && len == 2 + 3 + 18 + 18 + 2 + strlen(LABEL));
    CHECK(der != NULL && der[0] == 0x30);

    unsigned char sid[SS_STORE_ID_LEN], kid[SS_KEY_ID_LEN];
    char *label = NULL;
    ss_error e = {0};
    CHECK_EQ_INT(decode_ref(der, len, sid, kid, &label, &e), SU_OK);
    CHECK(memcmp(sid, store_id, sizeof(sid)) == 0);
    CHECK(memcmp(kid, key_id, sizeof(kid)) == 0);
    CHECK(label != NULL && strcmp(label, LABEL) == 0);
    free(label);
    OPENSSL_free(der);

    /* the longest label, whose length needs a long-form DER length */
    char longest[SS_LABEL_MAX + 2];
    memset(longest, 'L', SS_LABEL_MAX);
    longest[SS_LABEL_MAX] = '\0';
    CHECK_EQ_INT(encode_ref(longest, &der, &len), SU_OK);
    CHECK_EQ_INT(len, 301);
    label = NULL;
    CHECK_EQ_INT(decode_ref(der, len, sid, kid, &label, &e), SU_OK);
    CHECK(label != NULL && strcmp(label, longest) == 0);
    free(label);
    OPENSSL_free(der);
}

static void keyref_encode_refuses(void) {
    unsigned char *der = (unsigned char *)"x";
    size_t len = 7;
    char toolong[SS_LABEL_MAX + 2];
    memset(toolong, 'L', SS_LABEL_MAX + 1);
    toolong[SS_LABEL_MAX + 1] = '\0';
    CHECK_EQ_INT(encode_ref(toolong, &der, &len), SU_EUSAGE);
    CHECK(der == NULL && len == 0);
    CHECK_EQ_INT(encode_ref("", &der, &len), SU_EUSAGE);
    CHECK_EQ_INT(encode_ref(NULL, &der, &len), SU_EUSAGE);
}

static void keyref_truncations_and_trailing(void) {
    unsigned char *der = NULL;
    size_t len = 0;
    CHECK_EQ_INT(encode_ref(LABEL, &der, &len), SU_OK);
    unsigned char sid[SS_STORE_ID_LEN], kid[SS_KEY_ID_LEN];
    char *label = NULL;
    ss_error e = {0};
    for (size_t n = 0; n < len; n++) {
        /* a copy of exactly n bytes, so ASan sees any read past the end */
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, der, n);
        CHECK_EQ_INT(decode_ref(cut, n, sid, kid, &label, &e), SU_EINTEGRITY);
        free(cut);
    }
    CHECK_EQ_INT(decode_ref(NULL, 0, sid, kid, &label, &e), SU_EINTEGRITY);

    unsigned char *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0x00;
    CHECK_EQ_INT(decode_ref(longer, len + 1, sid, kid, &label, &e), SU_EINTEGRITY);
    CHECK(strstr(e.msg, "trailing") != NULL);
    free(longer);
    OPENSSL_free(der);
}

/* Offsets in the DER of a reference with a label shorter than 128 bytes. */
enum { OFF_SID = 7, OFF_KID = 25, OFF_LABEL = 43 };

static void keyref_one_flip(const unsigned char *der, size_t len, size_t pos, unsigned char mask) {
    unsigned char *bad = malloc(len);
    memcpy(bad, der, len);
    bad[pos] ^= mask;
    unsigned char sid[SS_STORE_ID_LEN], kid[SS_KEY_ID_LEN];
    char *label = NULL;
    ss_error e = {0};
    if (decode_ref(bad, len, sid, kid, &label, &e) == SU_OK) {
        /* only the contents of the three strings may change, and then visibly */
        int in_sid = pos >= OFF_SID && pos < OFF_SID + SS_STORE_ID_LEN;
        int in_kid = pos >= OFF_KID && pos < OFF_KID + SS_KEY_ID_LEN;
        int in_label = pos >= OFF_LABEL;
        int changed = (in_sid && memcmp(sid, store_id, sizeof(sid)) != 0) ||
                      (in_kid && memcmp(kid, key_id, sizeof(kid)) != 0) ||
                      (in_label && label != NULL && strcmp(label, LABEL) != 0);
        if (!changed) {
            fprintf(stderr, "flip at %zu (mask %02x) decoded unchanged\n", pos, mask);
            CHECK(0);
        }
        if (in_label)
            CHECK(label != NULL && strlen(label) == len - OFF_LABEL);
    }
    free(label);
    free(bad);
}

static void keyref_flips(void) {
    static const unsigned char masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
    unsigned char *der = NULL;
    size_t len = 0;
    CHECK_EQ_INT(encode_ref(LABEL, &der, &len), SU_OK);
    for (size_t pos = 0; pos < len; pos++)
        for (size_t m = 0; m < sizeof(masks); m++)
            keyref_one_flip(der, len, pos, masks[m]);
    OPENSSL_free(der);
}

/* Hand-made DER (short lengths only) to reach each refusal of the decoder. */
static size_t craft(unsigned char *out, const unsigned char *version, size_t vlen, size_t sidlen,
                    size_t kidlen, const char *label, size_t llen) {
    unsigned char body[512];
    size_t n = 0;
    body[n++] = 0x02;
    body[n++] = (unsigned char)vlen;
    memcpy(body + n, version, vlen), n += vlen;
    body[n++] = 0x04;
    body[n++] = (unsigned char)sidlen;
    memset(body + n, 0xaa, sidlen), n += sidlen;
    body[n++] = 0x04;
    body[n++] = (unsigned char)kidlen;
    memset(body + n, 0xbb, kidlen), n += kidlen;
    body[n++] = 0x0c;
    body[n++] = (unsigned char)llen;
    memcpy(body + n, label, llen), n += llen;
    out[0] = 0x30;
    out[1] = (unsigned char)n;
    memcpy(out + 2, body, n);
    return n + 2;
}

static void expect_refused(const unsigned char *der, size_t len, const char *why) {
    unsigned char sid[SS_STORE_ID_LEN], kid[SS_KEY_ID_LEN];
    char *label = NULL;
    ss_error e = {0};
    CHECK_EQ_INT(decode_ref(der, len, sid, kid, &label, &e), SU_EINTEGRITY);
    if (strstr(e.msg, why) == NULL) {
        fprintf(stderr, "expected '%s' in '%s'\n", why, e.msg);
        CHECK(0);
    }
}

static void keyref_crafted(void) {
    static const unsigned char v1[] = {1}, v2[] = {2}, v0[] = {0}, vneg[] = {0xff},
                               vlong[] = {0, 1};
    unsigned char der[600];
    unsigned char sid[SS_STORE_ID_LEN], kid[SS_KEY_ID_LEN];
    char *label = NULL;
    ss_error e = {0};

    /* the crafted form itself decodes, so each refusal below is about its one change */
    size_t n = craft(der, v1, 1, 16, 16, "ok", 2);
    CHECK_EQ_INT(decode_ref(der, n, sid, kid, &label, &e), SU_OK);
    CHECK(label != NULL && strcmp(label, "ok") == 0);
    CHECK(sid[0] == 0xaa && kid[15] == 0xbb);
    free(label);

    expect_refused(der, craft(der, v2, 1, 16, 16, "ok", 2), "version");
    expect_refused(der, craft(der, v0, 1, 16, 16, "ok", 2), "version");
    expect_refused(der, craft(der, vneg, 1, 16, 16, "ok", 2), "version");
    expect_refused(der, craft(der, vlong, 2, 16, 16, "ok", 2), "key reference");
    expect_refused(der, craft(der, v1, 1, 15, 16, "ok", 2), "keystore id");
    expect_refused(der, craft(der, v1, 1, 17, 16, "ok", 2), "keystore id");
    expect_refused(der, craft(der, v1, 1, 16, 0, "ok", 2), "key id");
    expect_refused(der, craft(der, v1, 1, 16, 32, "ok", 2), "key id");
    expect_refused(der, craft(der, v1, 1, 16, 16, "", 0), "empty label");
    expect_refused(der, craft(der, v1, 1, 16, 16, "a\0b", 3), "NUL");
    expect_refused(der, craft(der, v1, 1, 16, 16, "\xc3\x28", 2), "UTF-8");
    expect_refused(der, craft(der, v1, 1, 16, 16, "\xc0\xaf", 2), "UTF-8"); /* overlong '/' */

    /* a BER long-form length where DER needs the short form */
    n = craft(der, v1, 1, 16, 16, "ok", 2);
    unsigned char ber[80];
    memcpy(ber, der, n - 3);
    ber[1]++;
    ber[n - 3] = 0x0c, ber[n - 2] = 0x81, ber[n - 1] = 0x02, ber[n] = 'o', ber[n + 1] = 'k';
    expect_refused(ber, n + 1, "key reference");

    /* a label of SS_LABEL_MAX + 1 bytes, wrapped by hand (long-form lengths) */
    size_t big = SS_LABEL_MAX + 1, body = 3 + 18 + 18 + 4 + big, p = 0;
    unsigned char *huge = malloc(body + 4);
    huge[p++] = 0x30, huge[p++] = 0x82, huge[p++] = (unsigned char)(body >> 8),
    huge[p++] = (unsigned char)body;
    huge[p++] = 0x02, huge[p++] = 0x01, huge[p++] = 0x01;
    huge[p++] = 0x04, huge[p++] = 0x10, memset(huge + p, 1, 16), p += 16;
    huge[p++] = 0x04, huge[p++] = 0x10, memset(huge + p, 2, 16), p += 16;
    huge[p++] = 0x0c, huge[p++] = 0x82, huge[p++] = (unsigned char)(big >> 8),
    huge[p++] = (unsigned char)big;
    memset(huge + p, 'L', big), p += big;
    expect_refused(huge, p, "longer than 255");
    free(huge);
}

/* ---- attestation ------------------------------------------------------------------------ */

typedef struct fixture {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov;
    EVP_PKEY *ca_key;
    unsigned char *ca_der;
    size_t ca_len;
    X509 *ca;
    int64_t now;
} fixture;

static X509 *parse(const unsigned char *der, size_t len) {
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    CHECK(x != NULL && p == der + len);
    return x;
}

static char *cn_of(const X509_NAME *name) {
    static char buf[512];
    buf[0] = '\0';
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    const ASN1_STRING *s = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)) : NULL;
    if (s != NULL && ASN1_STRING_length(s) < (int)sizeof(buf)) {
        memcpy(buf, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        buf[ASN1_STRING_length(s)] = '\0';
    }
    return buf;
}

static int64_t at(const char *rfc3339) {
    int64_t t = 0;
    CHECK(su_parse_time(rfc3339, &t));
    return t;
}

/* Seconds from now to t. */
static int64_t secs_from(int64_t now, const ASN1_TIME *t) {
    ASN1_TIME *from = ASN1_TIME_set(NULL, (time_t)now);
    int days = 0, secs = 0;
    CHECK(ASN1_TIME_diff(&days, &secs, from, t));
    ASN1_TIME_free(from);
    return (int64_t)days * 86400 + secs;
}

/* 1 when t is exactly the RFC 3339 time want. */
static int time_is(const ASN1_TIME *t, const char *want) {
    return secs_from(at(want), t) == 0;
}

static void check_ca(const fixture *f) {
    X509 *ca = f->ca;
    char want[80], hex[2 * SS_STORE_ID_LEN + 1];
    su_hex(hex, store_id, SS_STORE_ID_LEN);
    snprintf(want, sizeof(want), "sealhsm attestation CA %s", hex);
    CHECK(strcmp(cn_of(X509_get_subject_name(ca)), want) == 0);
    CHECK_EQ_INT(X509_NAME_cmp(X509_get_subject_name(ca), X509_get_issuer_name(ca)), 0);
    CHECK_EQ_INT(X509_get_version(ca), X509_VERSION_3);
    CHECK_EQ_INT(X509_verify(ca, f->ca_key), 1);
    CHECK_EQ_INT(X509_get_signature_nid(ca), NID_ecdsa_with_SHA384);
    CHECK_EQ_INT(EVP_PKEY_get_bits(X509_get0_pubkey(ca)), 384);
    CHECK(X509_check_ca(ca) >= 1);
    CHECK_EQ_INT(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    int crit = -1;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca, NID_basic_constraints, &crit, NULL);
    CHECK(bc != NULL && bc->ca && crit == 1);
    BASIC_CONSTRAINTS_free(bc);
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca);
    CHECK(ski != NULL && ASN1_STRING_length(ski) == 20);
    CHECK_EQ_INT(secs_from(f->now, X509_get0_notBefore(ca)), -3600);
    CHECK(time_is(X509_get0_notAfter(ca), "2046-01-01T00:00:00Z"));
    const ASN1_INTEGER *serial = X509_get0_serialNumber(ca);
    CHECK(ASN1_STRING_length(serial) == 16 && !(ASN1_STRING_get0_data(serial)[0] & 0x80));
}

static void fixture_init(fixture *f) {
    memset(f, 0, sizeof(*f));
    f->libctx = OSSL_LIB_CTX_new();
    f->prov = OSSL_PROVIDER_load(f->libctx, "default");
    f->now = at("2026-01-01");
    ss_error e = {0};
    CHECK_EQ_INT(st_attest_ca_create(f->libctx, NULL, store_id, f->now, &f->ca_key, &f->ca_der,
                                     &f->ca_len, &e),
                 SU_OK);
    if (e.code != SU_OK)
        fprintf(stderr, "CA: %s\n", e.msg);
    f->ca = f->ca_der != NULL ? parse(f->ca_der, f->ca_len) : NULL;
}

static void fixture_free(fixture *f) {
    X509_free(f->ca);
    OPENSSL_free(f->ca_der);
    EVP_PKEY_free(f->ca_key);
    OSSL_PROVIDER_unload(f->prov);
    OSSL_LIB_CTX_free(f->libctx);
}

/* A throwaway key and its keyinfo, as the store would describe it. */
static EVP_PKEY *subject_key(const fixture *f, const char *type, const char *curve, ss_keyinfo *k,
                             const char *label) {
    EVP_PKEY *key = curve != NULL ? EVP_PKEY_Q_keygen(f->libctx, NULL, type, curve)
                                  : EVP_PKEY_Q_keygen(f->libctx, NULL, type);
    CHECK(key != NULL);
    keyinfo_init(k, label);
    unsigned char *spki = NULL;
    int n = i2d_PUBKEY(key, &spki);
    CHECK(n > 0);
    k->spki = spki;
    k->spki_len = (size_t)n;
    return key;
}

static int verify_chain(const fixture *f, X509 *cert, int64_t at) {
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new_ex(f->libctx, NULL);
    int ok = store != NULL && ctx != NULL && X509_STORE_add_cert(store, f->ca) &&
             X509_STORE_CTX_init(ctx, store, cert, NULL);
    if (ok) {
        X509_STORE_CTX_set_time(ctx, 0, (time_t)at);
        ok = X509_verify_cert(ctx) == 1;
        if (!ok)
            fprintf(stderr, "verify: %s\n",
                    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

typedef struct attested {
    long origin;
    int never_extractable;
    char key_type[32], env[16];
    unsigned char policy_digest[32], key_id[16];
    int ok;
} attested;

static void utf8_field(const ASN1_TYPE *t, char *out, size_t outlen, int *ok) {
    const ASN1_STRING *s = t->value.utf8string;
    if (t->type != V_ASN1_UTF8STRING || (size_t)ASN1_STRING_length(s) >= outlen) {
        *ok = 0;
        return;
    }
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
    out[ASN1_STRING_length(s)] = '\0';
}

static void octet_field(const ASN1_TYPE *t, unsigned char *out, size_t n, int *ok) {
    if (t->type != V_ASN1_OCTET_STRING || (size_t)ASN1_STRING_length(t->value.octet_string) != n)
        *ok = 0;
    else
        memcpy(out, ASN1_STRING_get0_data(t->value.octet_string), n);
}

/* Parses the extension value generically (SEQUENCE OF ANY), as a relying party would. */
static attested parse_attestation(X509 *cert) {
    attested a = {0};
    ASN1_OBJECT *oid = OBJ_txt2obj(ST_ATTEST_EXT_OID, 1);
    int idx = X509_get_ext_by_OBJ(cert, oid, -1);
    ASN1_OBJECT_free(oid);
    CHECK(idx >= 0);
    if (idx < 0)
        return a;
    X509_EXTENSION *ext = X509_get_ext(cert, idx);
    CHECK_EQ_INT(X509_EXTENSION_get_critical(ext), 0);
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
    const unsigned char *p = ASN1_STRING_get0_data(v);
    long len = ASN1_STRING_length(v);
    ASN1_SEQUENCE_ANY *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    CHECK(seq != NULL && p == ASN1_STRING_get0_data(v) + len);
    if (seq == NULL || sk_ASN1_TYPE_num(seq) != 6) {
        CHECK(0);
        sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
        return a;
    }
    /* DER: re-encoding gives the same bytes (BOOLEAN TRUE is 0xFF, nothing omitted) */
    unsigned char *again = NULL;
    int n = i2d_ASN1_SEQUENCE_ANY(seq, &again);
    CHECK(n == len && memcmp(again, ASN1_STRING_get0_data(v), (size_t)len) == 0);
    OPENSSL_free(again);

    a.ok = 1;
    const ASN1_TYPE *t = sk_ASN1_TYPE_value(seq, 0);
    if (t->type == V_ASN1_ENUMERATED)
        a.origin = ASN1_ENUMERATED_get(t->value.enumerated);
    else
        a.ok = 0;
    t = sk_ASN1_TYPE_value(seq, 1);
    if (t->type == V_ASN1_BOOLEAN)
        a.never_extractable = t->value.boolean;
    else
        a.ok = 0;
    utf8_field(sk_ASN1_TYPE_value(seq, 2), a.key_type, sizeof(a.key_type), &a.ok);
    utf8_field(sk_ASN1_TYPE_value(seq, 3), a.env, sizeof(a.env), &a.ok);
    octet_field(sk_ASN1_TYPE_value(seq, 4), a.policy_digest, 32, &a.ok);
    octet_field(sk_ASN1_TYPE_value(seq, 5), a.key_id, 16, &a.ok);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return a;
}

static X509 *issue(const fixture *f, const ss_keyinfo *k, int64_t at) {
    unsigned char *der = NULL;
    size_t len = 0;
    ss_error e = {0};
    int rc =
        st_attest_issue(f->libctx, NULL, f->ca_key, f->ca_der, f->ca_len, k, at, &der, &len, &e);
    CHECK_EQ_INT(rc, SU_OK);
    if (rc != SU_OK) {
        fprintf(stderr, "issue: %s\n", e.msg);
        return NULL;
    }
    X509 *x = parse(der, len);
    OPENSSL_free(der);
    return x;
}

/* The canonical policy digest, computed here from ss_policy_encode as defined in
 * docs/reference.md, Policy. */
static void expected_policy_digest(const ss_policy *p, unsigned char out[32]) {
    su_buf b;
    su_buf_init(&b, 0);
    CHECK_EQ_INT(ss_policy_encode(p, &b, NULL), SU_OK);
    unsigned int n = 0;
    CHECK(!b.failed && b.len > 0);
    CHECK(EVP_Digest(b.data, b.len, out, &n, EVP_sha256(), NULL) && n == 32);
    su_buf_free(&b);
}

static void check_key_cert(const fixture *f, X509 *cert, EVP_PKEY *key, const ss_keyinfo *k,
                           const char *type) {
    CHECK(strcmp(cn_of(X509_get_subject_name(cert)), k->label) == 0);
    CHECK_EQ_INT(X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(f->ca)), 0);
    CHECK_EQ_INT(X509_verify(cert, f->ca_key), 1);
    CHECK(verify_chain(f, cert, f->now));
    CHECK_EQ_INT(EVP_PKEY_eq(X509_get0_pubkey(cert), key), 1);
    CHECK_EQ_INT(X509_get_signature_nid(cert), NID_ecdsa_with_SHA384);
    CHECK_EQ_INT(X509_check_ca(cert), 0);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(cert);
    CHECK(aki != NULL && ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(f->ca)) == 0);
    CHECK(X509_get0_subject_key_id(cert) != NULL);
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    CHECK(ASN1_STRING_length(serial) == 16 && !(ASN1_STRING_get0_data(serial)[0] & 0x80));
    CHECK(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(f->ca)) != 0);
    CHECK_EQ_INT(secs_from(f->now, X509_get0_notBefore(cert)), -3600);
    CHECK(time_is(X509_get0_notAfter(cert), "2036-01-01T00:00:00Z"));

    attested a = parse_attestation(cert);
    CHECK(a.ok);
    int generated = k->origin == SS_ORIGIN_GENERATED;
    CHECK_EQ_INT(a.origin, generated ? 0 : 1);
    CHECK_EQ_INT(a.never_extractable, generated ? 0xff : 0);
    CHECK(strcmp(a.key_type, type) == 0);
    CHECK(strcmp(a.env, ss_env_name(k->policy.env)) == 0);
    unsigned char digest[32];
    expected_policy_digest(&k->policy, digest);
    CHECK(memcmp(a.policy_digest, digest, 32) == 0);
    CHECK(memcmp(a.key_id, k->id, 16) == 0);
}

static void attest_generated_and_imported(const fixture *f) {
    ss_keyinfo k;
    EVP_PKEY *key = subject_key(f, "EC", "P-256", &k, LABEL);
    k.policy.env = SS_ENV_PROD;
    k.policy.max_signatures = 1000;
    X509 *cert = issue(f, &k, f->now);
    if (cert != NULL)
        check_key_cert(f, cert, key, &k, "ec:P-256");
    X509_free(cert);

    k.origin = SS_ORIGIN_IMPORTED;
    k.policy.env = SS_ENV_TEST;
    cert = issue(f, &k, f->now);
    if (cert != NULL)
        check_key_cert(f, cert, key, &k, "ec:P-256");
    X509_free(cert);
    OPENSSL_free(k.spki);
    EVP_PKEY_free(key);

    /* EdDSA keys, and a label far beyond CN's usual 64-character bound */
    char label[SS_LABEL_MAX + 1];
    memset(label, 'k', SS_LABEL_MAX);
    label[SS_LABEL_MAX] = '\0';
    key = subject_key(f, "ED25519", NULL, &k, label);
    k.type = (ss_keytype){SS_ALG_ED25519, 255};
    cert = issue(f, &k, f->now);
    if (cert != NULL)
        check_key_cert(f, cert, key, &k, "ed25519");
    X509_free(cert);
    OPENSSL_free(k.spki);
    EVP_PKEY_free(key);
}

/* "now+10y" is ten calendar years, whatever the leap days in between. */
static void attest_calendar_years(const fixture *f) {
    static const struct {
        const char *now, *not_after;
    } cases[] = {
        {"2026-11-30T00:43:31Z", "2036-11-30T00:43:31Z"},
        {"2028-02-29T12:00:00Z", "2038-03-01T12:00:00Z"},
        {"2027-03-01T00:00:00Z", "2037-03-01T00:00:00Z"},
    };
    ss_keyinfo k;
    EVP_PKEY *key = subject_key(f, "EC", "P-256", &k, "calendar");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *cert = issue(f, &k, at(cases[i].now));
        CHECK(cert != NULL && time_is(X509_get0_notAfter(cert), cases[i].not_after));
        CHECK(cert != NULL && secs_from(at(cases[i].now), X509_get0_notBefore(cert)) == -3600);
        X509_free(cert);
    }
    OPENSSL_free(k.spki);
    EVP_PKEY_free(key);
}

static void attest_never_outlives_ca(const fixture *f) {
    ss_keyinfo k;
    EVP_PKEY *key = subject_key(f, "EC", "P-256", &k, "late");
    int64_t later = f->now + (int64_t)15 * 365 * 86400;
    X509 *cert = issue(f, &k, later);
    CHECK(cert != NULL &&
          ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(f->ca)) == 0);
    if (cert != NULL)
        CHECK(verify_chain(f, cert, later));
    X509_free(cert);
    OPENSSL_free(k.spki);
    EVP_PKEY_free(key);
}

static void attest_refusals(const fixture *f) {
    ss_keyinfo k;
    EVP_PKEY *key = subject_key(f, "EC", "P-256", &k, "refused");
    unsigned char *der = NULL;
    size_t len = 0;
    ss_error e = {0};

    unsigned char *spki = k.spki;
    k.spki = NULL;
    k.state = SS_STATE_DESTROYED;
    CHECK_EQ_INT(st_attest_issue(f->libctx, NULL, f->ca_key, f->ca_der, f->ca_len, &k, f->now, &der,
                                 &len, &e),
                 SU_EUSAGE);
    CHECK(der == NULL && strstr(e.msg, "refused") != NULL);
    k.spki = spki;

    k.spki_len--;
    CHECK_EQ_INT(st_attest_issue(f->libctx, NULL, f->ca_key, f->ca_der, f->ca_len, &k, f->now, &der,
                                 &len, &e),
                 SU_EINTEGRITY);
    CHECK(strstr(e.msg, "public key") != NULL);
    k.spki_len++;

    CHECK_EQ_INT(st_attest_issue(f->libctx, NULL, f->ca_key, f->ca_der, f->ca_len - 1, &k, f->now,
                                 &der, &len, &e),
                 SU_EINTEGRITY);
    CHECK(strstr(e.msg, "CA certificate") != NULL);

    /* a CA key that is not the certificate's */
    CHECK_EQ_INT(
        st_attest_issue(f->libctx, NULL, key, f->ca_der, f->ca_len, &k, f->now, &der, &len, &e),
        SU_EINTEGRITY);
    CHECK(der == NULL && len == 0);
    ERR_clear_error();
    OPENSSL_free(spki);
    EVP_PKEY_free(key);
}

/* Each attestation case gets its own CA in its own library context. */
static void with_ca(void (*body)(const fixture *)) {
    fixture f;
    fixture_init(&f);
    if (f.ca != NULL)
        body(&f);
    fixture_free(&f);
}

#define CA_CASE(fn)                                                                                \
    static void fn##_case(void) {                                                                  \
        with_ca(fn);                                                                               \
    }
CA_CASE(check_ca)
CA_CASE(attest_generated_and_imported)
CA_CASE(attest_calendar_years)
CA_CASE(attest_never_outlives_ca)
CA_CASE(attest_refusals)

static const check_case cases[] = {
    CHECK_CASE(keyref_round_trip, keyref_round_trip),
    CHECK_CASE(keyref_encode_refuses, keyref_encode_refuses),
    CHECK_CASE(keyref_truncations_and_trailing, keyref_truncations_and_trailing),
    CHECK_CASE(keyref_flips, keyref_flips),
    CHECK_CASE(keyref_crafted, keyref_crafted),
    CHECK_CASE(attest_ca, check_ca_case),
    CHECK_CASE(attest_generated_and_imported, attest_generated_and_imported_case),
    CHECK_CASE(attest_calendar_years, attest_calendar_years_case),
    CHECK_CASE(attest_never_outlives_ca, attest_never_outlives_ca_case),
    CHECK_CASE(attest_refusals, attest_refusals_case),
};

CHECK_MAIN(cases, NULL, NULL)
