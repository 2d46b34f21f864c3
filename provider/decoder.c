/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OSSL_OP_DECODER: key-reference files (docs/reference.md, Key-reference files) to keystore keys,
 * so that programs which only read PEM key files (PEM_read_bio_PrivateKey: openssl ts,
 * osslsigncode, web servers) sign with the HSM key when the provider is
 * active through openssl.cnf.
 *
 * Two steps, as OpenSSL's decoder chains work: "SEALHSM KEY REF" PEM to DER
 * (the default provider's PEM step passes on only the PEM names it knows),
 * then that DER to a reference for our keymgmt.
 */
#include "prov.h"

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

/* The data structure name that links our two steps and nothing else. */
#define KEYREF_STRUCTURE "SealhsmKeyRef"
/* A key reference is a few hundred bytes; anything longer is not one. */
#define KEYREF_MAX 2048

static void *sealhsm_dec_newctx(void *provctx) {
    return provctx;
}

static void sealhsm_dec_freectx(void *vctx) {}

static int sealhsm_dec_pem2der_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                                      OSSL_CALLBACK *data_cb, void *data_cbarg,
                                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
    SEALHSM_PROV *p = vctx;
    BIO *in = BIO_new_from_core_bio(p->libctx, cin);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long len = 0;
    int objtype = OSSL_OBJECT_PKEY, ok = 1;

    if (in == NULL)
        return 0;
    /* Any other PEM block is someone else's: return empty-handed, not failed. */
    if (PEM_read_bio(in, &name, &header, &der, &len) > 0 && strcmp(name, SC_KEYREF_PEM_NAME) == 0) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der, (size_t)len),
            OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE, KEYREF_STRUCTURE, 0),
            OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype), OSSL_PARAM_END};
        ok = data_cb(params, data_cbarg);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(in);
    return ok;
}

