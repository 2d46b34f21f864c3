/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key objects and the references that carry them from the store loader and
 * the decoder to our keymgmt. A key object holds the keystore session, the key
 * id and label and the public half; the private half never leaves the store.
 */
#include "prov.h"

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/*
 * What an OSSL_OBJECT_PARAM_REFERENCE of ours points to. Its size differs from
 * a pointer's on purpose: OpenSSL's own keymgmts take a pointer-sized reference
 * as the address of their key, so should libcrypto ever hand ours to them, the
 * size check makes them refuse it instead of dereferencing it.
 */
typedef struct sealhsm_ref {
    char magic[8];
    SEALHSM_SESSION *sess;
    unsigned char id[SC_KEY_ID_LEN];
    int public_only;
    OSSL_PASSPHRASE_CALLBACK *pw_cb;
    void *pw_cbarg;
} SEALHSM_REF;

static const char ref_magic[8] = {'s', 'e', 'a', 'l', 'h', 's', 'm', '1'};

const char *sealhsm_kt_name(int kt) {
    static const char *const names[] = {"RSA", "RSA-PSS", "EC", "ED25519", "ED448"};

    return names[kt];
}

static int kt_of(sc_alg alg) {
    switch (alg) {
    case SC_ALG_RSA:
        return SEALHSM_KT_RSA;
    case SC_ALG_EC:
        return SEALHSM_KT_EC;
    case SC_ALG_ED25519:
        return SEALHSM_KT_ED25519;
    case SC_ALG_ED448:
        return SEALHSM_KT_ED448;
    }
    return -1;
}

SEALHSM_KEY *sealhsm_key_new(SEALHSM_PROV *p, int kt) {
    SEALHSM_KEY *k = OPENSSL_zalloc(sizeof(*k));

    if (k == NULL) {
        SEALHSM_ERR(p, SEALHSM_R_IO, "sealhsm: out of memory");
        return NULL;
    }
    k->prov = p;
    k->kt = kt;
    return k;
}

void sealhsm_key_free(SEALHSM_KEY *k) {
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pub);
    OPENSSL_free(k->label);
    su_pin_free(k->pin);
    OPENSSL_free(k);
}

SEALHSM_KEY *sealhsm_key_dup(const SEALHSM_KEY *k) {
    SEALHSM_KEY *d = sealhsm_key_new(k->prov, k->kt);

    if (d == NULL)
        return NULL;
    d->sess = k->sess;
    memcpy(d->id, k->id, sizeof(d->id));
    d->public_only = k->public_only;
    d->key_pin = k->key_pin;
    if ((k->pub != NULL && !EVP_PKEY_up_ref(k->pub)) ||
        (k->label != NULL && (d->label = OPENSSL_strdup(k->label)) == NULL) ||
        (k->pin != NULL && (d->pin = su_pin_new(k->pin->data, k->pin->len)) == NULL)) {
        sealhsm_key_free(d);
        return NULL;
    }
    d->pub = k->pub;
    return d;
}

int sealhsm_key_emit(SEALHSM_SESSION *s, const sc_key *info, int public_only,
                     OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg, OSSL_CALLBACK *object_cb,
                     void *object_cbarg) {
    SEALHSM_REF ref;
    int objtype = OSSL_OBJECT_PKEY;
    char desc[SC_LABEL_MAX + 32];

    if (info->spki == NULL || info->state == SC_STATE_DESTROYED) {
        SEALHSM_ERR(sealhsm_session_prov(s), SEALHSM_R_NOT_FOUND, "sealhsm: key '%s' was destroyed",
                    info->label);
        return 0;
    }
    memset(&ref, 0, sizeof(ref));
    memcpy(ref.magic, ref_magic, sizeof(ref.magic));
    ref.sess = s;
    memcpy(ref.id, info->id, sizeof(ref.id));
    ref.public_only = public_only;
    ref.pw_cb = pw_cb;
    ref.pw_cbarg = pw_cbarg;
    snprintf(desc, sizeof(desc), "sealhsm key %s", info->label);

    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype),
        OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                         (char *)sc_alg_ossl_name(info->alg), 0),
        OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &ref, sizeof(ref)),
        OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, desc, 0), OSSL_PARAM_END};
    return object_cb(params, object_cbarg);
}

