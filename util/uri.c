/* SPDX-License-Identifier: Apache-2.0 */
#include "sealutil.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *su_pct_decode(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 1 < n ? su_hexdigit(s[i + 1]) : -1;
        int lo = i + 2 < n ? su_hexdigit(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* A short, printable quote of the URI for error messages (URIs can be huge). */
static void quote(char *out, size_t outlen, const char *uri) {
    size_t n = 0, max = outlen - 4;
    for (const char *p = uri; *p && n < max; p++)
        out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    if (strlen(uri) > max)
        memcpy(out + n, "...", 3), n += 3;
    out[n] = '\0';
}

static int bad(su_error *e, const char *uri, const char *why) {
    char q[80];
    quote(q, sizeof(q), uri);
    return su_err(e, SU_EUSAGE, "URI '%s': %s", q, why);
}

/* Why a URI is refused, in the words its error gives. */
static const char NO_LABEL[] = "no key label or id";
static const char LONG_LABEL[] = "label longer than 255 bytes";
static const char BAD_ESCAPE[] = "broken %-escape";
static const char DUPLICATE[] = "attribute given twice";

/* The label from its escaped form v[0..n) into *out: NULL, or why it is refused. */
static const char *take_label(const char *v, size_t n, char **out) {
    if (n == 0)
        return NO_LABEL;
    if (n > 3 * SU_URI_MAX_LABEL)
        return LONG_LABEL; /* before decoding: a label may be escaped, 3 bytes a byte */
    if ((*out = su_pct_decode(v, n)) == NULL)
        return BAD_ESCAPE;
    return (*out)[0] == '\0' ? NO_LABEL : NULL;
}

/* One attribute=value segment (key k[0..klen), value v[0..vlen)) into out: NULL, or why
 * it is refused. */
static const char *take_attr(su_uri *out, const char *k, size_t klen, const char *v, size_t vlen,
                             bool *have_type) {
    if (klen == 6 && strncmp(k, "object", 6) == 0) {
        if (out->label != NULL || out->has_id)
            return DUPLICATE;
        return take_label(v, vlen, &out->label);
    }
    if (klen == 2 && strncmp(k, "id", 2) == 0) {
        if (out->label != NULL || out->has_id)
            return DUPLICATE;
        char *hex = su_pct_decode(v, vlen);
        bool ok = hex != NULL && su_unhex(out->id, SU_KEY_ID_LEN, hex);
        free(hex);
        if (!ok)
            return "id must be 32 hex digits";
        out->has_id = 1;
        return NULL;
    }
    if (klen == 4 && strncmp(k, "type", 4) == 0) {
        if (*have_type)
            return DUPLICATE;
        *have_type = true;
        if (vlen == 7 && strncmp(v, "private", 7) == 0)
            out->type = SU_URI_PRIVATE;
        else if (vlen == 6 && strncmp(v, "public", 6) == 0)
            out->type = SU_URI_PUBLIC;
        else if (vlen == 4 && strncmp(v, "cert", 4) == 0)
            out->type = SU_URI_CERT;
        else
            return "type must be private, public or cert";
        return NULL;
    }
    if (klen == 8 && strncmp(k, "keystore", 8) == 0) {
        if (out->keystore != NULL)
            return DUPLICATE;
        if (vlen == 0 || vlen > 4096)
            return "keystore path is empty or too long";
        return (out->keystore = su_pct_decode(v, vlen)) == NULL ? BAD_ESCAPE : NULL;
    }
    return "unknown attribute (expected object, id, type or keystore)";
}

int su_uri_parse(const char *uri, su_uri *out, su_error *e) {
    memset(out, 0, sizeof(*out));
    if (uri == NULL || strncasecmp(uri, "sealhsm:", 8) != 0)
        return bad(e, uri ? uri : "", "not a sealhsm: URI");
    bool have_type = false;
    const char *why = NULL;
    for (const char *seg = uri + 8; why == NULL; seg++) {
        const char *end = strchr(seg, ';');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        const char *eq = memchr(seg, '=', len);
        if (eq != NULL)
            why = take_attr(out, seg, (size_t)(eq - seg), eq + 1, len - (size_t)(eq - seg) - 1,
                            &have_type);
        else if (seg == uri + 8) /* a bare label is only allowed as the first segment */
            why = take_label(seg, len, &out->label);
        else
            why = "expected attribute=value after ';'";
        if (end == NULL)
            break;
        seg = end;
    }
    if (why == NULL && out->label == NULL && !out->has_id)
        why = NO_LABEL;
    if (why == NULL && out->label != NULL && strlen(out->label) > SU_URI_MAX_LABEL)
        why = LONG_LABEL;
    if (why == NULL)
        return SU_OK;
    su_uri_clear(out);
    return bad(e, uri, why);
}

void su_uri_clear(su_uri *u) {
    free(u->label);
    free(u->keystore);
    memset(u, 0, sizeof(*u));
}
