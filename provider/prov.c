/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The provider's entry point: configuration parameters, the known-answer
 * self-tests, the operation tables and error reporting through the core.
 */
#include "prov.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef SEALHSM_VERSION
#define SEALHSM_VERSION "unknown"
#endif

void sealhsm_raise(const SEALHSM_PROV *p, const char *file, int line, const char *func, int reason,
                   const char *fmt, ...) {
    va_list ap;

    if (p == NULL || p->new_error == NULL)
        return;
    p->new_error(p->handle);
    p->set_error_debug(p->handle, file, line, func);
    va_start(ap, fmt);
    p->vset_error(p->handle, (uint32_t)reason, fmt, ap);
    va_end(ap);
}

int sealhsm_prov_running(const SEALHSM_PROV *p) {
    if (p->failure == NULL)
        return 1;
    SEALHSM_ERR(p, p->failure_reason, "sealhsm: provider is in the error state: %s", p->failure);
    return 0;
}

/*
 * A failure at load does not stop the load: the provider stays loaded in an
 * error state so that every use names the cause, where a failed load would
 * leave applications to fall back to other providers (or, loaded through
 * openssl.cnf, say nothing at all). The first failure is kept.
 */
static void enter_error_state(SEALHSM_PROV *p, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void enter_error_state(SEALHSM_PROV *p, int reason, const char *fmt, ...) {
    char msg[256];
    va_list ap;

    if (p->failure != NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->failure_reason = reason;
    /* out of memory here still leaves the provider unusable: status says 0 */
    p->failure = OPENSSL_strdup(msg);
}

/* Reason texts; the core prints them between the function and the message. */
static const OSSL_ITEM sealhsm_reason_strings[] = {
    {SEALHSM_R_USAGE, "invalid argument"},
    {SEALHSM_R_NOT_FOUND, "not found"},
    {SEALHSM_R_NO_PIN, "no PIN available"},
    {SEALHSM_R_PIN, "wrong PIN or locked"},
    {SEALHSM_R_POLICY, "policy denied"},
    {SEALHSM_R_INTEGRITY, "integrity failure"},
    {SEALHSM_R_IO, "keystore I/O or internal error"},
    {SEALHSM_R_SELFTEST, "self-test failed"},
    {SEALHSM_R_UNSUPPORTED, "operation not supported"},
    {SEALHSM_R_PUBLIC_ONLY, "public key only"},
    {SEALHSM_R_WRONG_KEYSTORE, "key reference names another keystore"},
    {SEALHSM_R_BAD_PARAM, "bad parameter"},
    {0, NULL}};

static const OSSL_ITEM *sealhsm_get_reason_strings(void *provctx) {
    return sealhsm_reason_strings;
}

static const OSSL_PARAM sealhsm_param_types[] = {
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0), OSSL_PARAM_END};

static const OSSL_PARAM *sealhsm_gettable_params(void *provctx) {
    return sealhsm_param_types;
}

static int sealhsm_get_params(void *provctx, OSSL_PARAM params[]) {
    const SEALHSM_PROV *p = provctx;
    OSSL_PARAM *q;

    q = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (q != NULL && !OSSL_PARAM_set_utf8_ptr(q, "sealhsm software HSM provider"))
        return 0;
    q = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (q != NULL && !OSSL_PARAM_set_utf8_ptr(q, SEALHSM_VERSION))
        return 0;
    q = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (q != NULL &&
        !OSSL_PARAM_set_utf8_ptr(q, "sealhsm " SEALHSM_VERSION " for " OPENSSL_VERSION_TEXT))
        return 0;
    q = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (q != NULL && !OSSL_PARAM_set_int(q, p->failure == NULL))
        return 0;
    return 1;
}

static const OSSL_ALGORITHM *sealhsm_query_operation(void *provctx, int operation_id,
                                                     int *no_cache) {
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_STORE:
        return sealhsm_store_algs;
    case OSSL_OP_KEYMGMT:
        return sealhsm_keymgmt_algs;
    case OSSL_OP_SIGNATURE:
        return sealhsm_signature_algs;
    case OSSL_OP_ENCODER:
        return sealhsm_encoder_algs;
    case OSSL_OP_DECODER:
        return sealhsm_decoder_algs;
    }
    return NULL;
}

