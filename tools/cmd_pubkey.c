/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm pubkey` and `sealhsm keyref`: the public faces of a key, as PEM. */
#include "cli.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

static const struct option out_opts[] = {CLI_OPTS_COMMON, CLI_OPTS_READER, CLI_OPT_OUT,
                                         CLI_OPTS_END};

/* Opens a session and fetches the live (not destroyed) key named by the positional. */
static int get_key(cli *c, int argc, char **argv, ss_store **s, ss_keyinfo **k) {
    int rc = cli_reader_session(c, argc, argv, out_opts, NULL, NULL, 1, 1, s);
    if (rc != SU_OK)
        return rc;
    rc = ss_key_get(*s, c->pos[0], NULL, k, &c->err);
    if (rc == SU_OK && ((*k)->state == SS_STATE_DESTROYED || (*k)->spki == NULL))
        rc = su_err(&c->err, SU_ENOTFOUND, "key %s is destroyed", (*k)->label);
    if (rc != SU_OK) {
        ss_keyinfo_free(*k);
        ss_close(*s);
    }
    return rc;
}

int cmd_pubkey(cli *c, int argc, char **argv) {
    ss_store *s;
    ss_keyinfo *k = NULL;
    int rc = get_key(c, argc, argv, &s, &k);
    if (rc != SU_OK)
        return rc;
    /* re-encode through libcrypto so only a well-formed SPKI is ever written */
    const unsigned char *p = k->spki;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)k->spki_len);
    unsigned char *der = NULL;
    int len = pk ? i2d_PUBKEY(pk, &der) : -1;
    if (len > 0)
        rc = cli_emit_pem(c, "PUBLIC KEY", der, (size_t)len);
    else
        rc = su_err(&c->err, SU_EINTEGRITY, "key %s: stored public key cannot be parsed", k->label);
    OPENSSL_free(der);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    ss_keyinfo_free(k);
    ss_close(s);
    return rc;
}

int cmd_keyref(cli *c, int argc, char **argv) {
    ss_store *s;
    ss_keyinfo *k = NULL;
    int rc = get_key(c, argc, argv, &s, &k);
    if (rc != SU_OK)
        return rc;
    unsigned char store_id[SS_STORE_ID_LEN], *der = NULL;
    size_t len = 0;
    ss_store_id(s, store_id);
    rc = ss_keyref_encode(store_id, k, &der, &len, &c->err);
    if (rc == SU_OK)
        rc = cli_emit_pem(c, SS_KEYREF_PEM_NAME, der, len);
    OPENSSL_free(der);
    ss_keyinfo_free(k);
    ss_close(s);
    return rc;
}
