/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mechanisms (docs/reference.md, PKCS#11 module). The digest that policy and audit see
 * comes from the mechanism (CKM_SHA256_RSA_PKCS ...), from the DigestInfo the
 * caller built (CKM_RSA_PKCS), from the PSS parameters, or for CKM_ECDSA from
 * the hash length. SHA-1 and MD5 are named, not rejected, here: the store's
 * policy refuses them and audits the refusal like any other.
 */
#include "p11.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <string.h>

/* Hash-and-sign first: OpenSC's `pkcs11-tool --test` exercises the first mechanism
 * of the list, and CKM_RSA_PKCS would have it sign its SHA-1 DigestInfo. */
static const p11_mech mechs[] = {
    {CKM_SHA256_RSA_PKCS, SC_ALG_RSA, "sha256", SC_PAD_PKCS1},
    {CKM_SHA384_RSA_PKCS, SC_ALG_RSA, "sha384", SC_PAD_PKCS1},
    {CKM_SHA512_RSA_PKCS, SC_ALG_RSA, "sha512", SC_PAD_PKCS1},
    {CKM_RSA_PKCS, SC_ALG_RSA, NULL, SC_PAD_PKCS1},
    {CKM_RSA_PKCS_PSS, SC_ALG_RSA, NULL, SC_PAD_PSS},
    {CKM_SHA256_RSA_PKCS_PSS, SC_ALG_RSA, "sha256", SC_PAD_PSS},
    {CKM_SHA384_RSA_PKCS_PSS, SC_ALG_RSA, "sha384", SC_PAD_PSS},
    {CKM_SHA512_RSA_PKCS_PSS, SC_ALG_RSA, "sha512", SC_PAD_PSS},
    {CKM_ECDSA, SC_ALG_EC, NULL, 0},
    {CKM_ECDSA_SHA256, SC_ALG_EC, "sha256", 0},
    {CKM_ECDSA_SHA384, SC_ALG_EC, "sha384", 0},
    {CKM_ECDSA_SHA512, SC_ALG_EC, "sha512", 0},
    {CKM_EDDSA, SC_ALG_ED25519, NULL, 0},
};

#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

const p11_mech *p11_mech_find(CK_MECHANISM_TYPE type) {
    for (size_t i = 0; i < NMECHS; i++)
        if (mechs[i].type == type)
            return &mechs[i];
    return NULL;
}

const p11_mech *p11_mech_all(size_t *n) {
    *n = NMECHS;
    return mechs;
}

size_t p11_mech_for_alg(sc_alg alg, CK_MECHANISM_TYPE *out, size_t max) {
    size_t n = 0;
    sc_alg want = alg == SC_ALG_ED448 ? SC_ALG_ED25519 : alg; /* CKM_EDDSA takes both */

    for (size_t i = 0; i < NMECHS && n < max; i++)
        if (mechs[i].alg == want)
            out[n++] = mechs[i].type;
    return n;
}

const char *p11_pss_hash(CK_MECHANISM_TYPE hash, size_t *len) {
    switch (hash) {
    case CKM_SHA256:
        *len = 32;
        return "sha256";
    case CKM_SHA384:
        *len = 48;
        return "sha384";
    case CKM_SHA512:
        *len = 64;
        return "sha512";
    case CKM_SHA224:
        *len = 28;
        return "sha224";
    case CKM_SHA_1:
        *len = 20;
        return "sha1";
    default:
        return NULL;
    }
}

const char *p11_mgf_hash(CK_RSA_PKCS_MGF_TYPE mgf) {
    switch (mgf) {
    case CKG_MGF1_SHA256:
        return "sha256";
    case CKG_MGF1_SHA384:
        return "sha384";
    case CKG_MGF1_SHA512:
        return "sha512";
    case CKG_MGF1_SHA224:
        return "sha224";
    case CKG_MGF1_SHA1:
        return "sha1";
    default:
        return NULL;
    }
}

/* DER DigestInfo prefixes (RFC 8017 section 9.2 note 1, RFC 8702 for SHA-3): the
 * AlgorithmIdentifier with NULL parameters and the OCTET STRING header. */
static const struct {
    const char *digest;
    size_t len;
    unsigned char prefix[19];
} digestinfos[] = {
    {"md5",
     16,
     {0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05,
      0x00, 0x04, 0x10}},
    {"sha1",
     20,
     {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14}},
#define NIST_HASH(total, n, len)                                                                   \
    {                                                                                              \
        0x30, total, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, n,    \
            0x05, 0x00, 0x04, len                                                                  \
    }
    {"sha256", 32, NIST_HASH(0x31, 0x01, 0x20)},
    {"sha384", 48, NIST_HASH(0x41, 0x02, 0x30)},
    {"sha512", 64, NIST_HASH(0x51, 0x03, 0x40)},
    {"sha224", 28, NIST_HASH(0x2d, 0x04, 0x1c)},
    {"sha512-224", 28, NIST_HASH(0x2d, 0x05, 0x1c)},
    {"sha512-256", 32, NIST_HASH(0x31, 0x06, 0x20)},
    {"sha3-224", 28, NIST_HASH(0x2d, 0x07, 0x1c)},
    {"sha3-256", 32, NIST_HASH(0x31, 0x08, 0x20)},
    {"sha3-384", 48, NIST_HASH(0x41, 0x09, 0x30)},
    {"sha3-512", 64, NIST_HASH(0x51, 0x0a, 0x40)},
#undef NIST_HASH
};

bool p11_digestinfo_parse(const unsigned char *in, size_t len, const char **digest,
                          const unsigned char **value, size_t *vlen) {
    for (size_t i = 0; i < sizeof(digestinfos) / sizeof(digestinfos[0]); i++) {
        /* the prefix length is in its own outer SEQUENCE header: 2 + body - hash */
        size_t plen = (size_t)digestinfos[i].prefix[1] + 2 - digestinfos[i].len;

        if (len == plen + digestinfos[i].len && memcmp(in, digestinfos[i].prefix, plen) == 0) {
            *digest = digestinfos[i].digest;
            *value = in + plen;
            *vlen = digestinfos[i].len;
            return true;
        }
    }
    return false;
}

const char *p11_ecdsa_digest(size_t hashlen) {
    switch (hashlen) {
    case 32:
        return "sha256";
    case 48:
        return "sha384";
    case 64:
        return "sha512";
    default:
        return NULL;
    }
}

bool p11_ecdsa_raw(const unsigned char *der, size_t len, size_t fieldlen, unsigned char *out) {
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r, *s;
    int ok = 0;

    if (sig != NULL && p == der + len) {
        ECDSA_SIG_get0(sig, &r, &s);
        ok = BN_bn2binpad(r, out, (int)fieldlen) == (int)fieldlen &&
             BN_bn2binpad(s, out + fieldlen, (int)fieldlen) == (int)fieldlen;
    }
    ECDSA_SIG_free(sig);
    return ok;
}

size_t p11_ecdsa_der(const unsigned char *raw, size_t len, unsigned char **out) {
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL),
           *s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    int n = 0;

    *out = NULL;
    if (sig != NULL && r != NULL && s != NULL && len % 2 == 0 && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL;
        n = i2d_ECDSA_SIG(sig, out);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return n > 0 ? (size_t)n : 0;
}

size_t p11_sig_len(sc_alg alg, unsigned bits) {
    switch (alg) {
    case SC_ALG_RSA:
        return (bits + 7) / 8;
    case SC_ALG_EC:
        return 2 * ((bits + 7) / 8);
    case SC_ALG_ED25519:
        return 64;
    case SC_ALG_ED448:
        return 114;
    }
    return 0;
}
