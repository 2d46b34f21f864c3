/* SPDX-License-Identifier: Apache-2.0 */
/* su_quote (util/quote.c): free text becomes one well-formed quoted token. */
#include "check.h"
#include "sealutil.h"

#include <stdlib.h>
#include <string.h>

static int quoted_is(const char *in, const char *want) {
    size_t n = su_quote_size(in);
    char *q = malloc(n);
    int ok = q != NULL && su_quote(q, n, in) == 1 && strcmp(q, want) == 0;
    if (!ok)
        fprintf(stderr, "su_quote(%s) = %s, want %s\n", in ? in : "NULL", q ? q : "?", want);
    free(q);
    return ok;
}

int main(void) {
    CHECK(quoted_is("openssl", "\"openssl\""));
    CHECK(quoted_is(NULL, "\"\""));
    CHECK(quoted_is("x outcome=ok", "\"x outcome=ok\""));
    CHECK(quoted_is("a\"b\\c", "\"a\\\"b\\\\c\""));
    CHECK(quoted_is("l1\nl2\r\t", "\"l1\\nl2\\r\\t\""));
    CHECK(quoted_is("\x01\x7f\xc3\xa9", "\"\\x01\\x7f\\xc3\\xa9\""));
    /* the worst case fits su_quote_size exactly, at every length */
    for (size_t len = 0; len < 40; len++) {
        char in[41];
        memset(in, 0x01, len);
        in[len] = '\0';
        size_t n = su_quote_size(in);
        char *q = malloc(n);
        CHECK(q != NULL && su_quote(q, n, in) == 1 && strlen(q) == 4 * len + 2);
        free(q);
    }
    /* cut to fit: still quoted, ends in ...", never half an escape */
    char small[16];
    CHECK(su_quote(small, sizeof(small), "\"\"\"\"\"\"\"\"") == 0);
    CHECK(strlen(small) < sizeof(small) && small[0] == '"');
    CHECK(strcmp(small + strlen(small) - 4, "...\"") == 0);
    CHECK(strcmp(small, "\"\\\"\\\"\\\"\\\"\\\"...\"") == 0); /* 15 bytes + NUL */
    CHECK(su_quote(small, 5, "x") == 0);
    CHECK_DONE();
}
