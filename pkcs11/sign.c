/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signing. The module hashes for the CKM_SHAx_ mechanisms (in one call or over
 * C_SignUpdate/C_SignFinal) in its own library context; the caller hashed for
 * CKM_RSA_PKCS (a DigestInfo), CKM_RSA_PKCS_PSS and CKM_ECDSA; CKM_EDDSA signs
 * the message itself, in one call. Every signature is one sc_sign: the
 * keystore's signing gate (state, policy, counters, audit naming this process)
 * decides, and a refusal is CKR_FUNCTION_REJECTED with the reason in the audit
 * record and on stderr.
 *
 * A length query (no buffer, or one too small) never reaches the gate: the
 * signature size is known from the key, so a signature is made only when it
 * fits, and the operation stays active for the real call.
 */
#include "p11.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

CK_RV p11_op_init(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey,
                  int verify) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    const p11_mech *mech;
    const p11_object *o;
    const p11_attr *spki;
    p11_sign_op op = {0};
    EVP_MD *md = NULL;
    CK_OBJECT_CLASS cls = CKO_DATA;
    int logged_in, found;

    if (rv != CKR_OK)
        return rv;
    if (pMechanism == NULL) {
        p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&p11_g->mu);
    logged_in = p11_g->logged_in;
    /* what the operation needs is copied: a refresh may replace the object */
    o = p11_object_get(p11_g, hKey);
    if ((found = o != NULL)) {
        cls = o->cls;
        memcpy(op.key_id, o->key_id, SC_KEY_ID_LEN);
        op.alg = o->alg;
        op.bits = o->bits;
        op.key_pin = o->key_pin;
        if (verify && (spki = p11_attr_find(o, CKA_PUBLIC_KEY_INFO)) != NULL) {
            const unsigned char *p = spki->value;

            op.pub = d2i_PUBKEY_ex(NULL, &p, (long)spki->len, p11_g->libctx, NULL);
        }
    }
    pthread_mutex_unlock(&p11_g->mu);
    mech = p11_mech_find(pMechanism->mechanism);
    if (!verify && !logged_in)
        rv = CKR_USER_NOT_LOGGED_IN;
    else if (!found || cls == CKO_CERTIFICATE)
        rv = CKR_KEY_HANDLE_INVALID;
    else if (!verify && cls != CKO_PRIVATE_KEY)
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
    else if (verify && op.pub == NULL)
        rv = CKR_GENERAL_ERROR;
    else if (mech == NULL)
        rv = CKR_MECHANISM_INVALID;
    else if (mech->alg != op.alg && !(mech->alg == SC_ALG_ED25519 && op.alg == SC_ALG_ED448))
        rv = CKR_KEY_TYPE_INCONSISTENT;
    op.mech = mech;
    if (rv == CKR_OK && mech->padding == SC_PAD_PSS) {
        const CK_RSA_PKCS_PSS_PARAMS *pp = pMechanism->pParameter;
        size_t hlen = 0;

        if (pp == NULL || pMechanism->ulParameterLen != sizeof(*pp) ||
            (op.pss_digest = p11_pss_hash(pp->hashAlg, &hlen)) == NULL ||
            (mech->digest != NULL && strcmp(op.pss_digest, mech->digest) != 0) ||
            (op.pss_mgf = p11_mgf_hash(pp->mgf)) == NULL || pp->sLen > op.bits / 8)
            rv = CKR_MECHANISM_PARAM_INVALID;
        else {
            op.pss_saltlen = (int)pp->sLen;
            op.pss_hlen = hlen;
        }
    } else if (rv == CKR_OK && mech->type == CKM_EDDSA && pMechanism->pParameter != NULL) {
        rv = CKR_MECHANISM_PARAM_INVALID; /* pure EdDSA only: no prehash, no context */
    }
    if (rv == CKR_OK && mech->digest != NULL) {
        if ((md = EVP_MD_fetch(p11_g->libctx, mech->digest, NULL)) == NULL ||
            (op.md = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex2(op.md, md, NULL))
            rv = CKR_HOST_MEMORY;
        EVP_MD_free(md);
    }
    pthread_mutex_lock(&s->op_mu);
    if (rv == CKR_OK && (verify ? s->verify : s->sign).active)
        rv = CKR_OPERATION_ACTIVE;
    if (rv == CKR_OK) {
        op.active = 1;
        if (verify)
            s->verify = op;
        else
            s->sign = op;
    }
    pthread_mutex_unlock(&s->op_mu);
    if (rv != CKR_OK)
        p11_sign_op_clear(&op);
    p11_session_put(s);
    return rv;
}

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return p11_op_init(hSession, pMechanism, hKey, 0);
}

