/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealhsm-pkcs11.so: C_GetFunctionList, C_Initialize, C_Finalize, C_GetInfo
 * and the module's one state.
 *
 * Fork: PKCS#11 says a child calls C_Initialize again. The parent's state may
 * be mid-call in another thread at fork() time, so the child never touches it:
 * it is left where it is (reachable, never freed) and the child builds its own,
 * with a library context of its own, so that the client opens the keystore
 * afresh (or, in daemon mode, connects afresh) instead of reusing the parent's.
 */
#include "p11.h"

#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

p11_module *p11_g;
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static p11_module *abandoned; /* the parent's state in a forked child */

/*
 * The library context outlives C_Finalize: OpenSSL keeps per-thread state of a
 * context (its DRBGs) that a thread releases when it exits, which may well be
 * after the application finalized the module (a thread joined at the language
 * level still runs its exit handlers). Freeing the context would leave them a
 * dangling pointer; a later C_Initialize in the same process reuses it.
 */
static OSSL_LIB_CTX *kept_libctx;
static pid_t kept_pid;

/* Under init_mu: the module's library context for this process. */
static OSSL_LIB_CTX *module_libctx(void) {
    OSSL_LIB_CTX *ctx;

    if (kept_libctx != NULL && kept_pid == getpid())
        return kept_libctx;
    /* a forked child leaves the parent's (see above) and makes its own */
    if ((ctx = OSSL_LIB_CTX_new()) == NULL || OSSL_PROVIDER_load(ctx, "default") == NULL) {
        OSSL_LIB_CTX_free(ctx);
        return NULL;
    }
    kept_libctx = ctx;
    kept_pid = getpid();
    return ctx;
}

static CK_FUNCTION_LIST p11_function_list;

void p11_log(const char *fmt, ...) {
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "sealhsm-pkcs11: %s\n", msg);
}

CK_RV p11_rv(int su) {
    switch (su) {
    case SU_OK:
        return CKR_OK;
    case SU_EPOLICY:
        return CKR_FUNCTION_REJECTED;
    case SU_EPIN:
        return CKR_PIN_INCORRECT;
    case SU_ENOPIN:
        return CKR_USER_NOT_LOGGED_IN;
    case SU_ENOTFOUND:
        return CKR_KEY_HANDLE_INVALID;
    case SU_EUSAGE:
        return CKR_ARGUMENTS_BAD;
    case SU_EIO:
        return CKR_DEVICE_ERROR;
    default:
        return CKR_GENERAL_ERROR;
    }
}

void p11_pad(CK_UTF8CHAR *dst, size_t n, const char *s) {
    size_t l = strlen(s);

    memset(dst, ' ', n);
    memcpy(dst, s, l < n ? l : n);
}

CK_RV p11_enter(void) {
    return p11_g != NULL && p11_g->pid == getpid() ? CKR_OK : CKR_CRYPTOKI_NOT_INITIALIZED;
}

static void module_free(p11_module *m) {
    p11_sessions_free(m);
    p11_token_close(m);
    p11_config_clear(&m->cfg);
    pthread_rwlock_destroy(&m->conn_lock);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static CK_RV check_init_args(const CK_C_INITIALIZE_ARGS *a) {
    int some, all;

    if (a == NULL)
        return CKR_OK;
    if (a->pReserved != NULL)
        return CKR_ARGUMENTS_BAD;
    some = a->CreateMutex != NULL || a->DestroyMutex != NULL || a->LockMutex != NULL ||
           a->UnlockMutex != NULL;
    all = a->CreateMutex != NULL && a->DestroyMutex != NULL && a->LockMutex != NULL &&
          a->UnlockMutex != NULL;
    if (some && !all)
        return CKR_ARGUMENTS_BAD;
    /* the application's own mutexes only: we lock with pthreads, which needs OS locking */
    if (all && !(a->flags & CKF_OS_LOCKING_OK))
        return CKR_CANT_LOCK;
    return CKR_OK;
}

CK_RV C_Initialize(CK_VOID_PTR pInitArgs) {
    p11_module *m;
    su_error e = {0};
    CK_RV rv = check_init_args(pInitArgs);

    if (rv != CKR_OK)
        return rv;
    pthread_mutex_lock(&init_mu);
    if (p11_g != NULL && p11_g->pid == getpid()) {
        pthread_mutex_unlock(&init_mu);
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    if (p11_g != NULL) { /* initialized by the parent before fork() */
        p11_g->next_abandoned = abandoned;
        abandoned = p11_g;
        p11_g = NULL;
    }
    if ((m = calloc(1, sizeof(*m))) == NULL) {
        pthread_mutex_unlock(&init_mu);
        return CKR_HOST_MEMORY;
    }
    m->pid = getpid();
    m->next_session = 1;
    m->next_object = 1;
    pthread_rwlock_init(&m->conn_lock, NULL);
    pthread_mutex_init(&m->mu, NULL);
    if ((m->libctx = module_libctx()) == NULL) {
        rv = CKR_HOST_MEMORY;
    } else if (p11_config_load(&m->cfg, &e) != SU_OK) {
        p11_log("%s", e.msg);
        rv = CKR_GENERAL_ERROR;
    }
    if (rv != CKR_OK) {
        module_free(m);
        pthread_mutex_unlock(&init_mu);
        return rv;
    }
    p11_token_open(m);
    p11_g = m;
    pthread_mutex_unlock(&init_mu);
    return CKR_OK;
}

CK_RV C_Finalize(CK_VOID_PTR pReserved) {
    p11_module *m;

    if (pReserved != NULL)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&init_mu);
    if (p11_enter() != CKR_OK) {
        pthread_mutex_unlock(&init_mu);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    m = p11_g;
    p11_g = NULL;
    module_free(m);
    pthread_mutex_unlock(&init_mu);
    return CKR_OK;
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo) {
    CK_RV rv = p11_enter();

    if (rv != CKR_OK)
        return rv;
    if (pInfo == NULL)
        return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof(*pInfo));
    pInfo->cryptokiVersion.major = 2;
    pInfo->cryptokiVersion.minor = 40;
    p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
    p11_pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription), "sealhsm PKCS#11 module");
    pInfo->libraryVersion.major = SEALHSM_VERSION_MAJOR;
    pInfo->libraryVersion.minor = SEALHSM_VERSION_MINOR;
    return CKR_OK;
}