static void sealhsm_prov_free(SEALHSM_PROV *p) {
    if (p == NULL)
        return;
    sealhsm_sessions_free(p);
    OSSL_PROVIDER_unload(p->deflt);
    OSSL_LIB_CTX_free(p->libctx);
    CRYPTO_THREAD_lock_free(p->lock);
    OPENSSL_free(p->daemon);
    OPENSSL_free(p->keystore);
    OPENSSL_free(p->pin_source);
    OPENSSL_free(p->key_pin_source);
    OPENSSL_free(p->environment);
    OPENSSL_free(p->failure);
    OPENSSL_free(p);
}

static void sealhsm_teardown(void *provctx) {
    sealhsm_prov_free(provctx);
}

/* Typed declarations: an entry whose signature differs from the core's does not compile. */
static OSSL_FUNC_provider_teardown_fn sealhsm_teardown;
static OSSL_FUNC_provider_gettable_params_fn sealhsm_gettable_params;
static OSSL_FUNC_provider_get_params_fn sealhsm_get_params;
static OSSL_FUNC_provider_query_operation_fn sealhsm_query_operation;
static OSSL_FUNC_provider_get_reason_strings_fn sealhsm_get_reason_strings;

static const OSSL_DISPATCH sealhsm_dispatch[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))sealhsm_teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))sealhsm_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))sealhsm_get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))sealhsm_query_operation},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))sealhsm_get_reason_strings},
    {0, NULL}};

/* Copies a configuration value; an empty value counts as unset. */
static int dup_param(const char *v, char **out) {
    if (v == NULL || *v == '\0')
        return 1;
    *out = OPENSSL_strdup(v);
    return *out != NULL;
}

/* daemon, keystore, pin-source, key-pin-source, environment, syslog from openssl.cnf
 * (docs/reference.md, Provider parameters). */
static int read_config(SEALHSM_PROV *p, OSSL_FUNC_core_get_params_fn *core_get_params) {
    char *daemon = NULL, *keystore = NULL, *pin_source = NULL, *key_pin_source = NULL,
         *environment = NULL;
    char *syslog = NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_utf8_ptr("daemon", &daemon, 0),
                           OSSL_PARAM_utf8_ptr("keystore", &keystore, 0),
                           OSSL_PARAM_utf8_ptr("pin-source", &pin_source, 0),
                           OSSL_PARAM_utf8_ptr("key-pin-source", &key_pin_source, 0),
                           OSSL_PARAM_utf8_ptr("environment", &environment, 0),
                           OSSL_PARAM_utf8_ptr("syslog", &syslog, 0),
                           OSSL_PARAM_END};
    const char *env;

    if (!core_get_params(p->handle, params))
        return 0;
    if (daemon == NULL || *daemon == '\0')
        daemon = getenv("SEALHSM_DAEMON");
    if (!dup_param(daemon, &p->daemon) || !dup_param(keystore, &p->keystore) ||
        !dup_param(pin_source, &p->pin_source) || !dup_param(key_pin_source, &p->key_pin_source))
        return 0;
    /* audit records of this process also go to syslog, whatever init said */
    p->syslog = syslog != NULL && (strcmp(syslog, "1") == 0 || strcasecmp(syslog, "yes") == 0 ||
                                   strcasecmp(syslog, "true") == 0);
    if (environment == NULL || *environment == '\0')
        environment = getenv("SEALHSM_ENVIRONMENT");
    if (environment == NULL || *environment == '\0')
        environment = "dev";
    if ((env = sc_env_canon(environment)) == NULL) {
        enter_error_state(p, SEALHSM_R_USAGE,
                          "provider parameter environment '%.64s' is not dev, test or prod",
                          environment);
        env = "dev";
    }
    p->environment = OPENSSL_strdup(env);
    return p->environment != NULL;
}

static void record_selftest(const char *name, int ok, void *arg) {
    if (!ok)
        enter_error_state(arg, SEALHSM_R_SELFTEST, "self-test '%s' failed at load", name);
}