/* The key's usage PIN, as given by C_Login(CKU_CONTEXT_SPECIFIC). */
static int context_pin(void *arg, const char *what, su_pin **out, su_error *e) {
    const p11_sign_op *op = arg;

    if (op->context_pin == NULL ||
        (*out = su_pin_new(op->context_pin->data, op->context_pin->len)) == NULL)
        return su_err(e, SU_ENOPIN, "key '%s' needs its PIN: C_Login(CKU_CONTEXT_SPECIFIC)", what);
    return SU_OK;
}

/* Under op_mu: one signature through the gate, written to out (which is large enough). */
static CK_RV gate_sign(p11_sign_op *op, const char *digest, const unsigned char *tbs, size_t tbslen,
                       CK_BYTE_PTR out, CK_ULONG_PTR outlen) {
    unsigned char sig[P11_MAX_SIG];
    size_t siglen = sizeof(sig), need = p11_sig_len(op->alg, op->bits);
    sc_sign_req req = {.digest = digest,
                       .padding = op->mech->padding,
                       .mgf1_digest = op->pss_mgf,
                       .pss_saltlen = op->pss_saltlen,
                       .tbs = tbs,
                       .tbslen = tbslen,
                       .key_pin_cb = context_pin,
                       .key_pin_arg = op};
    su_error e = {0};
    int rc;

    /* CKA_ALWAYS_AUTHENTICATE: no signature is even tried before the key's PIN is given */
    if (op->key_pin && op->context_pin == NULL)
        return CKR_USER_NOT_LOGGED_IN;
    pthread_rwlock_rdlock(&p11_g->conn_lock);
    rc = p11_g->conn == NULL ? su_err(&e, SU_EIO, "the token is gone")
                             : sc_sign(p11_g->conn, op->key_id, &req, sig, &siglen, &e);
    pthread_rwlock_unlock(&p11_g->conn_lock);
    if (rc != SU_OK) {
        p11_log("%s", e.msg);
        /* the store refuses a wrong key PIN as policy ("key-pin: wrong key PIN", audited);
         * PKCS#11 callers expect the PIN error of their context-specific login */
        if (rc == SU_EPIN || (op->key_pin && rc == SU_EPOLICY && strstr(e.msg, "key-pin: wrong")))
            return op->key_pin ? CKR_PIN_INCORRECT : CKR_USER_NOT_LOGGED_IN;
        return p11_rv(rc);
    }
    if (op->alg == SC_ALG_EC) {
        /* PKCS#11 wants r || s, the gate gives the DER ECDSA-Sig-Value */
        if (!p11_ecdsa_raw(sig, siglen, need / 2, out))
            return CKR_GENERAL_ERROR;
    } else {
        if (siglen != need)
            return CKR_GENERAL_ERROR;
        memcpy(out, sig, siglen);
    }
    *outlen = need;
    return CKR_OK;
}

CK_RV p11_op_input(p11_sign_op *op, const unsigned char *data, size_t len,
                   unsigned char hash[EVP_MAX_MD_SIZE], const char **digest,
                   const unsigned char **tbs, size_t *tbslen) {
    unsigned int hlen = 0;

    if (op->md != NULL) {
        if ((data != NULL && !EVP_DigestUpdate(op->md, data, len)) ||
            !EVP_DigestFinal_ex(op->md, hash, &hlen))
            return CKR_GENERAL_ERROR;
        *digest = op->mech->digest;
        *tbs = hash;
        *tbslen = hlen;
        return CKR_OK;
    }
    *tbs = data;
    *tbslen = len;
    switch (op->mech->type) {
    case CKM_RSA_PKCS:
        return p11_digestinfo_parse(data, len, digest, tbs, tbslen) ? CKR_OK : CKR_DATA_INVALID;
    case CKM_RSA_PKCS_PSS:
        *digest = op->pss_digest;
        return len == op->pss_hlen ? CKR_OK : CKR_DATA_LEN_RANGE;
    case CKM_ECDSA:
        return (*digest = p11_ecdsa_digest(len)) != NULL ? CKR_OK : CKR_DATA_LEN_RANGE;
    default: /* CKM_EDDSA */
        *digest = NULL;
        return CKR_OK;
    }
}

