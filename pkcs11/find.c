/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Object search. C_FindObjectsInit reloads the object table from the keystore
 * (keys made or certificates imported since are found) and takes a snapshot of
 * the matching handles; C_FindObjects hands them out.
 */
#include "p11.h"

#include <stdlib.h>

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    CK_OBJECT_HANDLE *found = NULL;
    size_t n = 0;

    if (rv != CKR_OK)
        return rv;
    if (pTemplate == NULL && ulCount > 0) {
        p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&s->op_mu);
    if (s->finding) {
        pthread_mutex_unlock(&s->op_mu);
        p11_session_put(s);
        return CKR_OPERATION_ACTIVE;
    }
    pthread_mutex_unlock(&s->op_mu);
    rv = p11_token_refresh(p11_g);
    if (rv == CKR_OK) {
        pthread_mutex_lock(&p11_g->mu);
        if (p11_g->nobjs > 0 && (found = calloc(p11_g->nobjs, sizeof(*found))) == NULL)
            rv = CKR_HOST_MEMORY;
        for (size_t i = 0; rv == CKR_OK && i < p11_g->nobjs; i++) {
            const p11_object *o = p11_g->objs[i];

            if ((!o->is_private || p11_g->logged_in) && p11_template_match(o, pTemplate, ulCount))
                found[n++] = o->handle;
        }
        pthread_mutex_unlock(&p11_g->mu);
    }
    if (rv == CKR_OK) {
        pthread_mutex_lock(&s->op_mu);
        free(s->found);
        s->found = found;
        s->nfound = n;
        s->pos = 0;
        s->finding = 1;
        pthread_mutex_unlock(&s->op_mu);
    } else {
        free(found);
    }
    p11_session_put(s);
    return rv;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                    CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    CK_ULONG n = 0;

    if (rv != CKR_OK)
        return rv;
    if (phObject == NULL || pulObjectCount == NULL) {
        p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    pthread_mutex_lock(&s->op_mu);
    if (!s->finding)
        rv = CKR_OPERATION_NOT_INITIALIZED;
    while (rv == CKR_OK && n < ulMaxObjectCount && s->pos < s->nfound)
        phObject[n++] = s->found[s->pos++];
    pthread_mutex_unlock(&s->op_mu);
    *pulObjectCount = n;
    p11_session_put(s);
    return rv;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);

    if (rv != CKR_OK)
        return rv;
    pthread_mutex_lock(&s->op_mu);
    if (!s->finding)
        rv = CKR_OPERATION_NOT_INITIALIZED;
    free(s->found);
    s->found = NULL;
    s->nfound = s->pos = 0;
    s->finding = 0;
    pthread_mutex_unlock(&s->op_mu);
    p11_session_put(s);
    return rv;
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    const p11_object *o;

    if (rv != CKR_OK)
        return rv;
    p11_session_put(s);
    if (pTemplate == NULL && ulCount > 0)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&p11_g->mu);
    o = p11_object_get(p11_g, hObject);
    rv = o == NULL ? CKR_OBJECT_HANDLE_INVALID : p11_attr_get(o, pTemplate, ulCount);
    pthread_mutex_unlock(&p11_g->mu);
    return rv;
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize) {
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    const p11_object *o;

    if (rv != CKR_OK)
        return rv;
    p11_session_put(s);
    if (pulSize == NULL)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&p11_g->mu);
    if ((o = p11_object_get(p11_g, hObject)) == NULL) {
        rv = CKR_OBJECT_HANDLE_INVALID;
    } else {
        *pulSize = 0;
        for (size_t i = 0; i < o->nattrs; i++)
            *pulSize += o->attrs[i].len;
    }
    pthread_mutex_unlock(&p11_g->mu);
    return rv;
}
