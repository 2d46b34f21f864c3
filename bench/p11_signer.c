/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p11_signer.c: sign_bench's PKCS#11 backend (see signer.h). It calls the module's
 * function list directly, C_SignInit + C_Sign per signature in one session per thread,
 * which is the cheapest way any application can reach a PKCS#11 key: no engine and no
 * provider between the loop and the module, so the peer is measured at its best.
 */
#define CRYPTOKI_GNU 1
#include <dlfcn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signer.h"

typedef struct p11 {
    void *dl;
    struct ck_function_list *f;
    ck_slot_id_t slot;
    ck_object_handle_t priv, pub;
    ck_mechanism_type_t mech;
    int prehash; /* ECDSA: hash here, sign the digest */
    size_t half; /* ECDSA: bytes of r (and of s) in the token's signatures */
    struct ck_rsa_pkcs_pss_params pss;
} p11;

static void p11_fail(const char *what, ck_rv_t rv) {
    fprintf(stderr, "sign_bench: pkcs11: %s failed: CKR 0x%lx\n", what, (unsigned long)rv);
}

/* CKM_* and its parameter for one signature; the prehashed data for ECDSA */
static int p11_input(signer *s, struct ck_mechanism *m, unsigned char *md, const void **data,
                     unsigned long *len) {
    p11 *p = s->impl;
    m->mechanism = p->mech;
    m->parameter = p->mech == CKM_SHA256_RSA_PKCS_PSS ? &p->pss : NULL;
    m->parameter_len = p->mech == CKM_SHA256_RSA_PKCS_PSS ? sizeof(p->pss) : 0;
    *data = s->msg;
    *len = s->msglen;
    if (p->prehash) {
        unsigned int mdlen = 0;
        if (EVP_Digest(s->msg, s->msglen, md, &mdlen, EVP_sha256(), NULL) != 1)
            return 0;
        *data = md;
        *len = mdlen;
    }
    return 1;
}

/*
 * PKCS#11 ECDSA signatures are r || s; applications (and libp11) hand out the DER
 * ECDSA-Sig-Value that OpenSSL makes, so the bench converts as they do.
 */
static int ecdsa_raw_to_der(unsigned char *sig, size_t *siglen, size_t cap) {
    ECDSA_SIG *e = ECDSA_SIG_new();
    size_t half = *siglen / 2;
    BIGNUM *r = BN_bin2bn(sig, (int)half, NULL), *sv = BN_bin2bn(sig + half, (int)half, NULL);
    unsigned char der[256], *q = der;
    int n = -1;
    if (e != NULL && r != NULL && sv != NULL && ECDSA_SIG_set0(e, r, sv) == 1) {
        r = sv = NULL;
        n = i2d_ECDSA_SIG(e, NULL) <= (int)sizeof(der) ? i2d_ECDSA_SIG(e, &q) : -1;
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(e);
    if (n <= 0 || (size_t)n > cap)
        return 0;
    memcpy(sig, der, (size_t)n);
    *siglen = (size_t)n;
    return 1;
}

static int ecdsa_der_to_raw(const unsigned char *der, size_t len, unsigned char *raw, size_t half) {
    ECDSA_SIG *e = d2i_ECDSA_SIG(NULL, &der, (long)len);
    int ok = e != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(e), raw, (int)half) == (int)half &&
             BN_bn2binpad(ECDSA_SIG_get0_s(e), raw + half, (int)half) == (int)half;
    ECDSA_SIG_free(e);
    return ok;
}

static void *p11_thread_begin(signer *s) {
    p11 *p = s->impl;
    ck_session_handle_t *h = malloc(sizeof(*h));
    ck_rv_t rv;
    if (h == NULL)
        return NULL;
    if ((rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL, h)) != CKR_OK) {
        p11_fail("C_OpenSession", rv);
        free(h);
        return NULL;
    }
    return h;
}

static int p11_sign(signer *s, void *thread, unsigned char *sig, size_t *siglen) {
    p11 *p = s->impl;
    ck_session_handle_t h = *(ck_session_handle_t *)thread;
    struct ck_mechanism m;
    unsigned char md[EVP_MAX_MD_SIZE];
    const void *data;
    unsigned long len, outlen = *siglen;
    size_t cap = *siglen;
    ck_rv_t rv;
    if (!p11_input(s, &m, md, &data, &len))
        return 0;
    if ((rv = p->f->C_SignInit(h, &m, p->priv)) != CKR_OK) {
        p11_fail("C_SignInit", rv);
        return 0;
    }
    if ((rv = p->f->C_Sign(h, (unsigned char *)data, len, sig, &outlen)) != CKR_OK) {
        p11_fail("C_Sign", rv);
        return 0;
    }
    *siglen = outlen;
    if (!p->prehash)
        return 1;
    p->half = outlen / 2;
    return ecdsa_raw_to_der(sig, siglen, cap);
}

static void p11_thread_end(signer *s, void *thread) {
    p11 *p = s->impl;
    p->f->C_CloseSession(*(ck_session_handle_t *)thread);
    free(thread);
}

