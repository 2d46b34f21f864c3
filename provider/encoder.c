/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OSSL_OP_ENCODER: the public half of keystore keys as SubjectPublicKeyInfo
 * (DER, PEM) and as text. There is no encoder for private key structures, and
 * these refuse any selection with the private key: it never leaves the store.
 */
#include "prov.h"

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

enum { OUT_DER, OUT_PEM };

/* The context is the provider: an encoder needs nothing else. */
static void *sealhsm_enc_newctx(void *provctx) {
    return provctx;
}

static void sealhsm_enc_freectx(void *vctx) {}

/* Like OpenSSL's SubjectPublicKeyInfo encoders: the public key, not the key pair. */
static int sealhsm_enc_spki_does_selection(void *provctx, int selection) {
    if (selection == 0)
        return 1;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        return 0;
    return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0;
}

static int sealhsm_enc_text_does_selection(void *provctx, int selection) {
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
}

static int encode_spki(SEALHSM_PROV *p, OSSL_CORE_BIO *cout, const SEALHSM_KEY *k, int selection,
                       int out_type) {
    BIO *out;
    int ok;

    if (k == NULL || k->pub == NULL || !sealhsm_prov_running(p))
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) {
        SEALHSM_ERR(p, SEALHSM_R_UNSUPPORTED,
                    "sealhsm: key '%s': the private key never leaves "
                    "the keystore",
                    k->label != NULL ? k->label : "");
        return 0;
    }
    if ((out = BIO_new_from_core_bio(p->libctx, cout)) == NULL)
        return 0;
    ok = out_type == OUT_PEM ? PEM_write_bio_PUBKEY(out, k->pub) : i2d_PUBKEY_bio(out, k->pub);
    BIO_free(out);
    return ok;
}

static int sealhsm_enc_spki_der_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                                       const OSSL_PARAM obj_abstract[], int selection,
                                       OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg) {
    return encode_spki(vctx, cout, obj_raw, selection, OUT_DER);
}

static int sealhsm_enc_spki_pem_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                                       const OSSL_PARAM obj_abstract[], int selection,
                                       OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg) {
    return encode_spki(vctx, cout, obj_raw, selection, OUT_PEM);
}

/* `openssl pkey -text`: where the key lives, then what OpenSSL prints for its public half. */
static int sealhsm_enc_text_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                                   const OSSL_PARAM obj_abstract[], int selection,
                                   OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg) {
    SEALHSM_PROV *p = vctx;
    const SEALHSM_KEY *k = obj_raw;
    char id[2 * SC_KEY_ID_LEN + 1];
    BIO *out;
    int ok = 1;

    if (k == NULL || k->pub == NULL || !sealhsm_prov_running(p))
        return 0;
    if ((out = BIO_new_from_core_bio(p->libctx, cout)) == NULL)
        return 0;
    if (k->sess != NULL) {
        su_hex(id, k->id, sizeof(k->id));
        ok =
            BIO_printf(out, "sealhsm key '%s' (id %s) in keystore %s%s\n", k->label, id,
                       sealhsm_session_path(k->sess),
                       k->public_only ? ", public half only" : "; the private key stays there") > 0;
    }
    ok = ok && EVP_PKEY_print_public(out, k->pub, 0, NULL) > 0;
    BIO_free(out);
    return ok;
}

/* Typed declarations: an entry whose signature differs from the core's does not compile. */
static OSSL_FUNC_encoder_newctx_fn sealhsm_enc_newctx;
static OSSL_FUNC_encoder_freectx_fn sealhsm_enc_freectx;
static OSSL_FUNC_encoder_does_selection_fn sealhsm_enc_spki_does_selection;
static OSSL_FUNC_encoder_does_selection_fn sealhsm_enc_text_does_selection;
static OSSL_FUNC_encoder_encode_fn sealhsm_enc_spki_der_encode;
static OSSL_FUNC_encoder_encode_fn sealhsm_enc_spki_pem_encode;
static OSSL_FUNC_encoder_encode_fn sealhsm_enc_text_encode;

static const OSSL_DISPATCH sealhsm_enc_spki_der_functions[] = {
    {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))sealhsm_enc_newctx},
    {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))sealhsm_enc_freectx},
    {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))sealhsm_enc_spki_does_selection},
    {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))sealhsm_enc_spki_der_encode},
    {0, NULL}};

static const OSSL_DISPATCH sealhsm_enc_spki_pem_functions[] = {
    {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))sealhsm_enc_newctx},
    {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))sealhsm_enc_freectx},
    {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))sealhsm_enc_spki_does_selection},
    {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))sealhsm_enc_spki_pem_encode},
    {0, NULL}};

static const OSSL_DISPATCH sealhsm_enc_text_functions[] = {
    {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))sealhsm_enc_newctx},
    {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))sealhsm_enc_freectx},
    {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))sealhsm_enc_text_does_selection},
    {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))sealhsm_enc_text_encode},
    {0, NULL}};

#define SPKI_DER "provider=sealhsm,output=der,structure=SubjectPublicKeyInfo"
#define SPKI_PEM "provider=sealhsm,output=pem,structure=SubjectPublicKeyInfo"
#define TEXT "provider=sealhsm,output=text"

/* Every key type our keymgmt registers, under the same names. */
#define SEALHSM_ENCODERS(names)                                                                    \
    {names, SPKI_DER, sealhsm_enc_spki_der_functions, "sealhsm public key to DER"},                \
        {names, SPKI_PEM, sealhsm_enc_spki_pem_functions, "sealhsm public key to PEM"}, {          \
        names, TEXT, sealhsm_enc_text_functions, "sealhsm key to text"                             \
    }

const OSSL_ALGORITHM sealhsm_encoder_algs[] = {
    SEALHSM_ENCODERS("RSA:rsaEncryption:1.2.840.113549.1.1.1"),
    SEALHSM_ENCODERS("RSA-PSS:RSASSA-PSS:1.2.840.113549.1.1.10"),
    SEALHSM_ENCODERS("EC:id-ecPublicKey:1.2.840.10045.2.1"),
    SEALHSM_ENCODERS("ED25519:1.3.101.112"),
    SEALHSM_ENCODERS("ED448:1.3.101.113"),
    {NULL, NULL, NULL, NULL}};
