/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm cert import` (a key's certificate chain) and `sealhsm attest`. */
#include "cli.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#define CERTFILE_MAX (1u << 20)
/* leaf + intermediates + root is short; this bounds a mistaken file */
#define CHAIN_MAX 16

typedef struct chain {
    ss_blob v[CHAIN_MAX];
    size_t n;
} chain;

static int add_cert(cli *c, chain *ch, X509 *x, const char *path) {
    if (ch->n == CHAIN_MAX)
        return su_err(&c->err, SU_EUSAGE, "%s: more than %d certificates", path, CHAIN_MAX);
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    if (len <= 0)
        return su_err(&c->err, SU_EIO, "%s: cannot encode certificate", path);
    ch->v[ch->n].data = der;
    ch->v[ch->n].len = (size_t)len;
    ch->n++;
    return SU_OK;
}

/* Appends the certificates of path (PEM, one or more; or one DER) to ch. */
static int read_certs(cli *c, const char *path, chain *ch) {
    unsigned char *data;
    size_t len;
    int rc = su_read_file(path, CERTFILE_MAX, &data, &len, &c->err);
    if (rc != SU_OK)
        return rc;
    size_t before = ch->n;
    BIO *b = BIO_new_mem_buf(data, (int)len);
    X509 *x;
    while (rc == SU_OK && b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        rc = add_cert(c, ch, x, path);
        X509_free(x);
    }
    BIO_free(b);
    ERR_clear_error();
    if (rc == SU_OK && ch->n == before) {
        const unsigned char *p = data;
        x = d2i_X509(NULL, &p, (long)len);
        if (x != NULL && p == data + len)
            rc = add_cert(c, ch, x, path);
        else
            rc = su_err(&c->err, SU_EUSAGE, "%s holds no PEM or DER certificate", path);
        X509_free(x);
        ERR_clear_error();
    }
    free(data);
    return rc;
}

int cmd_cert_import(cli *c, int argc, char **argv) {
    static const struct option opts[] = {CLI_OPTS_COMMON, CLI_OPTS_LOGIN, CLI_OPTS_END};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, 2, 3);
    if (rc != SU_OK)
        return rc;
    chain ch = {0};
    ss_store *s = NULL;
    rc = read_certs(c, c->pos[1], &ch);
    if (rc == SU_OK && c->npos == 3)
        rc = read_certs(c, c->pos[2], &ch);
    if (rc == SU_OK)
        rc = cli_session(c, SS_ROLE_SO, NULL, &s);
    if (rc == SU_OK)
        rc = ss_cert_import(s, c->pos[0], ch.v, ch.n, &c->err);
    /* the store keeps only what chains the leaf: say what it left out */
    ss_blob *kept = NULL;
    size_t nkept = 0;
    ss_keyinfo *k = NULL;
    if (rc == SU_OK && (rc = ss_key_get(s, c->pos[0], NULL, &k, &c->err)) == SU_OK)
        rc = ss_cert_get(s, k->id, &kept, &nkept, &c->err);
    if (rc == SU_OK && nkept < ch.n)
        fprintf(stderr,
                "sealhsm: key %s: %zu of %zu certificates left out (they do not chain the "
                "certificate, or repeat one)\n",
                c->pos[0], ch.n - nkept, ch.n);
    if (rc == SU_OK)
        printf("key %s: %zu certificate%s stored\n", c->pos[0], nkept, nkept == 1 ? "" : "s");
    ss_keyinfo_free(k);
    ss_blobs_free(kept, nkept);
    for (size_t i = 0; i < ch.n; i++)
        OPENSSL_free(ch.v[i].data);
    ss_close(s);
    return rc;
}

static int attest_opt(cli *c, int opt, const char *arg, void *ctx) {
    if (opt != OPT_CA)
        return CLI_NOT_MINE;
    *(int *)ctx = 1;
    return SU_OK;
}

int cmd_attest(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON, CLI_OPTS_READER, CLI_OPT_OUT, {"ca", no_argument, NULL, OPT_CA},
        CLI_OPTS_END,
    };
    int ca = 0;
    int rc = cli_parse(c, argc, argv, opts, attest_opt, &ca, 0, 1);
    if (rc != SU_OK)
        return rc;
    if (ca == (c->npos == 1))
        return cli_usage_err(c, "give either LABEL or --ca");
    ss_store *s;
    if ((rc = cli_session(c, cli_reader_role(c), NULL, &s)) != SU_OK)
        return rc;
    unsigned char *der = NULL;
    size_t len = 0;
    rc = ca ? ss_attest_ca(s, &der, &len, &c->err)
            : ss_attest_key(s, c->pos[0], &der, &len, &c->err);
    if (rc == SU_OK)
        rc = cli_emit_pem(c, PEM_STRING_X509, der, len);
    OPENSSL_free(der);
    ss_close(s);
    return rc;
}
