/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to provider/: signature AlgorithmIdentifiers (algid.c). */
#ifndef SEALHSM_ALGID_H
#define SEALHSM_ALGID_H

#include <openssl/evp.h>

enum {
    SEALHSM_SIGALG_RSA_PKCS1,
    SEALHSM_SIGALG_RSA_PSS,
    SEALHSM_SIGALG_ECDSA,
    SEALHSM_SIGALG_ED25519,
    SEALHSM_SIGALG_ED448
};

/* A signature scheme with everything its AlgorithmIdentifier depends on. */
typedef struct sealhsm_sigalg {
    int kind;           /* SEALHSM_SIGALG_* */
    const EVP_MD *md;   /* NULL for EdDSA */
    const EVP_MD *mgf1; /* PSS only */
    int saltlen;        /* PSS only: the actual length in bytes */
} sealhsm_sigalg;

/* DER of the AlgorithmIdentifier into a fresh OPENSSL_malloc'd *der; 0 when the
 * combination has no OID (e.g. ECDSA with an unknown digest). */
int sealhsm_algorithm_id(const sealhsm_sigalg *s, unsigned char **der, int *derlen);

#endif
