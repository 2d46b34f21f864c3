/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attributes and templates. An object is a list of (type, bytes); matching a
 * search template and answering C_GetAttributeValue are both byte comparisons
 * and copies over that list, so no attribute has code of its own here. The
 * template comes from the application: every length it gives is checked
 * against the buffers we own, never trusted (fuzz/fuzz_p11_attr.c).
 */
#include "p11.h"

#include <stdlib.h>
#include <string.h>

bool p11_attr_add(p11_object *o, CK_ATTRIBUTE_TYPE type, const void *value, size_t len) {
    p11_attr *v = realloc(o->attrs, (o->nattrs + 1) * sizeof(*v));

    if (v == NULL)
        return false;
    o->attrs = v;
    v[o->nattrs].type = type;
    v[o->nattrs].len = len;
    v[o->nattrs].value = NULL;
    if (len > 0) {
        if ((v[o->nattrs].value = malloc(len)) == NULL)
            return false;
        memcpy(v[o->nattrs].value, value, len);
    }
    o->nattrs++;
    return true;
}

bool p11_attr_bool(p11_object *o, CK_ATTRIBUTE_TYPE type, int v) {
    CK_BBOOL b = v ? CK_TRUE : CK_FALSE;

    return p11_attr_add(o, type, &b, sizeof(b));
}

bool p11_attr_ulong(p11_object *o, CK_ATTRIBUTE_TYPE type, CK_ULONG v) {
    return p11_attr_add(o, type, &v, sizeof(v));
}

const p11_attr *p11_attr_find(const p11_object *o, CK_ATTRIBUTE_TYPE type) {
    for (size_t i = 0; i < o->nattrs; i++)
        if (o->attrs[i].type == type)
            return &o->attrs[i];
    return NULL;
}

void p11_object_free(p11_object *o) {
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->nattrs; i++)
        free(o->attrs[i].value);
    free(o->attrs);
    free(o);
}

bool p11_attr_is_sensitive(CK_ATTRIBUTE_TYPE type) {
    switch (type) {
    case CKA_VALUE:
    case CKA_PRIVATE_EXPONENT:
    case CKA_PRIME_1:
    case CKA_PRIME_2:
    case CKA_EXPONENT_1:
    case CKA_EXPONENT_2:
    case CKA_COEFFICIENT:
    case CKA_PRIME:
    case CKA_SUBPRIME:
    case CKA_BASE:
        return true;
    default:
        return false;
    }
}

bool p11_template_match(const p11_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n) {
    for (CK_ULONG i = 0; i < n; i++) {
        const p11_attr *a = p11_attr_find(o, tmpl[i].type);

        if (a == NULL || a->len != tmpl[i].ulValueLen)
            return false;
        if (a->len > 0 && (tmpl[i].pValue == NULL || memcmp(a->value, tmpl[i].pValue, a->len) != 0))
            return false;
    }
    return true;
}

CK_RV p11_attr_get(const p11_object *o, CK_ATTRIBUTE *tmpl, CK_ULONG n) {
    CK_RV rv = CKR_OK;

    for (CK_ULONG i = 0; i < n; i++) {
        const p11_attr *a = p11_attr_find(o, tmpl[i].type);

        if (a == NULL && o->cls == CKO_PRIVATE_KEY && p11_attr_is_sensitive(tmpl[i].type)) {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_SENSITIVE;
        } else if (a == NULL) {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            if (rv == CKR_OK)
                rv = CKR_ATTRIBUTE_TYPE_INVALID;
        } else if (tmpl[i].pValue == NULL) {
            tmpl[i].ulValueLen = a->len;
        } else if (tmpl[i].ulValueLen >= a->len) {
            if (a->len > 0)
                memcpy(tmpl[i].pValue, a->value, a->len);
            tmpl[i].ulValueLen = a->len;
        } else {
            tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            if (rv == CKR_OK)
                rv = CKR_BUFFER_TOO_SMALL;
        }
    }
    return rv;
}
