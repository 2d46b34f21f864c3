/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sessions and login. Read/write sessions are allowed (ssh opens them) though
 * the token is write-protected: every write is refused anyway. The user login
 * is the application's, shared by all its sessions; a key's usage PIN is given
 * with C_Login(CKU_CONTEXT_SPECIFIC) after C_SignInit.
 */
#include "p11.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void p11_sign_op_clear(p11_sign_op *op) {
    EVP_MD_CTX_free(op->md);
    EVP_PKEY_free(op->pub);
    su_pin_free(op->context_pin);
    memset(op, 0, sizeof(*op));
}

static void session_free(p11_session *s) {
    p11_sign_op_clear(&s->sign);
    p11_sign_op_clear(&s->verify);
    free(s->found);
    pthread_mutex_destroy(&s->op_mu);
    free(s);
}

void p11_sessions_free(p11_module *m) {
    while (m->sessions != NULL) {
        p11_session *next = m->sessions->next;

        session_free(m->sessions);
        m->sessions = next;
    }
}

CK_RV p11_session_get(CK_SESSION_HANDLE h, p11_session **out) {
    CK_RV rv = p11_enter();
    p11_session *s;

    *out = NULL;
    if (rv != CKR_OK)
        return rv;
    pthread_mutex_lock(&p11_g->mu);
    for (s = p11_g->sessions; s != NULL && s->handle != h; s = s->next)
        ;
    if (s != NULL)
        s->refs++;
    pthread_mutex_unlock(&p11_g->mu);
    *out = s;
    return s != NULL ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

void p11_session_put(p11_session *s) {
    int gone;

    pthread_mutex_lock(&p11_g->mu);
    gone = --s->refs == 0 && s->closed;
    pthread_mutex_unlock(&p11_g->mu);
    if (gone)
        session_free(s);
}

/* Under mu: unlinks s; it is freed when its last user leaves. */
static void session_close_locked(p11_session *s) {
    for (p11_session **pp = &p11_g->sessions; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    s->closed = 1;
    if (s->refs == 0)
        session_free(s);
}

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                    CK_SESSION_HANDLE_PTR phSession) {
    CK_RV rv = p11_enter();
    p11_session *s;

    if (rv != CKR_OK)
        return rv;
    if (slotID != P11_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    if (phSession == NULL)
        return CKR_ARGUMENTS_BAD;
    if (!(flags & CKF_SERIAL_SESSION))
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    pthread_rwlock_rdlock(&p11_g->conn_lock);
    rv = p11_g->conn == NULL ? CKR_TOKEN_NOT_PRESENT : CKR_OK;
    pthread_rwlock_unlock(&p11_g->conn_lock);
    if (rv != CKR_OK)
        return rv;
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return CKR_HOST_MEMORY;
    pthread_mutex_init(&s->op_mu, NULL);
    s->flags = flags;
    pthread_mutex_lock(&p11_g->mu);
    s->handle = p11_g->next_session++;
    s->next = p11_g->sessions;
    p11_g->sessions = s;
    pthread_mutex_unlock(&p11_g->mu);
    *phSession = s->handle;
    return CKR_OK;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    int last;

    if (rv != CKR_OK)
        return rv;
    pthread_mutex_lock(&p11_g->mu);
    s->refs--;
    session_close_locked(s);
    last = p11_g->sessions == NULL;
    pthread_mutex_unlock(&p11_g->mu);
    /* closing the application's last session logs the user out (PKCS#11 v2.40 5.6) */
    if (last)
        p11_token_logout(p11_g);
    return CKR_OK;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID) {
    CK_RV rv = p11_enter();

    if (rv != CKR_OK)
        return rv;
    if (slotID != P11_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    pthread_mutex_lock(&p11_g->mu);
    while (p11_g->sessions != NULL)
        session_close_locked(p11_g->sessions);
    pthread_mutex_unlock(&p11_g->mu);
    return p11_token_logout(p11_g);
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    int rw, user;

    if (rv != CKR_OK)
        return rv;
    if (pInfo == NULL) {
        p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    user = p11_is_logged_in(p11_g);
    rw = (s->flags & CKF_RW_SESSION) != 0;
    memset(pInfo, 0, sizeof(*pInfo));
    pInfo->slotID = P11_SLOT_ID;
    pInfo->flags = s->flags;
    pInfo->state = rw ? (user ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION)
                      : (user ? CKS_RO_USER_FUNCTIONS : CKS_RO_PUBLIC_SESSION);
    p11_session_put(s);
    return CKR_OK;
}

/* CKU_CONTEXT_SPECIFIC: the usage PIN of the key of the signing operation in progress. */
static CK_RV context_login(p11_session *s, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
    CK_RV rv = CKR_OK;

    pthread_mutex_lock(&s->op_mu);
    if (!s->sign.active)
        rv = CKR_OPERATION_NOT_INITIALIZED;
    else if (pin == NULL && len > 0)
        rv = CKR_ARGUMENTS_BAD;
    else {
        su_pin_free(s->sign.context_pin);
        if ((s->sign.context_pin = su_pin_new(pin != NULL ? (const void *)pin : "", len)) == NULL)
            rv = CKR_HOST_MEMORY;
    }
    pthread_mutex_unlock(&s->op_mu);
    return rv;
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
              CK_ULONG ulPinLen) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    su_pin *pin = NULL;

    if (rv != CKR_OK)
        return rv;
    if (userType == CKU_CONTEXT_SPECIFIC) {
        rv = context_login(s, pPin, ulPinLen);
        p11_session_put(s);
        return rv;
    }
    p11_session_put(s);
    if (userType != CKU_USER)
        return CKR_USER_TYPE_INVALID; /* the SO works with the `sealhsm` tool */
    if (!p11_g->login_required)
        return CKR_OK; /* a PIN given anyway is ignored */
    if (p11_is_logged_in(p11_g))
        return CKR_USER_ALREADY_LOGGED_IN;
    if (pPin != NULL && (pin = su_pin_new(pPin, ulPinLen)) == NULL)
        return CKR_HOST_MEMORY;
    rv = p11_token_login(p11_g, pin);
    su_pin_free(pin);
    return rv;
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);

    if (rv != CKR_OK)
        return rv;
    p11_session_put(s);
    if (!p11_g->login_required)
        return CKR_OK;
    if (!p11_is_logged_in(p11_g))
        return CKR_USER_NOT_LOGGED_IN;
    return p11_token_logout(p11_g);
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG_PTR pulOperationStateLen) {
    CK_RV rv = p11_enter();

    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                          CK_OBJECT_HANDLE hAuthenticationKey) {
    CK_RV rv = p11_enter();

    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession) {
    CK_RV rv = p11_enter();

    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession) {
    CK_RV rv = p11_enter();

    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_PARALLEL;
}
