/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sealhsm import`: migrates an existing private key into the store. The key file is
 * decoded here (PEM or DER, PKCS#8 or traditional, encrypted or not) and handed to the
 * store as PKCS#8 DER; every plaintext copy is cleansed as soon as it is not needed.
 */
#include "cli.h"

#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ui.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* Key files are small; this only bounds a mistaken --in. */
#define KEYFILE_MAX (1u << 20)
#define PASS_MAX 1024

typedef struct import_args {
    cli_policy_opts po;
    const char *in;
    const char *passin;
} import_args;

static int import_opt(cli *c, int opt, const char *arg, void *ctx) {
    import_args *a = ctx;
    switch (opt) {
    case OPT_IN:
        a->in = arg;
        return SU_OK;
    case OPT_PASSIN:
        a->passin = arg;
        return SU_OK;
    }
    return cli_policy_opt(c, &a->po, opt, arg);
}

/* The passphrase of --passin in openssl's syntax (pass:, env:, file: first line). */
static int passphrase(cli *c, const char *src, su_pin **out) {
    if (strncmp(src, "pass:", 5) == 0) {
        *out = su_pin_new(src + 5, strlen(src + 5));
    } else if (strncmp(src, "env:", 4) == 0) {
        const char *v = getenv(src + 4);
        if (v == NULL)
            return cli_usage_err(c, "--passin: variable %.64s is not set", src + 4);
        *out = su_pin_new(v, strlen(v));
    } else if (strncmp(src, "file:", 5) == 0) {
        unsigned char *data;
        size_t len;
        int rc = su_read_file(src + 5, PASS_MAX, &data, &len, &c->err);
        if (rc != SU_OK)
            return rc;
        size_t line = 0;
        while (line < len && data[line] != '\n' && data[line] != '\r')
            line++;
        *out = su_pin_new(data, line);
        OPENSSL_cleanse(data, len);
        free(data);
    } else {
        return cli_usage_err(c, "invalid --passin '%.16s...' (expected pass:, env: or file:)", src);
    }
    if (*out == NULL)
        return su_err(&c->err, SU_EIO, "out of secure memory");
    return SU_OK;
}

static int decode(cli *c, const char *path, const unsigned char *data, size_t len,
                  const su_pin *pass, EVP_PKEY **pkey) {
    OSSL_DECODER_CTX *d =
        OSSL_DECODER_CTX_new_for_pkey(pkey, NULL, NULL, NULL, EVP_PKEY_KEYPAIR, NULL, NULL);
    int ok = d != NULL;
    if (ok && pass != NULL)
        ok = OSSL_DECODER_CTX_set_passphrase(d, (const unsigned char *)pass->data, pass->len);
    else if (ok && su_have_tty())
        ok = OSSL_DECODER_CTX_set_passphrase_ui(d, UI_get_default_method(), NULL);
    const unsigned char *p = data;
    size_t left = len;
    ok = ok && OSSL_DECODER_from_data(d, &p, &left) && *pkey != NULL;
    OSSL_DECODER_CTX_free(d);
    ERR_clear_error();
    if (!ok)
        return su_err(&c->err, SU_EUSAGE,
                      "cannot read a private key from %s (not a PEM/DER private key, or "
                      "encrypted: give --passin)",
                      path);
    return SU_OK;
}

/* Reads --in into PKCS#8 DER (OPENSSL_malloc'd; the caller cleanses it). */
static int read_pkcs8(cli *c, const import_args *a, unsigned char **der, size_t *len) {
    unsigned char *data = NULL;
    size_t n = 0;
    su_pin *pass = NULL;
    EVP_PKEY *pkey = NULL;
    int rc = a->passin ? passphrase(c, a->passin, &pass) : SU_OK;
    if (rc == SU_OK)
        rc = su_read_file(a->in, KEYFILE_MAX, &data, &n, &c->err);
    if (rc == SU_OK)
        rc = decode(c, a->in, data, n, pass, &pkey);
    if (data != NULL)
        OPENSSL_cleanse(data, n);
    free(data);
    su_pin_free(pass);
    if (rc != SU_OK)
        return rc;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pkey);
    int dlen = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, der) : -1;
    PKCS8_PRIV_KEY_INFO_free(p8);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    if (dlen <= 0)
        return su_err(&c->err, SU_EUSAGE, "cannot encode the key from %s as PKCS#8", a->in);
    *len = (size_t)dlen;
    return SU_OK;
}

int cmd_import(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON,
        CLI_OPTS_LOGIN,
        CLI_OPTS_POLICY,
        {"in", required_argument, NULL, OPT_IN},
        {"passin", required_argument, NULL, OPT_PASSIN},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        CLI_OPTS_END,
    };
    import_args a = {0};
    int rc = cli_parse(c, argc, argv, opts, import_opt, &a, 1, 1);
    if (rc != SU_OK)
        return rc;
    if (a.in == NULL)
        return cli_usage_err(c, "--in KEYFILE is required");

    unsigned char *der = NULL;
    size_t len = 0;
    ss_store *s = NULL;
    rc = read_pkcs8(c, &a, &der, &len);
    if (rc == SU_OK)
        rc = cli_session(c, SS_ROLE_SO, NULL, &s);
    if (rc == SU_OK) {
        ss_keyspec spec = {.label = c->pos[0], .description = a.po.description};
        ss_policy_default(&spec.policy);
        cli_policy_apply(&a.po, &spec.policy);
        rc = cli_make_key(c, s, &spec, der, len);
    }
    OPENSSL_clear_free(der, len);
    ss_close(s);
    return rc;
}
