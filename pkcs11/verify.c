/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verification with a key's public half, in the module's own library context:
 * the same mechanisms and inputs as signing (sign.c builds the operation and
 * reads the caller's data for both), no keystore and no login involved. A
 * program that checks what it just signed through the token (benchmarks, Java's
 * tests of a keystore) gets its answer here. SHA-1 and MD5 signatures do not
 * verify: they are no more trusted than they are made (docs/reference.md,
 * PKCS#11 module).
 */
#include "p11.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <string.h>

/* Under op_mu: CKR_OK when sig is a signature of tbs (a hash, or the EdDSA message). */
static CK_RV check(const p11_sign_op *op, const char *digest, const unsigned char *tbs,
                   size_t tbslen, const unsigned char *sig, size_t siglen) {
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *mctx = NULL;
    EVP_MD *md = NULL, *mgf = NULL;
    unsigned char *der = NULL;
    int ok = 0;

    if (siglen != p11_sig_len(op->alg, op->bits))
        return CKR_SIGNATURE_LEN_RANGE;
    if (digest != NULL && (strcmp(digest, "sha1") == 0 || strcmp(digest, "md5") == 0))
        return CKR_SIGNATURE_INVALID;
    if (op->alg == SC_ALG_ED25519 || op->alg == SC_ALG_ED448) {
        ok = (mctx = EVP_MD_CTX_new()) != NULL &&
             EVP_DigestVerifyInit_ex(mctx, NULL, NULL, p11_g->libctx, NULL, op->pub, NULL) == 1 &&
             EVP_DigestVerify(mctx, sig, siglen, tbs, tbslen) == 1;
        EVP_MD_CTX_free(mctx);
        return ok ? CKR_OK : CKR_SIGNATURE_INVALID;
    }
    if (op->alg == SC_ALG_EC) { /* r || s, as PKCS#11 gives ECDSA signatures */
        if ((siglen = p11_ecdsa_der(sig, siglen, &der)) == 0)
            return CKR_SIGNATURE_INVALID;
        sig = der;
    }
    ok = (pctx = EVP_PKEY_CTX_new_from_pkey(p11_g->libctx, op->pub, NULL)) != NULL &&
         EVP_PKEY_verify_init(pctx) == 1;
    if (ok && op->alg == SC_ALG_RSA) {
        ok = (md = EVP_MD_fetch(p11_g->libctx, digest, NULL)) != NULL &&
             EVP_PKEY_CTX_set_signature_md(pctx, md) == 1;
        if (ok && op->mech->padding == SC_PAD_PSS)
            ok = (mgf = EVP_MD_fetch(p11_g->libctx, op->pss_mgf, NULL)) != NULL &&
                 EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, mgf) == 1 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, op->pss_saltlen) == 1;
        else if (ok)
            ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    }
    ok = ok && EVP_PKEY_verify(pctx, sig, siglen, tbs, tbslen) == 1;
    EVP_PKEY_CTX_free(pctx);
    EVP_MD_free(md);
    EVP_MD_free(mgf);
    OPENSSL_free(der);
    return ok ? CKR_OK : CKR_SIGNATURE_INVALID;
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return p11_op_init(hSession, pMechanism, hKey, 1);
}

/* C_Verify (final 0: data is the whole input) or C_VerifyFinal (final 1, data NULL). */
static CK_RV verify_call(CK_SESSION_HANDLE hSession, CK_BYTE_PTR data, CK_ULONG len,
                         CK_BYTE_PTR sig, CK_ULONG siglen, int final) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    unsigned char hash[EVP_MAX_MD_SIZE];
    const unsigned char *tbs;
    const char *digest;
    size_t tbslen;

    if (rv != CKR_OK)
        return rv;
    pthread_mutex_lock(&s->op_mu);
    if ((rv = p11_op_ready(&s->verify, sig, data, len, final)) == CKR_OK &&
        (rv = p11_op_input(&s->verify, data, len, hash, &digest, &tbs, &tbslen)) == CKR_OK)
        rv = check(&s->verify, digest, tbs, tbslen, sig, siglen);
    p11_op_end(&s->verify, rv, 0);
    pthread_mutex_unlock(&s->op_mu);
    p11_session_put(s);
    return rv;
}

CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen) {
    return verify_call(hSession, pData, ulDataLen, pSignature, ulSignatureLen, 0);
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    return p11_op_update(hSession, pPart, ulPartLen, 1);
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen) {
    return verify_call(hSession, NULL, 0, pSignature, ulSignatureLen, 1);
}
