/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signer.h: the one thing sign_bench times, behind two backends, so a key that OpenSSL
 * loads (sealhsm through its provider or the daemon, a PEM file under the default
 * provider) and a key inside a PKCS#11 module (SoftHSMv2, or sealhsm's own module) are
 * measured by the same loop, the same clock and the same histogram.
 *
 * Functions return 1 on success and 0 on failure (OpenSSL's convention, as the rest of
 * sign_bench), and print one line naming what failed to stderr.
 */
#ifndef SEALHSM_BENCH_SIGNER_H
#define SEALHSM_BENCH_SIGNER_H

#include <stddef.h>

typedef struct signer signer;
struct signer {
    const char *alg;    /* rsa-pkcs1 | rsa-pss | ecdsa | eddsa */
    const char *digest; /* ignored for eddsa */
    const unsigned char *msg;
    size_t msglen;
    /* per-thread state (an EVP_MD_CTX, a PKCS#11 session); NULL on failure */
    void *(*thread_begin)(signer *s);
    /* one signature of msg, as an application makes it: init + sign */
    int (*sign)(signer *s, void *thread, unsigned char *sig, size_t *siglen);
    void (*thread_end)(signer *s, void *thread);
    /* checks one signature with the key's public half */
    int (*verify)(signer *s, const unsigned char *sig, size_t siglen);
    void (*close)(signer *s);
    void *impl;
};

/*
 * Opens the private key labelled `label` on the token labelled `token` of the PKCS#11
 * module at path `module` (dlopen), initialised for OS locking so threads sign in
 * sessions of their own, and logs the user in with `pin`. Fills the backend functions
 * of *s (whose alg, digest and msg the caller has set). Mechanisms: CKM_SHA256_RSA_PKCS,
 * CKM_SHA256_RSA_PKCS_PSS (salt = digest length), CKM_ECDSA over a SHA-256 digest made
 * in this process (SoftHSMv2 has no CKM_ECDSA_SHA256; libp11 hashes the same way),
 * CKM_EDDSA over the message. Only --digest SHA256 is supported.
 */
int p11_signer_open(signer *s, const char *module, const char *token, const char *label,
                    const char *pin);

#endif
