/* SPDX-License-Identifier: Apache-2.0 */
#include "sealutil.h"

#include <stdio.h>
#include <string.h>

int su_err(su_error *e, int code, const char *fmt, ...) {
    if (e == NULL)
        return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    /* one line, always: a message may quote user input */
    for (char *c = e->msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return code;
}

void su_error_clear(su_error *e) {
    if (e != NULL) {
        e->code = SU_OK;
        e->msg[0] = '\0';
    }
}

const char *su_strerror(int code) {
    switch (code) {
    case SU_OK:
        return "ok";
    case SU_EUSAGE:
        return "usage error";
    case SU_ENOTFOUND:
        return "not found";
    case SU_ENOPIN:
        return "no PIN available";
    case SU_EPIN:
        return "wrong PIN or locked";
    case SU_EPOLICY:
        return "policy denied";
    case SU_EINTEGRITY:
        return "integrity failure";
    default:
        return "I/O or internal error";
    }
}
