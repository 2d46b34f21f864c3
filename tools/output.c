/* SPDX-License-Identifier: Apache-2.0 */
/* Writing results: PEM to stdout or --out, JSON through jansson. */
#include "cli.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

int cli_emit(cli *c, const void *data, size_t len) {
    if (c->out != NULL)
        return su_write_file_atomic(c->out, data, len, 0644, &c->err);
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
        return su_err(&c->err, SU_EIO, "cannot write to standard output");
    return SU_OK;
}

int cli_emit_pem(cli *c, const char *name, const unsigned char *der, size_t len) {
    BIO *b = BIO_new(BIO_s_mem());
    char *pem;
    int rc;
    if (b == NULL || PEM_write_bio(b, name, "", der, (long)len) <= 0) {
        rc = su_err(&c->err, SU_EIO, "cannot PEM-encode %s", name);
    } else {
        long n = BIO_get_mem_data(b, &pem);
        rc = cli_emit(c, pem, (size_t)n);
    }
    BIO_free(b);
    return rc;
}

int cli_print_json(cli *c, json_t *v) {
    if (v == NULL)
        return su_err(&c->err, SU_EIO, "out of memory building JSON");
    /* one buffer, one write: jansson's stream output writes token by token */
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(v);
    size_t n = text ? strlen(text) : 0;
    int ok = text != NULL && fwrite(text, 1, n, stdout) == n && fputc('\n', stdout) != EOF;
    free(text);
    if (!ok)
        return su_err(&c->err, SU_EIO, "cannot write JSON to standard output");
    return SU_OK;
}

json_t *cli_json_hex(const unsigned char *p, size_t n) {
    char *hex = malloc(2 * n + 1);
    if (hex == NULL)
        return NULL;
    su_hex(hex, p, n);
    json_t *j = json_string(hex);
    free(hex);
    return j;
}

json_t *cli_json_time(int64_t t) {
    char buf[32];
    if (t == 0)
        return json_null();
    su_format_time(t, buf);
    return json_string(buf);
}

json_t *cli_json_str(const char *s) {
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    /* not UTF-8: show the ASCII we can, never drop the member */
    char *copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}