/* Under op_mu: CKR_OK when the signature fits; else the length query's answer. */
static CK_RV size_check(const p11_sign_op *op, CK_BYTE_PTR out, CK_ULONG_PTR outlen, int *query) {
    CK_ULONG need = p11_sig_len(op->alg, op->bits);

    *query = 0;
    if (out == NULL || *outlen < need) {
        *query = 1;
        *outlen = need;
        return out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
    }
    return CKR_OK;
}

CK_RV p11_op_ready(const p11_sign_op *op, const void *out, const void *data, size_t len,
                   int final) {
    if (!op->active)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (out == NULL || (data == NULL && len > 0))
        return CKR_ARGUMENTS_BAD;
    if (!final && op->updated)
        return CKR_OPERATION_ACTIVE; /* a multi-part operation ends with its Final call */
    if (final && op->md == NULL)
        return CKR_FUNCTION_NOT_SUPPORTED;
    return CKR_OK;
}

void p11_op_end(p11_sign_op *op, CK_RV rv, int query) {
    /* a single-part call refused while a multi-part one runs leaves that one running */
    if (op->active && !query && rv != CKR_OPERATION_ACTIVE)
        p11_sign_op_clear(op);
}

CK_RV p11_op_update(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, int verify) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    p11_sign_op *op;

    if (rv != CKR_OK)
        return rv;
    pthread_mutex_lock(&s->op_mu);
    op = verify ? &s->verify : &s->sign;
    if (!op->active)
        rv = CKR_OPERATION_NOT_INITIALIZED;
    else if (pPart == NULL && ulPartLen > 0)
        rv = CKR_ARGUMENTS_BAD;
    else if (op->md == NULL)
        rv = CKR_FUNCTION_NOT_SUPPORTED; /* the caller's hash, or EdDSA: single-part */
    else if (!EVP_DigestUpdate(op->md, pPart, ulPartLen))
        rv = CKR_GENERAL_ERROR;
    else
        op->updated = 1;
    if (rv != CKR_OK && op->active)
        p11_sign_op_clear(op);
    pthread_mutex_unlock(&s->op_mu);
    p11_session_put(s);
    return rv;
}

/* C_Sign (final 0: data is the whole input) or C_SignFinal (final 1, data NULL). */
static CK_RV sign_call(CK_SESSION_HANDLE hSession, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR out,
                       CK_ULONG_PTR outlen, int final) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    unsigned char hash[EVP_MAX_MD_SIZE];
    const unsigned char *tbs;
    const char *digest;
    size_t tbslen;
    int query = 0;

    if (rv != CKR_OK)
        return rv;
    pthread_mutex_lock(&s->op_mu);
    if ((rv = p11_op_ready(&s->sign, outlen, data, len, final)) == CKR_OK &&
        (rv = size_check(&s->sign, out, outlen, &query)) == CKR_OK && !query &&
        (rv = p11_op_input(&s->sign, data, len, hash, &digest, &tbs, &tbslen)) == CKR_OK)
        rv = gate_sign(&s->sign, digest, tbs, tbslen, out, outlen);
    p11_op_end(&s->sign, rv, query);
    pthread_mutex_unlock(&s->op_mu);
    p11_session_put(s);
    return rv;
}

CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
             CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
    return sign_call(hSession, pData, ulDataLen, pSignature, pulSignatureLen, 0);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    return p11_op_update(hSession, pPart, ulPartLen, 0);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                  CK_ULONG_PTR pulSignatureLen) {
    return sign_call(hSession, NULL, 0, pSignature, pulSignatureLen, 1);
}
