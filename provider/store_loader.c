/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OSSL_OP_STORE for the scheme "sealhsm" (docs/reference.md, URIs): a URI names one key by
 * label or id; loading it yields the key (as a reference for our keymgmt) and
 * then the certificates stored with it.
 */
#include "prov.h"

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/store.h>
#include <string.h>

typedef struct sealhsm_loader {
    SEALHSM_PROV *prov;
    su_uri uri;
    SEALHSM_SESSION *sess;
    int expect;     /* OSSL_STORE_INFO_* the application asked for, 0 = anything */
    int failed;     /* a load failed: nothing more will come (eof), so callers stop */
    int key_done;   /* the key was passed (or is not wanted) */
    int certs_read; /* certs/ncerts hold the stored chain */
    sc_blob *certs;
    size_t ncerts, next_cert;
    unsigned char id[SC_KEY_ID_LEN];
    char *label;
} SEALHSM_LOADER;

static void *sealhsm_store_open(void *provctx, const char *uri) {
    SEALHSM_PROV *p = provctx;
    SEALHSM_LOADER *ctx;
    su_error e = {0};

    if (!sealhsm_prov_running(p))
        return NULL;
    if ((ctx = OPENSSL_zalloc(sizeof(*ctx))) == NULL)
        return NULL;
    ctx->prov = p;
    if (su_uri_parse(uri, &ctx->uri, &e) != SU_OK) {
        SEALHSM_CLIENT_ERR(p, &e);
        goto err;
    }
    /* ;keystore= overrides the configured keystore for this URI only */
    if ((ctx->sess = sealhsm_session_get(p, ctx->uri.keystore)) == NULL)
        goto err;
    return ctx;

err:
    su_uri_clear(&ctx->uri);
    OPENSSL_free(ctx);
    return NULL;
}

/*
 * "expect" narrows what load returns: a public-key request gets a public-only
 * key, a certificate request skips the key. "subject" and
 * the other search criteria do not apply to a URI that names one key.
 */
static int sealhsm_store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[]) {
    SEALHSM_LOADER *ctx = loaderctx;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);

    return p == NULL || OSSL_PARAM_get_int(p, &ctx->expect);
}

static const OSSL_PARAM *sealhsm_store_settable_ctx_params(void *provctx) {
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
        OSSL_PARAM_octet_string(OSSL_STORE_PARAM_SUBJECT, NULL, 0), OSSL_PARAM_END};
    return settable;
}

static int wants_key(const SEALHSM_LOADER *ctx) {
    return ctx->uri.type != SU_URI_CERT && ctx->expect != OSSL_STORE_INFO_CERT;
}

static int wants_certs(const SEALHSM_LOADER *ctx) {
    return (ctx->uri.type == SU_URI_ANY || ctx->uri.type == SU_URI_CERT) &&
           (ctx->expect == 0 || ctx->expect == OSSL_STORE_INFO_CERT);
}

static int public_only(const SEALHSM_LOADER *ctx) {
    return ctx->uri.type == SU_URI_PUBLIC || ctx->expect == OSSL_STORE_INFO_PUBKEY;
}

/* The key the URI names; remembers its id and label for the certificate step. */
static sc_key *find_key(SEALHSM_LOADER *ctx) {
    sc_key *info = NULL;

    if (!sealhsm_session_key_get(ctx->sess, ctx->uri.label, ctx->uri.has_id ? ctx->uri.id : NULL,
                                 &info))
        return NULL;
    memcpy(ctx->id, info->id, sizeof(ctx->id));
    if (ctx->label == NULL && (ctx->label = OPENSSL_strdup(info->label)) == NULL) {
        sc_key_free(info);
        return NULL;
    }
    return info;
}

static int load_key(SEALHSM_LOADER *ctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
                    OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
    sc_key *info;
    int ok;

    if ((info = find_key(ctx)) == NULL)
        return 0;
    ok = sealhsm_key_emit(ctx->sess, info, public_only(ctx), pw_cb, pw_cbarg, object_cb,
                          object_cbarg);
    sc_key_free(info);
    return ok;
}

