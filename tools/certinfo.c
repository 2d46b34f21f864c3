/* SPDX-License-Identifier: Apache-2.0 */
/* The few certificate fields `show` reports: names, validity, serial, codeSigning EKU. */
#include "cli.h"

#include <ctype.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *name_string(const X509_NAME *n) {
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL, *data;
    if (b != NULL && X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
        long len = BIO_get_mem_data(b, &data);
        out = strndup(data, (size_t)len);
    }
    BIO_free(b);
    return out;
}

static bool asn1_time(const ASN1_TIME *t, int64_t *out) {
    struct tm tm;
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

static char *serial_hex(const ASN1_INTEGER *s) {
    BIGNUM *bn = ASN1_INTEGER_to_BN(s, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    char *out = hex ? strdup(hex) : NULL;
    for (char *p = out; p && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

int cli_certinfo_parse(cli *c, const char *label, const ss_blob *der, cli_certinfo *ci) {
    memset(ci, 0, sizeof(*ci));
    const unsigned char *p = der->data;
    X509 *x = d2i_X509(NULL, &p, (long)der->len);
    if (x == NULL)
        return su_err(&c->err, SU_EINTEGRITY, "key %s: stored certificate cannot be parsed", label);
    int rc = SU_OK;
    ci->subject = name_string(X509_get_subject_name(x));
    ci->issuer = name_string(X509_get_issuer_name(x));
    ci->serial = serial_hex(X509_get0_serialNumber(x));
    if (ci->subject == NULL || ci->issuer == NULL || ci->serial == NULL ||
        !asn1_time(X509_get0_notBefore(x), &ci->not_before) ||
        !asn1_time(X509_get0_notAfter(x), &ci->not_after))
        rc = su_err(&c->err, SU_EINTEGRITY, "key %s: stored certificate has unreadable fields",
                    label);
    /* X509_get_extended_key_usage: UINT32_MAX when the extension is absent */
    uint32_t xku = X509_get_extended_key_usage(x);
    ci->has_code_signing_eku = xku != UINT32_MAX && (xku & XKU_CODE_SIGN) != 0;
    X509_free(x);
    if (rc != SU_OK)
        cli_certinfo_clear(ci);
    return rc;
}

void cli_certinfo_clear(cli_certinfo *ci) {
    free(ci->subject);
    free(ci->issuer);
    free(ci->serial);
    memset(ci, 0, sizeof(*ci));
}
