/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to store/: building the attestation CA and key attestation certificates. */
#ifndef SEALSTORE_ATTEST_H
#define SEALSTORE_ATTEST_H

#include "sealstore.h"

#include <openssl/evp.h>

/* Dotted OID of the sealhsm key-attestation extension
 * (docs/reference.md, Attestation certificates). */
#define ST_ATTEST_EXT_OID "2.25.46257168805481854645121500197199491533.1"

/*
 * Makes the keystore's attestation CA at init: a fresh EC P-384 key from the
 * DRBG of libctx and a self-signed CA certificate (subject CN "sealhsm attestation
 * CA <store id hex>", basicConstraints CA:TRUE critical, keyUsage keyCertSign|cRLSign,
 * SKI, validity now-1h .. now+20y). Returns the key (caller frees) and the cert DER
 * (caller OPENSSL_free's).
 */
int st_attest_ca_create(OSSL_LIB_CTX *libctx, const char *propq,
                        const unsigned char store_id[SS_STORE_ID_LEN], int64_t now,
                        EVP_PKEY **ca_key, unsigned char **cert_der, size_t *cert_len, ss_error *e);

/*
 * Issues the attestation certificate of key k (k->spki is its public key): subject
 * CN = k->label, issuer = the CA's subject, serial random 16 bytes, validity
 * now-1h .. now+10y (never beyond the CA), AKI/SKI, basicConstraints CA:FALSE, and
 * the non-critical extension ST_ATTEST_EXT_OID whose value is the DER of
 *   SEQUENCE { origin ENUMERATED { generated(0), imported(1) }, neverExtractable BOOLEAN,
 *              keyType UTF8String (--type spelling), env UTF8String,
 *              policyDigest OCTET STRING (ss_policy_digest), keyId OCTET STRING }.
 * neverExtractable is TRUE for generated keys and FALSE for imported ones.
 * Signed with ca_key using SHA-384. Returns the DER (caller OPENSSL_free's).
 */
int st_attest_issue(OSSL_LIB_CTX *libctx, const char *propq, EVP_PKEY *ca_key,
                    const unsigned char *ca_der, size_t ca_len, const ss_keyinfo *k, int64_t now,
                    unsigned char **der, size_t *len, ss_error *e);

#endif