static int read_certs(SEALHSM_LOADER *ctx) {
    sc_key *info;

    if (ctx->label == NULL) {
        if ((info = find_key(ctx)) == NULL)
            return 0;
        sc_key_free(info);
    }
    if (!sealhsm_session_cert_get(ctx->sess, ctx->id, &ctx->certs, &ctx->ncerts))
        return 0;
    ctx->certs_read = 1;
    if (ctx->ncerts == 0 && ctx->uri.type == SU_URI_CERT) {
        SEALHSM_ERR(ctx->prov, SEALHSM_R_NOT_FOUND,
                    "sealhsm: no certificate is stored with key '%s'", ctx->label);
        return 0;
    }
    return 1;
}

static int load_cert(SEALHSM_LOADER *ctx, OSSL_CALLBACK *object_cb, void *object_cbarg) {
    sc_blob *c = &ctx->certs[ctx->next_cert++];
    int objtype = OSSL_OBJECT_CERT;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype),
        OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, c->data, c->len), OSSL_PARAM_END};

    return object_cb(params, object_cbarg);
}

static int load_next(SEALHSM_LOADER *ctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
                     OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
    if (!ctx->key_done) {
        ctx->key_done = 1;
        if (wants_key(ctx))
            return load_key(ctx, object_cb, object_cbarg, pw_cb, pw_cbarg);
    }
    if (!wants_certs(ctx))
        return 1;
    if (!ctx->certs_read && !read_certs(ctx))
        return 0;
    if (ctx->next_cert < ctx->ncerts)
        return load_cert(ctx, object_cb, object_cbarg);
    return 1;
}

/*
 * One object per call: the key first, then each stored certificate. The store
 * shows keys only to a logged-in role, and the application's passphrase
 * callback is reachable only here, so every load logs in first (once done, a
 * no-op).
 */
static int sealhsm_store_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
                              OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg) {
    SEALHSM_LOADER *ctx = loaderctx;

    if (!sealhsm_prov_running(ctx->prov) || !sealhsm_session_login(ctx->sess, pw_cb, pw_cbarg) ||
        !load_next(ctx, object_cb, object_cbarg, pw_cb, pw_cbarg)) {
        ctx->failed = 1;
        return 0;
    }
    return 1;
}

static int sealhsm_store_eof(void *loaderctx) {
    const SEALHSM_LOADER *ctx = loaderctx;

    if (ctx->failed)
        return 1;
    if (!ctx->key_done)
        return 0;
    if (!wants_certs(ctx))
        return 1;
    return ctx->certs_read && ctx->next_cert >= ctx->ncerts;
}

static int sealhsm_store_close(void *loaderctx) {
    SEALHSM_LOADER *ctx = loaderctx;

    su_uri_clear(&ctx->uri);
    sc_blobs_free(ctx->certs, ctx->ncerts);
    OPENSSL_free(ctx->label);
    OPENSSL_free(ctx);
    return 1;
}

/* Typed declarations: an entry whose signature differs from the core's does not compile. */
static OSSL_FUNC_store_open_fn sealhsm_store_open;
static OSSL_FUNC_store_settable_ctx_params_fn sealhsm_store_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn sealhsm_store_set_ctx_params;
static OSSL_FUNC_store_load_fn sealhsm_store_load;
static OSSL_FUNC_store_eof_fn sealhsm_store_eof;
static OSSL_FUNC_store_close_fn sealhsm_store_close;

static const OSSL_DISPATCH sealhsm_store_functions[] = {
    {OSSL_FUNC_STORE_OPEN, (void (*)(void))sealhsm_store_open},
    {OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, (void (*)(void))sealhsm_store_settable_ctx_params},
    {OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))sealhsm_store_set_ctx_params},
    {OSSL_FUNC_STORE_LOAD, (void (*)(void))sealhsm_store_load},
    {OSSL_FUNC_STORE_EOF, (void (*)(void))sealhsm_store_eof},
    {OSSL_FUNC_STORE_CLOSE, (void (*)(void))sealhsm_store_close},
    {0, NULL}};

const OSSL_ALGORITHM sealhsm_store_algs[] = {{"sealhsm", "provider=sealhsm",
                                              sealhsm_store_functions,
                                              "sealhsm keystore keys and certificates"},
                                             {NULL, NULL, NULL, NULL}};