static void run_selftests(SEALHSM_PROV *p) {
    su_error e = {0};

    /* a daemon client computes digests only; the daemon tests the rest at its start */
    int rc = p->daemon != NULL ? sc_selftest_client(p->libctx, record_selftest, p, &e)
                               : sc_selftest(p->libctx, record_selftest, p, &e);
    if (rc != SU_OK)
        enter_error_state(p, SEALHSM_R_SELFTEST, "self-tests failed at load: %s", e.msg);
}

/*
 * OpenSSL 3.0 answers a fetch without a property query with the first active
 * provider, in the order of the core's provider list, that offers the
 * algorithm. Our keymgmts carry OpenSSL's names (so libcrypto, X.509, CMS and
 * libssl treat keystore keys as RSA/EC/EdDSA keys) but cannot generate keys;
 * listed before the default provider, as `-provider sealhsm -provider default`
 * does, we would answer "EC" for libssl's ECDHE groups and for genpkey, and
 * libssl would drop the NIST curves (and with them TLS 1.2 ECDSA).
 *
 * A provider joins that list after its init returns, so loading the default
 * provider here puts it first. We hold no reference afterwards: the default
 * provider then stays in the list, active once the application activates it
 * (as it must, for digests and X.509), and a reference kept until our
 * teardown could not be dropped when the core tears us down with its list.
 * The core context is an OSSL_LIB_CTX here: a module loaded by libcrypto
 * shares that libcrypto.
 */
static int default_first(SEALHSM_PROV *p, OSSL_FUNC_core_get_libctx_fn *core_get_libctx) {
    OSSL_LIB_CTX *app = (OSSL_LIB_CTX *)core_get_libctx(p->handle);
    OSSL_PROVIDER *deflt;

    if (OSSL_PROVIDER_available(app, "default"))
        return 1;
    if ((deflt = OSSL_PROVIDER_load(app, "default")) == NULL)
        return 0;
    return OSSL_PROVIDER_unload(deflt);
}

__attribute__((visibility("default"))) int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
                                                              const OSSL_DISPATCH *in,
                                                              const OSSL_DISPATCH **out,
                                                              void **provctx) {
    OSSL_FUNC_core_get_params_fn *core_get_params = NULL;
    OSSL_FUNC_core_get_libctx_fn *core_get_libctx = NULL;
    SEALHSM_PROV *p = OPENSSL_zalloc(sizeof(*p));

    if (p == NULL)
        return 0;
    p->handle = handle;
    for (const OSSL_DISPATCH *f = in; f->function_id != 0; f++) {
        switch (f->function_id) {
        case OSSL_FUNC_CORE_GET_PARAMS:
            core_get_params = OSSL_FUNC_core_get_params(f);
            break;
        case OSSL_FUNC_CORE_GET_LIBCTX:
            core_get_libctx = OSSL_FUNC_core_get_libctx(f);
            break;
        case OSSL_FUNC_CORE_NEW_ERROR:
            p->new_error = OSSL_FUNC_core_new_error(f);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            p->set_error_debug = OSSL_FUNC_core_set_error_debug(f);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            p->vset_error = OSSL_FUNC_core_vset_error(f);
            break;
        }
    }
    if (core_get_params == NULL || core_get_libctx == NULL || p->new_error == NULL ||
        p->set_error_debug == NULL || p->vset_error == NULL)
        goto err;
    /*
     * Unsealed keys are cached per provider context only in the secure heap (locked,
     * cleansed on free), and PINs live there too. The heap is process-wide: turn it
     * on unless the application already has, sized for a few dozen keys.
     */
    if (!CRYPTO_secure_malloc_initialized())
        CRYPTO_secure_malloc_init(1 << 20, 16);
    /* SEALHSM_*PIN* leave the environment for the secure heap (docs/security.md) */
    su_pin_env_scrub();
    /* From the core's dispatch so that BIO_new_from_core_bio() works in it. */
    p->libctx = OSSL_LIB_CTX_new_from_dispatch(handle, in);
    if (p->libctx == NULL || (p->deflt = OSSL_PROVIDER_load(p->libctx, "default")) == NULL)
        goto err;
    if ((p->lock = CRYPTO_THREAD_lock_new()) == NULL || !read_config(p, core_get_params) ||
        !default_first(p, core_get_libctx))
        goto err;
    run_selftests(p);
    *out = sealhsm_dispatch;
    *provctx = p;
    return 1;

err:
    sealhsm_prov_free(p);
    return 0;
}