/* The public half from the store's SubjectPublicKeyInfo, in our library context. */
static int load_public(SEALHSM_KEY *k, const sc_key *info) {
    const unsigned char *der = info->spki;

    k->pub = d2i_PUBKEY_ex(NULL, &der, (long)info->spki_len, k->prov->libctx, NULL);
    if (k->pub == NULL) {
        SEALHSM_ERR(k->prov, SEALHSM_R_INTEGRITY, "sealhsm: public key of key '%s' does not parse",
                    info->label);
        return 0;
    }
    return 1;
}

SEALHSM_KEY *sealhsm_key_load(int kt, const void *reference, size_t reference_sz) {
    const SEALHSM_REF *ref = reference;
    SEALHSM_KEY *k = NULL;
    sc_key *info = NULL;
    SEALHSM_PROV *p;
    char what[SC_LABEL_MAX + 64];
    su_error e = {0};

    if (reference_sz != sizeof(*ref) || memcmp(ref->magic, ref_magic, sizeof(ref_magic)) != 0)
        return NULL;
    p = sealhsm_session_prov(ref->sess);
    if (!sealhsm_prov_running(p) || !sealhsm_session_key_get(ref->sess, NULL, ref->id, &info))
        return NULL;
    if (kt_of(info->alg) != kt) {
        SEALHSM_ERR(p, SEALHSM_R_UNSUPPORTED, "sealhsm: key '%s' is not an %s key", info->label,
                    sealhsm_kt_name(kt));
        goto err;
    }
    if ((k = sealhsm_key_new(p, kt)) == NULL || !load_public(k, info) ||
        (k->label = OPENSSL_strdup(info->label)) == NULL)
        goto err;
    k->sess = ref->sess;
    memcpy(k->id, info->id, sizeof(k->id));
    k->public_only = ref->public_only;
    k->key_pin = info->key_pin;
    /* The application's callback is reachable only now, not at sign time. */
    if (k->key_pin && !k->public_only && p->key_pin_source == NULL && ref->pw_cb != NULL) {
        snprintf(what, sizeof(what), "the usage PIN of sealhsm key '%s'", info->label);
        if (sealhsm_pin_from_callback(ref->pw_cb, ref->pw_cbarg, what, &k->pin, &e) != SU_OK) {
            SEALHSM_CLIENT_ERR(p, &e);
            goto err;
        }
    }
    sc_key_free(info);
    return k;

err:
    sc_key_free(info);
    sealhsm_key_free(k);
    return NULL;
}

int sealhsm_key_can_sign(const SEALHSM_KEY *k) {
    if (k->pub == NULL) {
        SEALHSM_ERR(k->prov, SEALHSM_R_USAGE, "sealhsm: no key");
        return 0;
    }
    if (k->sess == NULL) {
        SEALHSM_ERR(k->prov, SEALHSM_R_PUBLIC_ONLY,
                    "sealhsm: an imported public key cannot sign: load the key from the keystore");
        return 0;
    }
    if (k->public_only) {
        SEALHSM_ERR(k->prov, SEALHSM_R_PUBLIC_ONLY,
                    "sealhsm: key '%s' was loaded as a public key: it cannot sign", k->label);
        return 0;
    }
    return sealhsm_prov_running(k->prov);
}

const char *sealhsm_key_default_digest(const SEALHSM_KEY *k) {
    switch (k->kt) {
    case SEALHSM_KT_RSA:
    case SEALHSM_KT_RSA_PSS:
        return "SHA256";
    case SEALHSM_KT_EC:
        /* a digest as strong as the curve */
        if (EVP_PKEY_get_bits(k->pub) > 384)
            return "SHA512";
        return EVP_PKEY_get_bits(k->pub) > 256 ? "SHA384" : "SHA256";
    }
    return NULL;
}
