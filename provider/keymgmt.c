/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OSSL_OP_KEYMGMT: keystore keys under OpenSSL's own key type names, so that
 * libcrypto, X.509, CMS and libssl treat them as the RSA, EC and EdDSA keys
 * they are. Only public parts cross this interface; export refuses any
 * selection that includes the private key.
 */
#include "prov.h"

#include <openssl/core_names.h>

static void *sealhsm_km_new(void *provctx, int kt) {
    SEALHSM_PROV *p = provctx;

    if (!sealhsm_prov_running(p))
        return NULL;
    return sealhsm_key_new(p, kt);
}

static void sealhsm_km_free(void *keydata) {
    sealhsm_key_free(keydata);
}

static void *sealhsm_km_dup(const void *keydata, int selection) {
    return sealhsm_key_dup(keydata);
}

static int sealhsm_km_has(const void *keydata, int selection) {
    const SEALHSM_KEY *k = keydata;

    if (k == NULL)
        return 0;
    if ((selection & (OSSL_KEYMGMT_SELECT_KEYPAIR | OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS)) != 0 &&
        k->pub == NULL)
        return 0;
    /* "has a private key" means: can sign through the keystore */
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && (k->sess == NULL || k->public_only))
        return 0;
    return 1;
}

static int sealhsm_km_match(const void *keydata1, const void *keydata2, int selection) {
    const SEALHSM_KEY *k1 = keydata1, *k2 = keydata2;

    if (k1->pub == NULL || k2->pub == NULL)
        return 0;
    /* Two keys with the same public half have the same private half. */
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        return EVP_PKEY_eq(k1->pub, k2->pub) == 1;
    if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
        return EVP_PKEY_parameters_eq(k1->pub, k2->pub) == 1;
    return 1;
}

/*
 * Public import only. libcrypto asks to import with the private bit set when
 * it copies another provider's key into ours to compare the two (certificate
 * against key in X509_check_private_key); such keys have no private half to
 * give, and any that is offered is dropped by importing EVP_PKEY_PUBLIC_KEY.
 */
static int sealhsm_km_import(void *keydata, int selection, const OSSL_PARAM params[]) {
    SEALHSM_KEY *k = keydata;
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *pub = NULL;
    int ok;

    if (k == NULL || k->pub != NULL || (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0)
        return 0;
    ctx = EVP_PKEY_CTX_new_from_name(k->prov->libctx, sealhsm_kt_name(k->kt), NULL);
    ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0 &&
         EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) > 0;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return 0;
    k->pub = pub;
    k->public_only = 1;
    return 1;
}

/*
 * A selection with the private key fails, and fails quietly: in OpenSSL 3.0
 * EVP_DigestSignInit first tries the default provider's signature by exporting
 * our key to it, and only when that export fails uses our signature. The
 * failure is the expected path, so it must not leave errors behind.
 */
static int sealhsm_km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg) {
    const SEALHSM_KEY *k = keydata;

    if (k == NULL || k->pub == NULL || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        return 0;
    return EVP_PKEY_export(k->pub, selection, cb, cbarg);
}

/*
 * Everything public comes from the public half (bits, security-bits, max-size,
 * n, e, group-name, pub-x, encoded-pub-key, point-format, mandatory-digest...),
 * so libssl, X.509 and CMS see exactly what they would see for a software key.
 */
static int sealhsm_km_get_params(void *keydata, OSSL_PARAM params[]) {
    const SEALHSM_KEY *k = keydata;
    const char *md = NULL;
    OSSL_PARAM *p;

    if (k == NULL || k->pub == NULL || !EVP_PKEY_get_params(k->pub, params))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST);
    if (p != NULL && (md = sealhsm_key_default_digest(k)) != NULL &&
        !OSSL_PARAM_set_utf8_string(p, md))
        return 0;
    return 1;
}

/* What every key type reports, whatever its algorithm (EVP_PKEY_get_params fills them). */
#define SEALHSM_KM_SIZE_PARAMS                                                                     \
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),                                                    \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),                                       \
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL)

static const OSSL_PARAM sealhsm_km_rsa_gettable[] = {
    SEALHSM_KM_SIZE_PARAMS, OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0), OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END};

static const OSSL_PARAM sealhsm_km_ec_gettable[] = {
    SEALHSM_KM_SIZE_PARAMS,
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
    OSSL_PARAM_END};

static const OSSL_PARAM sealhsm_km_ecx_gettable[] = {
    SEALHSM_KM_SIZE_PARAMS, OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0), OSSL_PARAM_END};

/* What import takes and export gives: the public parts only. */
static const OSSL_PARAM sealhsm_km_rsa_public_params[] = {
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0), OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END};

static const OSSL_PARAM sealhsm_km_ec_public_params[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0), OSSL_PARAM_END};

static const OSSL_PARAM sealhsm_km_ecx_public_params[] = {
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0), OSSL_PARAM_END};

