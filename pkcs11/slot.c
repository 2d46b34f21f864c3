/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One slot, holding one token per keystore (docs/reference.md, PKCS#11 module): token
 * label = the keystore label, serial = the first 16 hex digits of the keystore
 * id. Write-protected: keys are made and managed with the `sealhsm` tool.
 */
#include "p11.h"

#include <stdio.h>
#include <string.h>

static bool token_present(void) {
    int present;

    pthread_rwlock_rdlock(&p11_g->conn_lock);
    present = p11_g->conn != NULL;
    pthread_rwlock_unlock(&p11_g->conn_lock);
    return present;
}

/* The checks every slot query starts with: the module initialized, our one slot, a
 * place for the answer. */
static CK_RV slot_enter(CK_SLOT_ID slotID, const void *out) {
    CK_RV rv = p11_enter();

    if (rv != CKR_OK)
        return rv;
    if (slotID != P11_SLOT_ID)
        return CKR_SLOT_ID_INVALID;
    if (out == NULL)
        return CKR_ARGUMENTS_BAD;
    return CKR_OK;
}

/* PKCS#11's rule for lists (v2.40 section 5.2): *count receives n; CKR_OK when list is
 * NULL (a length query) or holds n items (the caller fills it), else
 * CKR_BUFFER_TOO_SMALL. */
static CK_RV list_room(const void *list, CK_ULONG_PTR count, CK_ULONG n) {
    CK_ULONG room = *count;

    *count = n;
    return list != NULL && room < n ? CKR_BUFFER_TOO_SMALL : CKR_OK;
}

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount) {
    CK_RV rv = p11_enter();
    CK_ULONG n;

    if (rv != CKR_OK)
        return rv;
    if (pulCount == NULL)
        return CKR_ARGUMENTS_BAD;
    n = tokenPresent && !token_present() ? 0 : 1;
    if ((rv = list_room(pSlotList, pulCount, n)) == CKR_OK && pSlotList != NULL && n > 0)
        pSlotList[0] = P11_SLOT_ID;
    return rv;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo) {
    CK_RV rv;
    char desc[160];

    if ((rv = slot_enter(slotID, pInfo)) != CKR_OK)
        return rv;
    memset(pInfo, 0, sizeof(*pInfo));
    if (p11_g->cfg.daemon != NULL)
        snprintf(desc, sizeof(desc), "sealhsm daemon %.100s", p11_g->cfg.daemon);
    else
        snprintf(desc, sizeof(desc), "sealhsm keystore %.100s",
                 token_present() ? p11_g->info.keystore : "(none)");
    p11_pad(pInfo->slotDescription, sizeof(pInfo->slotDescription), desc);
    p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
    pInfo->flags = token_present() ? CKF_TOKEN_PRESENT : 0;
    pInfo->hardwareVersion.major = SEALHSM_VERSION_MAJOR;
    pInfo->hardwareVersion.minor = SEALHSM_VERSION_MINOR;
    pInfo->firmwareVersion = pInfo->hardwareVersion;
    return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) {
    CK_RV rv;
    char serial[2 * SC_STORE_ID_LEN + 1];

    if ((rv = slot_enter(slotID, pInfo)) != CKR_OK)
        return rv;
    if (!token_present())
        return CKR_TOKEN_NOT_PRESENT;
    memset(pInfo, 0, sizeof(*pInfo));
    su_hex(serial, p11_g->info.store_id, SC_STORE_ID_LEN);
    serial[16] = '\0';
    p11_pad(pInfo->label, sizeof(pInfo->label), p11_g->info.label);
    p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), P11_MANUFACTURER);
    p11_pad(pInfo->model, sizeof(pInfo->model), p11_g->daemon ? "sealhsmd" : "keystore");
    p11_pad(pInfo->serialNumber, sizeof(pInfo->serialNumber), serial);
    pInfo->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_WRITE_PROTECTED |
                   (p11_g->daemon ? CKF_PROTECTED_AUTHENTICATION_PATH : CKF_LOGIN_REQUIRED);
    pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    pInfo->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    pInfo->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulMaxPinLen = 1024;
    pInfo->ulMinPinLen = 1;
    pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->hardwareVersion.major = SEALHSM_VERSION_MAJOR;
    pInfo->hardwareVersion.minor = SEALHSM_VERSION_MINOR;
    pInfo->firmwareVersion = pInfo->hardwareVersion;
    return CKR_OK;
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                         CK_ULONG_PTR pulCount) {
    CK_RV rv;
    size_t n;
    const p11_mech *all = p11_mech_all(&n);

    if ((rv = slot_enter(slotID, pulCount)) != CKR_OK)
        return rv;
    if ((rv = list_room(pMechanismList, pulCount, n)) == CKR_OK && pMechanismList != NULL)
        for (size_t i = 0; i < n; i++)
            pMechanismList[i] = all[i].type;
    return rv;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo) {
    CK_RV rv;
    const p11_mech *mech = p11_mech_find(type);

    if ((rv = slot_enter(slotID, pInfo)) != CKR_OK)
        return rv;
    if (mech == NULL)
        return CKR_MECHANISM_INVALID;
    memset(pInfo, 0, sizeof(*pInfo));
    switch (mech->alg) {
    case SC_ALG_RSA:
        pInfo->ulMinKeySize = 2048;
        pInfo->ulMaxKeySize = 4096;
        break;
    case SC_ALG_EC:
        pInfo->ulMinKeySize = 256;
        pInfo->ulMaxKeySize = 521;
        pInfo->flags = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
        break;
    default:
        pInfo->ulMinKeySize = 255;
        pInfo->ulMaxKeySize = 448;
    }
    /* the keystore signs, not this library: OpenSC's --test looks for CKF_HW */
    pInfo->flags |= CKF_SIGN | CKF_VERIFY | CKF_HW;
    return CKR_OK;
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved) {
    CK_RV rv = p11_enter();

    /* the token never comes or goes while the module is loaded */
    return rv != CKR_OK ? rv : CKR_FUNCTION_NOT_SUPPORTED;
}
