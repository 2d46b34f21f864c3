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

int su_uri_parse(const char *uri, su_uri *out, su_error *e) {
    memset(out, 0, sizeof(*out));
    if (uri == NULL || strncasecmp(uri, "sealhsm:", 8) != 0)
        return bad(e, uri ? uri : "", "not a sealhsm: URI");
    const char *body = uri + 8;
    int have_type = 0, first = 1;
    const char *seg = body;
    for (;;) {
        const char *end = strchr(seg, ';');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        const char *eq = memchr(seg, '=', len);
        if (eq == NULL) {
            /* a bare label is only allowed as the first segment */
            if (!first || out->label != NULL)
                goto attr_syntax;
            if (len == 0)
                goto empty_label;
            if (len > 3 * SU_URI_MAX_LABEL)
                goto long_label;
            out->label = su_pct_decode(seg, len);
            if (out->label == NULL)
                goto bad_escape;
            if (out->label[0] == '\0')
                goto empty_label;
        } else {
            size_t klen = (size_t)(eq - seg);
            const char *val = eq + 1;
            size_t vlen = len - klen - 1;
            if (klen == 6 && strncmp(seg, "object", 6) == 0) {
                if (out->label != NULL || out->has_id)
                    goto dup;
                if (vlen == 0)
                    goto empty_label;
                if (vlen > 3 * SU_URI_MAX_LABEL)
                    goto long_label;
                out->label = su_pct_decode(val, vlen);
                if (out->label == NULL)
                    goto bad_escape;
                if (out->label[0] == '\0')
                    goto empty_label;
            } else if (klen == 2 && strncmp(seg, "id", 2) == 0) {
                if (out->label != NULL || out->has_id)
                    goto dup;
                char *hex = su_pct_decode(val, vlen);
                int ok = hex != NULL && su_unhex(out->id, SU_KEY_ID_LEN, hex);
                free(hex);
                if (!ok) {
                    su_uri_clear(out);
                    return bad(e, uri, "id must be 32 hex digits");
                }
                out->has_id = 1;
            } else if (klen == 4 && strncmp(seg, "type", 4) == 0) {
                if (have_type)
                    goto dup;
                have_type = 1;
                if (vlen == 7 && strncmp(val, "private", 7) == 0)
                    out->type = SU_URI_PRIVATE;
                else if (vlen == 6 && strncmp(val, "public", 6) == 0)
                    out->type = SU_URI_PUBLIC;
                else if (vlen == 4 && strncmp(val, "cert", 4) == 0)
                    out->type = SU_URI_CERT;
                else {
                    su_uri_clear(out);
                    return bad(e, uri, "type must be private, public or cert");
                }
            } else if (klen == 8 && strncmp(seg, "keystore", 8) == 0) {
                if (out->keystore != NULL)
                    goto dup;
                if (vlen == 0 || vlen > 4096) {
                    su_uri_clear(out);
                    return bad(e, uri, "keystore path is empty or too long");
                }
                out->keystore = su_pct_decode(val, vlen);
                if (out->keystore == NULL)
                    goto bad_escape;
            } else {
                su_uri_clear(out);
                return bad(e, uri, "unknown attribute (expected object, id, type or keystore)");
            }
        }
        first = 0;
        if (end == NULL)
            break;
        seg = end + 1;
    }
    if (out->label == NULL && !out->has_id)
        goto empty_label;
    if (out->label != NULL && strlen(out->label) > SU_URI_MAX_LABEL)
        goto long_label;
    return SU_OK;

attr_syntax:
    su_uri_clear(out);
    return bad(e, uri, "expected attribute=value after ';'");
empty_label:
    su_uri_clear(out);
    return bad(e, uri, "no key label or id");
long_label:
    su_uri_clear(out);
    return bad(e, uri, "label longer than 255 bytes");
bad_escape:
    su_uri_clear(out);
    return bad(e, uri, "broken %-escape");
dup:
    su_uri_clear(out);
    return bad(e, uri, "attribute given twice");
}

void su_uri_clear(su_uri *u) {
    free(u->label);
    free(u->keystore);
    memset(u, 0, sizeof(*u));
}
