/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Free text in key=value lines (the syslog copy of the audit log and `audit export
 * --format text`): every such value is written double-quoted with its quotes,
 * backslashes, control and non-ASCII bytes escaped, so a program name like
 * `x outcome=ok` or a reason holding quotes and newlines stays one value on one
 * line and a key=value parser reads exactly the real fields (docs/security.md,
 * "Audit lines").
 */
#include "sealutil.h"

#include <stdio.h>
#include <string.h>

/* The escaped form of one byte into e (at most 4 bytes + NUL); its length. */
static size_t escape_byte(unsigned char c, char e[5]) {
    switch (c) {
    case '"':
        return (size_t)snprintf(e, 5, "\\\"");
    case '\\':
        return (size_t)snprintf(e, 5, "\\\\");
    case '\n':
        return (size_t)snprintf(e, 5, "\\n");
    case '\r':
        return (size_t)snprintf(e, 5, "\\r");
    case '\t':
        return (size_t)snprintf(e, 5, "\\t");
    default:
        if (c < 0x20 || c >= 0x7f)
            return (size_t)snprintf(e, 5, "\\x%02x", c);
        e[0] = (char)c;
        e[1] = '\0';
        return 1;
    }
}

bool su_quote(char *out, size_t outlen, const char *v) {
    static const char cut[] = "...\"";
    if (outlen < sizeof(cut) + 1)
        return false;
    size_t n = 0;
    out[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
        char e[5];
        size_t el = escape_byte(*p, e);
        /* room for this escape and, after it, "..." + quote + NUL if more must be cut */
        if (n + el + sizeof(cut) > outlen) {
            memcpy(out + n, cut, sizeof(cut));
            return false;
        }
        memcpy(out + n, e, el);
        n += el;
    }
    out[n++] = '"';
    out[n] = '\0';
    return true;
}

size_t su_quote_size(const char *v) {
    /* opening quote, 4 per byte, and the room kept for a cut ("..." quote NUL) */
    return 1 + 4 * (v ? strlen(v) : 0) + 5;
}