static int p11_verify(signer *s, const unsigned char *sig, size_t siglen) {
    p11 *p = s->impl;
    void *t;
    struct ck_mechanism m;
    unsigned char md[EVP_MAX_MD_SIZE];
    const void *data;
    unsigned char raw[264];
    unsigned long len;
    if (p->prehash) {
        if (2 * p->half > sizeof(raw) || !ecdsa_der_to_raw(sig, siglen, raw, p->half))
            return 0;
        sig = raw;
        siglen = 2 * p->half;
    }
    t = p11_thread_begin(s);
    int ok = t != NULL && p11_input(s, &m, md, &data, &len) &&
             p->f->C_VerifyInit(*(ck_session_handle_t *)t, &m, p->pub) == CKR_OK &&
             p->f->C_Verify(*(ck_session_handle_t *)t, (unsigned char *)data, len,
                            (unsigned char *)sig, siglen) == CKR_OK;
    if (t != NULL)
        p11_thread_end(s, t);
    return ok;
}

static void p11_close(signer *s) {
    p11 *p = s->impl;
    if (p == NULL)
        return;
    if (p->f != NULL)
        p->f->C_Finalize(NULL);
    if (p->dl != NULL)
        dlclose(p->dl);
    free(p);
    s->impl = NULL;
}

static int find_object(p11 *p, ck_session_handle_t h, ck_object_class_t cls, const char *label,
                       ck_object_handle_t *out) {
    struct ck_attribute tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                                  {CKA_LABEL, (void *)label, strlen(label)}};
    unsigned long n = 0;
    int ok = p->f->C_FindObjectsInit(h, tmpl, 2) == CKR_OK &&
             p->f->C_FindObjects(h, out, 1, &n) == CKR_OK;
    p->f->C_FindObjectsFinal(h);
    return ok && n == 1;
}

/* the slot whose token label (blank-padded to 32 bytes) is `token` */
static int find_slot(p11 *p, const char *token) {
    ck_slot_id_t slots[64];
    unsigned long n = 64;
    size_t tl = strlen(token);
    if (p->f->C_GetSlotList(1, slots, &n) != CKR_OK)
        return 0;
    for (unsigned long i = 0; i < n; i++) {
        struct ck_token_info ti;
        if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK || tl > sizeof(ti.label) ||
            memcmp(ti.label, token, tl) != 0)
            continue;
        size_t j = tl;
        while (j < sizeof(ti.label) && ti.label[j] == ' ')
            j++;
        if (j == sizeof(ti.label)) {
            p->slot = slots[i];
            return 1;
        }
    }
    return 0;
}

static int pick_mechanism(signer *s, p11 *p) {
    if (strcmp(s->alg, "eddsa") != 0 && strcasecmp(s->digest, "SHA256") != 0) {
        fprintf(stderr, "sign_bench: pkcs11: only --digest SHA256\n");
        return 0;
    }
    if (strcmp(s->alg, "rsa-pkcs1") == 0) {
        p->mech = CKM_SHA256_RSA_PKCS;
    } else if (strcmp(s->alg, "rsa-pss") == 0) {
        p->mech = CKM_SHA256_RSA_PKCS_PSS;
        p->pss = (struct ck_rsa_pkcs_pss_params){CKM_SHA256, CKG_MGF1_SHA256, 32};
    } else if (strcmp(s->alg, "ecdsa") == 0) {
        p->mech = CKM_ECDSA;
        p->prehash = 1;
    } else if (strcmp(s->alg, "eddsa") == 0) {
        p->mech = CKM_EDDSA;
    } else {
        fprintf(stderr, "sign_bench: pkcs11: unknown --alg %s\n", s->alg);
        return 0;
    }
    return 1;
}

int p11_signer_open(signer *s, const char *module, const char *token, const char *label,
                    const char *pin) {
    p11 *p = calloc(1, sizeof(*p));
    CK_C_GetFunctionList get;
    struct ck_c_initialize_args init = {.flags = CKF_OS_LOCKING_OK};
    ck_session_handle_t h;
    ck_rv_t rv;
    if (p == NULL)
        return 0;
    s->impl = p;
    s->thread_begin = p11_thread_begin;
    s->sign = p11_sign;
    s->thread_end = p11_thread_end;
    s->verify = p11_verify;
    s->close = p11_close;
    if (!pick_mechanism(s, p))
        return 0;
    if ((p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "sign_bench: pkcs11: cannot load %s: %s\n", module, dlerror());
        return 0;
    }
    get = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
    if (get == NULL || get(&p->f) != CKR_OK) {
        fprintf(stderr, "sign_bench: pkcs11: %s has no function list\n", module);
        return 0;
    }
    if ((rv = p->f->C_Initialize(&init)) != CKR_OK) {
        p11_fail("C_Initialize", rv);
        p->f = NULL;
        return 0;
    }
    if (!find_slot(p, token)) {
        fprintf(stderr, "sign_bench: pkcs11: no token labelled %s\n", token);
        return 0;
    }
    if ((rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION, NULL, NULL, &h)) != CKR_OK) {
        p11_fail("C_OpenSession", rv);
        return 0;
    }
    /* the login belongs to the application, so every session of every thread shares it */
    rv = p->f->C_Login(h, CKU_USER, (unsigned char *)pin, strlen(pin));
    int ok = rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN;
    if (!ok)
        p11_fail("C_Login", rv);
    else if (!find_object(p, h, CKO_PRIVATE_KEY, label, &p->priv) ||
             !find_object(p, h, CKO_PUBLIC_KEY, label, &p->pub)) {
        fprintf(stderr, "sign_bench: pkcs11: no key pair labelled %s on %s\n", label, token);
        ok = 0;
    }
    /* the session stays open: closing a token's last session logs the application out */
    return ok;
}