static int sealhsm_dec_keyref_does_selection(void *provctx, int selection) {
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

/* The whole input if it is short enough to be a key reference. */
static int read_small(SEALHSM_PROV *p, OSSL_CORE_BIO *cin, unsigned char *buf, size_t *len) {
    BIO *in = BIO_new_from_core_bio(p->libctx, cin);
    size_t got = 0, n = 0;

    if (in == NULL)
        return 0;
    while (got <= KEYREF_MAX && BIO_read_ex(in, buf + got, KEYREF_MAX + 1 - got, &n))
        got += n;
    BIO_free(in);
    *len = got;
    return got > 0 && got <= KEYREF_MAX;
}

/* A key reference names the keystore it belongs to; using another one is a mistake. */
static int check_keystore(SEALHSM_SESSION *s, const unsigned char ref_store[SC_STORE_ID_LEN],
                          const char *label) {
    unsigned char id[SC_STORE_ID_LEN];
    char want[2 * SC_STORE_ID_LEN + 1], have[2 * SC_STORE_ID_LEN + 1];

    sealhsm_session_store_id(s, id);
    if (memcmp(id, ref_store, sizeof(id)) == 0)
        return 1;
    su_hex(want, ref_store, SC_STORE_ID_LEN);
    su_hex(have, id, SC_STORE_ID_LEN);
    SEALHSM_ERR(sealhsm_session_prov(s), SEALHSM_R_WRONG_KEYSTORE,
                "sealhsm: key reference '%s' is for keystore %s, but the configured keystore %s "
                "is %s",
                label, want, sealhsm_session_path(s), have);
    return 0;
}

static int decode_keyref(SEALHSM_PROV *p, int kt, OSSL_CORE_BIO *cin, int selection,
                         OSSL_CALLBACK *data_cb, void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                         void *pw_cbarg) {
    unsigned char der[KEYREF_MAX + 1], store_id[SC_STORE_ID_LEN], key_id[SC_KEY_ID_LEN];
    size_t len = 0;
    char *label = NULL;
    sc_key *info = NULL;
    SEALHSM_SESSION *s;
    int public_only = (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0 && selection != 0;
    int ok = 0;

    /* Input that is not a key reference belongs to other decoders: empty-handed. */
    if (!read_small(p, cin, der, &len) ||
        sc_keyref_decode(der, len, store_id, key_id, &label, NULL) != SU_OK)
        return 1;
    if ((s = sealhsm_session_get(p, NULL)) == NULL || !check_keystore(s, store_id, label) ||
        (!public_only && !sealhsm_session_login(s, pw_cb, pw_cbarg)) ||
        !sealhsm_session_key_get(s, NULL, key_id, &info))
        goto end;
    /* the file names a key by id and shows a label: both must be that key's, or
     * a reference could pass for one key while signing with another */
    if (strcmp(info->label, label) != 0) {
        SEALHSM_ERR(p, SEALHSM_R_INTEGRITY,
                    "sealhsm: key reference '%s' names the key labelled '%s' in keystore %s: "
                    "refused",
                    label, info->label, sealhsm_session_path(s));
        goto end;
    }
    /* One decoder per key type: the one whose type the key has answers. */
    if (strcmp(sc_alg_ossl_name(info->alg), sealhsm_kt_name(kt)) != 0)
        ok = 1;
    else
        ok = sealhsm_key_emit(s, info, public_only, pw_cb, pw_cbarg, data_cb, data_cbarg);

end:
    sc_key_free(info);
    free(label); /* sc_keyref_decode allocates with malloc */
    return ok;
}

/* Typed declarations: an entry whose signature differs from the core's does not compile. */
static OSSL_FUNC_decoder_newctx_fn sealhsm_dec_newctx;
static OSSL_FUNC_decoder_freectx_fn sealhsm_dec_freectx;
static OSSL_FUNC_decoder_does_selection_fn sealhsm_dec_keyref_does_selection;
static OSSL_FUNC_decoder_decode_fn sealhsm_dec_pem2der_decode;

#define SEALHSM_KEYREF_DECODER(tname, KT)                                                          \
    static OSSL_FUNC_decoder_decode_fn sealhsm_dec_##tname##_decode;                               \
    static int sealhsm_dec_##tname##_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,         \
                                            OSSL_CALLBACK *data_cb, void *data_cbarg,              \
                                            OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {     \
        return decode_keyref(vctx, KT, cin, selection, data_cb, data_cbarg, pw_cb, pw_cbarg);      \
    }                                                                                              \
    static const OSSL_DISPATCH sealhsm_dec_##tname##_functions[] = {                               \
        {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))sealhsm_dec_newctx},                            \
        {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))sealhsm_dec_freectx},                          \
        {OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))sealhsm_dec_keyref_does_selection},     \
        {OSSL_FUNC_DECODER_DECODE, (void (*)(void))sealhsm_dec_##tname##_decode},                  \
        {0, NULL}}

SEALHSM_KEYREF_DECODER(rsa, SEALHSM_KT_RSA);
SEALHSM_KEYREF_DECODER(ec, SEALHSM_KT_EC);
SEALHSM_KEYREF_DECODER(ed25519, SEALHSM_KT_ED25519);
SEALHSM_KEYREF_DECODER(ed448, SEALHSM_KT_ED448);

static const OSSL_DISPATCH sealhsm_dec_pem2der_functions[] = {
    {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))sealhsm_dec_newctx},
    {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))sealhsm_dec_freectx},
    {OSSL_FUNC_DECODER_DECODE, (void (*)(void))sealhsm_dec_pem2der_decode},
    {0, NULL}};

#define KEYREF_PROPS "provider=sealhsm,input=der,structure=" KEYREF_STRUCTURE

const OSSL_ALGORITHM sealhsm_decoder_algs[] = {
    /* named "DER" like OpenSSL's PEM step: a decoder's name is what it outputs */
    {"DER", "provider=sealhsm,input=pem", sealhsm_dec_pem2der_functions,
     "sealhsm key reference PEM to DER"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", KEYREF_PROPS, sealhsm_dec_rsa_functions,
     "sealhsm key reference to RSA key"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", KEYREF_PROPS, sealhsm_dec_ec_functions,
     "sealhsm key reference to EC key"},
    {"ED25519:1.3.101.112", KEYREF_PROPS, sealhsm_dec_ed25519_functions,
     "sealhsm key reference to Ed25519 key"},
    {"ED448:1.3.101.113", KEYREF_PROPS, sealhsm_dec_ed448_functions,
     "sealhsm key reference to Ed448 key"},
    {NULL, NULL, NULL, NULL}};
