/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sw_decode_request: the daemon's decoder of every frame a client sends (and
 * sw_frame_length, its header check). Any local user who may open the socket
 * reaches it. What it must hold (wire/sealwire.h, docs/protocol.md): a request it
 * accepts has what its op needs and fields within their documented bounds;
 * re-encoding what it accepted gives bytes that decode again, and the encoding is
 * canonical (a second round gives the same bytes); a refusal is SU_EUSAGE (SU_EIO
 * out of memory) with a message and leaves *out empty.
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

static void check_fields(const sw_request *r) {
    /* an op newer than this build decodes (the daemon answers that it does not know it) */
    FZ_CHECK(r->op != 0);
    if (r->op == SW_OP_HELLO)
        FZ_CHECK(r->version_min >= 1 && r->version_min <= r->version_max);
    if (r->op == SW_OP_KEY_FIND)
        FZ_CHECK((r->label != NULL) != (r->has_id != 0));
    if (r->op == SW_OP_CERT_GET || r->op == SW_OP_SIGN)
        FZ_CHECK(r->has_id);
    if (r->op == SW_OP_SIGN)
        FZ_CHECK(r->tbs != NULL);
    check_text(r->label);
    check_text(r->digest);
    check_text(r->mgf1_digest);
    fz_touch(r->tbs, r->tbslen);
    if (r->key_pin != NULL) {
        FZ_CHECK(r->key_pin->len >= 6 && r->key_pin->len <= 256);
        fz_touch(r->key_pin->data, r->key_pin->len);
    }
}

static void check_empty(const sw_request *r) {
    FZ_CHECK(r->op == 0 && r->label == NULL && r->digest == NULL && r->mgf1_digest == NULL &&
             r->tbs == NULL && r->key_pin == NULL);
}

/* encodes r into a fresh buffer (secure, as the client does for a key PIN) */
static su_buf encode(const sw_request *r) {
    su_buf b;
    su_error e = {0};
    su_buf_init(&b, r->key_pin != NULL);
    FZ_CHECK(sw_encode_request(r, &b, &e) == SU_OK);
    FZ_CHECK(b.len > 0 && b.len <= SW_FRAME_MAX);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sw_request r, r2;
    su_error e = {0};
    size_t n;

    if (size >= SW_FRAME_HDR) {
        su_error fe = {0};
        int frc = sw_frame_length(data, &n, &fe);
        if (frc == SU_OK)
            FZ_CHECK(n >= 1 && n <= SW_FRAME_MAX);
        else
            fz_check_refusal(frc, &fe, false);
    }

    int rc = sw_decode_request(data, size, &r, &e);
    if (rc != SU_OK) {
        fz_check_refusal(rc, &e, true);
        check_empty(&r);
        return 0;
    }
    check_fields(&r);

    su_buf b1 = encode(&r);
    FZ_CHECK(sw_decode_request(b1.data, b1.len, &r2, &e) == SU_OK);
    check_fields(&r2);
    FZ_CHECK(r2.op == r.op && r2.has_id == r.has_id);
    FZ_CHECK(!r.has_id || memcmp(r2.id, r.id, SW_KEY_ID_LEN) == 0);
    FZ_CHECK((r2.label == NULL) == (r.label == NULL));
    FZ_CHECK(r.label == NULL || strcmp(r2.label, r.label) == 0);
    if (r.op == SW_OP_HELLO)
        FZ_CHECK(r2.version_min == r.version_min && r2.version_max == r.version_max);
    if (r.op == SW_OP_SIGN) {
        FZ_CHECK(r2.tbslen == r.tbslen && memcmp(r2.tbs, r.tbs, r.tbslen) == 0);
        FZ_CHECK((r2.digest == NULL) == (r.digest == NULL));
        FZ_CHECK(r.digest == NULL || strcmp(r2.digest, r.digest) == 0);
        FZ_CHECK(r2.padding == r.padding);
        FZ_CHECK(r.padding == 0 || r2.pss_saltlen == r.pss_saltlen);
        FZ_CHECK((r2.key_pin == NULL) == (r.key_pin == NULL));
        FZ_CHECK(r.key_pin == NULL ||
                 (r2.key_pin->len == r.key_pin->len &&
                  memcmp(r2.key_pin->data, r.key_pin->data, r.key_pin->len) == 0));
    }
    su_buf b2 = encode(&r2);
    FZ_CHECK(b2.len == b1.len && memcmp(b2.data, b1.data, b1.len) == 0);

    su_buf_free(&b1);
    su_buf_free(&b2);
    sw_request_clear(&r2);
    sw_request_clear(&r);
    check_empty(&r);
    return 0;
}