/* the module's one exported symbol (exports.map) */
__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
    if (ppFunctionList == NULL)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &p11_function_list;
    return CKR_OK;
}

/* ---- the function list: every v2.40 entry point, in the header's order ---- */

static CK_FUNCTION_LIST p11_function_list = {
    .version = {2, 40},
    .C_Initialize = C_Initialize,
    .C_Finalize = C_Finalize,
    .C_GetInfo = C_GetInfo,
    .C_GetFunctionList = C_GetFunctionList,
    .C_GetSlotList = C_GetSlotList,
    .C_GetSlotInfo = C_GetSlotInfo,
    .C_GetTokenInfo = C_GetTokenInfo,
    .C_GetMechanismList = C_GetMechanismList,
    .C_GetMechanismInfo = C_GetMechanismInfo,
    .C_InitToken = C_InitToken,
    .C_InitPIN = C_InitPIN,
    .C_SetPIN = C_SetPIN,
    .C_OpenSession = C_OpenSession,
    .C_CloseSession = C_CloseSession,
    .C_CloseAllSessions = C_CloseAllSessions,
    .C_GetSessionInfo = C_GetSessionInfo,
    .C_GetOperationState = C_GetOperationState,
    .C_SetOperationState = C_SetOperationState,
    .C_Login = C_Login,
    .C_Logout = C_Logout,
    .C_CreateObject = C_CreateObject,
    .C_CopyObject = C_CopyObject,
    .C_DestroyObject = C_DestroyObject,
    .C_GetObjectSize = C_GetObjectSize,
    .C_GetAttributeValue = C_GetAttributeValue,
    .C_SetAttributeValue = C_SetAttributeValue,
    .C_FindObjectsInit = C_FindObjectsInit,
    .C_FindObjects = C_FindObjects,
    .C_FindObjectsFinal = C_FindObjectsFinal,
    .C_EncryptInit = C_EncryptInit,
    .C_Encrypt = C_Encrypt,
    .C_EncryptUpdate = C_EncryptUpdate,
    .C_EncryptFinal = C_EncryptFinal,
    .C_DecryptInit = C_DecryptInit,
    .C_Decrypt = C_Decrypt,
    .C_DecryptUpdate = C_DecryptUpdate,
    .C_DecryptFinal = C_DecryptFinal,
    .C_DigestInit = C_DigestInit,
    .C_Digest = C_Digest,
    .C_DigestUpdate = C_DigestUpdate,
    .C_DigestKey = C_DigestKey,
    .C_DigestFinal = C_DigestFinal,
    .C_SignInit = C_SignInit,
    .C_Sign = C_Sign,
    .C_SignUpdate = C_SignUpdate,
    .C_SignFinal = C_SignFinal,
    .C_SignRecoverInit = C_SignRecoverInit,
    .C_SignRecover = C_SignRecover,
    .C_VerifyInit = C_VerifyInit,
    .C_Verify = C_Verify,
    .C_VerifyUpdate = C_VerifyUpdate,
    .C_VerifyFinal = C_VerifyFinal,
    .C_VerifyRecoverInit = C_VerifyRecoverInit,
    .C_VerifyRecover = C_VerifyRecover,
    .C_DigestEncryptUpdate = C_DigestEncryptUpdate,
    .C_DecryptDigestUpdate = C_DecryptDigestUpdate,
    .C_SignEncryptUpdate = C_SignEncryptUpdate,
    .C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
    .C_GenerateKey = C_GenerateKey,
    .C_GenerateKeyPair = C_GenerateKeyPair,
    .C_WrapKey = C_WrapKey,
    .C_UnwrapKey = C_UnwrapKey,
    .C_DeriveKey = C_DeriveKey,
    .C_SeedRandom = C_SeedRandom,
    .C_GenerateRandom = C_GenerateRandom,
    .C_GetFunctionStatus = C_GetFunctionStatus,
    .C_CancelFunction = C_CancelFunction,
    .C_WaitForSlotEvent = C_WaitForSlotEvent,
};
