/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sw_decode_response: the client's decoder of every frame the daemon sends, inside
 * every signing process (openssl, nginx, a PKCS#11 application). A client must
 * survive a daemon that is broken or not the daemon at all (anyone who can put a
 * socket where SEALHSM_DAEMON points). What it must hold: what it accepts has
 * fields within their documented bounds (ids of 16 bytes, texts without NUL, at most
 * 4096 bytes); re-encoding gives bytes that decode again, and a second round gives
 * the same bytes; a refusal is SU_EUSAGE (SU_EIO out of memory) with a message and
 * leaves *out empty.
 */
#include "harness.h"
#include "sealwire.h"

#include <string.h>

static void check_text(const char *s) {
    if (s != NULL) {
        FZ_CHECK(strlen(s) <= 4096);
        fz_touch_str(s);
    }
}

static void check_fields(const sw_response *r) {
    check_text(r->message);
    check_text(r->keystore);
    check_text(r->environment);
    check_text(r->label);
    check_text(r->server);
    FZ_CHECK(r->keys != NULL || r->nkeys == 0);
    for (size_t i = 0; i < r->nkeys; i++) {
        check_text(r->keys[i].label);
        fz_touch(r->keys[i].id, SW_KEY_ID_LEN);
        FZ_CHECK(r->keys[i].spki != NULL || r->keys[i].spki_len == 0);
        fz_touch(r->keys[i].spki, r->keys[i].spki_len);
    }
    FZ_CHECK(r->certs != NULL || r->ncerts == 0);
    for (size_t i = 0; i < r->ncerts; i++) {
        FZ_CHECK(r->certs[i].data != NULL || r->certs[i].len == 0);
        fz_touch(r->certs[i].data, r->certs[i].len);
    }
    FZ_CHECK(r->sig != NULL || r->siglen == 0);
    fz_touch(r->sig, r->siglen);
}

static void check_empty(const sw_response *r) {
    FZ_CHECK(r->status == 0 && r->message == NULL && r->keystore == NULL &&
             r->environment == NULL && r->label == NULL && r->server == NULL && r->keys == NULL &&
             r->nkeys == 0 && r->certs == NULL && r->ncerts == 0 && r->sig == NULL);
}

static su_buf encode(const sw_response *r) {
    su_buf b;
    su_error e = {0};
    su_buf_init(&b, 0);
    FZ_CHECK(sw_encode_response(r, &b, &e) == SU_OK);
    FZ_CHECK(b.len > 0 && b.len <= SW_FRAME_MAX);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sw_response r, r2;
    su_error e = {0};

    int rc = sw_decode_response(data, size, &r, &e);
    if (rc != SU_OK) {
        fz_check_refusal(rc, &e, true);
        check_empty(&r);
        return 0;
    }
    check_fields(&r);

    su_buf b1 = encode(&r);
    FZ_CHECK(sw_decode_response(b1.data, b1.len, &r2, &e) == SU_OK);
    check_fields(&r2);
    FZ_CHECK(r2.status == r.status && r2.version == r.version);
    FZ_CHECK(fz_same_str(r2.message, r.message) && fz_same_str(r2.keystore, r.keystore) &&
             fz_same_str(r2.environment, r.environment) && fz_same_str(r2.label, r.label) &&
             fz_same_str(r2.server, r.server));
    FZ_CHECK(r2.has_store_id == r.has_store_id);
    FZ_CHECK(!r.has_store_id || memcmp(r2.store_id, r.store_id, SW_STORE_ID_LEN) == 0);
    FZ_CHECK(r2.nkeys == r.nkeys && r2.ncerts == r.ncerts && r2.siglen == r.siglen);
    FZ_CHECK(r.siglen == 0 || memcmp(r2.sig, r.sig, r.siglen) == 0);
    for (size_t i = 0; i < r.nkeys; i++) {
        const sw_key *a = &r.keys[i], *b = &r2.keys[i];
        FZ_CHECK(memcmp(a->id, b->id, SW_KEY_ID_LEN) == 0);
        FZ_CHECK(a->alg == b->alg && a->bits == b->bits && a->state == b->state);
        FZ_CHECK(!a->generated == !b->generated && !a->key_pin == !b->key_pin);
        FZ_CHECK(a->spki_len == b->spki_len &&
                 (a->spki_len == 0 || memcmp(a->spki, b->spki, a->spki_len) == 0));
    }
    for (size_t i = 0; i < r.ncerts; i++)
        FZ_CHECK(r2.certs[i].len == r.certs[i].len &&
                 (r.certs[i].len == 0 ||
                  memcmp(r2.certs[i].data, r.certs[i].data, r.certs[i].len) == 0));
    su_buf b2 = encode(&r2);
    FZ_CHECK(b2.len == b1.len && memcmp(b2.data, b1.data, b1.len) == 0);

    su_buf_free(&b1);
    su_buf_free(&b2);
    sw_response_clear(&r2);
    sw_response_clear(&r);
    check_empty(&r);
    return 0;
}