/* Typed declarations: an entry whose signature differs from the core's does not compile. */
static OSSL_FUNC_keymgmt_free_fn sealhsm_km_free;
static OSSL_FUNC_keymgmt_dup_fn sealhsm_km_dup;
static OSSL_FUNC_keymgmt_has_fn sealhsm_km_has;
static OSSL_FUNC_keymgmt_match_fn sealhsm_km_match;
static OSSL_FUNC_keymgmt_import_fn sealhsm_km_import;
static OSSL_FUNC_keymgmt_export_fn sealhsm_km_export;
static OSSL_FUNC_keymgmt_get_params_fn sealhsm_km_get_params;

/*
 * One dispatch table per key type. The per-type wrappers bind the type to the
 * shared functions; op names the signature algorithm (query_operation_name).
 */
#define SEALHSM_KEYMGMT(tname, KT, op, gettable, types)                                            \
    static OSSL_FUNC_keymgmt_new_fn sealhsm_km_##tname##_new;                                      \
    static OSSL_FUNC_keymgmt_load_fn sealhsm_km_##tname##_load;                                    \
    static OSSL_FUNC_keymgmt_query_operation_name_fn sealhsm_km_##tname##_query_operation_name;    \
    static OSSL_FUNC_keymgmt_gettable_params_fn sealhsm_km_##tname##_gettable_params;              \
    static OSSL_FUNC_keymgmt_import_types_fn sealhsm_km_##tname##_types;                           \
    static void *sealhsm_km_##tname##_new(void *provctx) {                                         \
        return sealhsm_km_new(provctx, KT);                                                        \
    }                                                                                              \
    static void *sealhsm_km_##tname##_load(const void *reference, size_t reference_sz) {           \
        return sealhsm_key_load(KT, reference, reference_sz);                                      \
    }                                                                                              \
    static const char *sealhsm_km_##tname##_query_operation_name(int operation_id) {               \
        return operation_id == OSSL_OP_SIGNATURE ? op : NULL;                                      \
    }                                                                                              \
    static const OSSL_PARAM *sealhsm_km_##tname##_gettable_params(void *provctx) {                 \
        return gettable;                                                                           \
    }                                                                                              \
    static const OSSL_PARAM *sealhsm_km_##tname##_types(int selection) {                           \
        return types;                                                                              \
    }                                                                                              \
    static const OSSL_DISPATCH sealhsm_km_##tname##_functions[] = {                                \
        {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))sealhsm_km_##tname##_new},                         \
        {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))sealhsm_km_free},                                 \
        {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))sealhsm_km_dup},                                   \
        {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))sealhsm_km_##tname##_load},                       \
        {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))sealhsm_km_has},                                   \
        {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))sealhsm_km_match},                               \
        {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))sealhsm_km_import},                             \
        {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))sealhsm_km_##tname##_types},              \
        {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))sealhsm_km_export},                             \
        {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))sealhsm_km_##tname##_types},              \
        {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))sealhsm_km_get_params},                     \
        {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))sealhsm_km_##tname##_gettable_params}, \
        {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME,                                                   \
         (void (*)(void))sealhsm_km_##tname##_query_operation_name},                               \
        {0, NULL}}

SEALHSM_KEYMGMT(rsa, SEALHSM_KT_RSA, "RSA", sealhsm_km_rsa_gettable, sealhsm_km_rsa_public_params);
SEALHSM_KEYMGMT(rsapss, SEALHSM_KT_RSA_PSS, "RSA", sealhsm_km_rsa_gettable,
                sealhsm_km_rsa_public_params);
SEALHSM_KEYMGMT(ec, SEALHSM_KT_EC, "ECDSA", sealhsm_km_ec_gettable, sealhsm_km_ec_public_params);
SEALHSM_KEYMGMT(ed25519, SEALHSM_KT_ED25519, "ED25519", sealhsm_km_ecx_gettable,
                sealhsm_km_ecx_public_params);
SEALHSM_KEYMGMT(ed448, SEALHSM_KT_ED448, "ED448", sealhsm_km_ecx_gettable,
                sealhsm_km_ecx_public_params);

const OSSL_ALGORITHM sealhsm_keymgmt_algs[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", "provider=sealhsm", sealhsm_km_rsa_functions,
     "sealhsm RSA key"},
    {"RSA-PSS:RSASSA-PSS:1.2.840.113549.1.1.10", "provider=sealhsm", sealhsm_km_rsapss_functions,
     "sealhsm RSA-PSS public key"},
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", "provider=sealhsm", sealhsm_km_ec_functions,
     "sealhsm EC key"},
    {"ED25519:1.3.101.112", "provider=sealhsm", sealhsm_km_ed25519_functions,
     "sealhsm Ed25519 key"},
    {"ED448:1.3.101.113", "provider=sealhsm", sealhsm_km_ed448_functions, "sealhsm Ed448 key"},
    {NULL, NULL, NULL, NULL}};
