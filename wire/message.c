/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests and responses as CBOR maps (docs/protocol.md), encoded and decoded
 * with libcbor (docs/decisions.md says why).
 *
 * Decoding is two passes over the payload. The first, with libcbor's streaming
 * decoder, only checks the shape: one item filling the buffer, definite
 * lengths, no tags, nesting at most MAX_DEPTH, and no array or map announcing
 * more members than there are bytes left. Only then does cbor_load build the
 * item tree: a short hostile input cannot make it allocate gigabytes or make
 * cbor_decref recurse deeply. The second pass walks the tree into the
 * caller's struct, skipping keys it does not know.
 */
#include "sealwire.h"

#include <cbor.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 4

/* Field keys (docs/protocol.md). */
enum {
    RQ_OP = 0,
    RQ_VMIN = 1,
    RQ_VMAX = 2,
    RQ_LABEL = 10,
    RQ_ID = 11,
    RQ_DIGEST = 20,
    RQ_PADDING = 21,
    RQ_MGF1 = 22,
    RQ_SALTLEN = 23,
    RQ_TBS = 24,
    RQ_KEY_PIN = 25
};
enum {
    RS_STATUS = 0,
    RS_MESSAGE = 1,
    RS_VERSION = 2,
    RS_STORE_ID = 30,
    RS_KEYSTORE = 31,
    RS_ENVIRONMENT = 32,
    RS_LABEL = 33,
    RS_SERVER = 34,
    RS_UPTIME = 40,
    RS_CLIENTS = 41,
    RS_SIGNATURES = 42,
    RS_KEYS = 50,
    RS_CERTS = 60,
    RS_SIG = 70
};
enum {
    KY_ID = 0,
    KY_LABEL = 1,
    KY_ALG = 2,
    KY_BITS = 3,
    KY_STATE = 4,
    KY_GENERATED = 5,
    KY_KEY_PIN = 6,
    KY_SPKI = 7
};

#define TEXT_MAX 4096 /* labels, digests, paths, messages */

/* ---- pass 1: shape ------------------------------------------------------------- */

typedef struct shape {
    size_t left_bytes; /* bytes after the current item's header */
    int depth;
    uint64_t members[MAX_DEPTH]; /* items still expected at each open level */
    int bad;
} shape;

static void item_done(shape *s) {
    if (s->depth > 0)
        s->members[s->depth - 1]--;
    while (s->depth > 0 && s->members[s->depth - 1] == 0)
        s->depth--;
}

static void open_level(shape *s, uint64_t n) {
    if (s->depth > 0)
        s->members[s->depth - 1]--;
    if (n == 0) {
        while (s->depth > 0 && s->members[s->depth - 1] == 0)
            s->depth--;
        return;
    }
    /* every member takes at least one byte */
    if (s->depth >= MAX_DEPTH || n > s->left_bytes) {
        s->bad = 1;
        return;
    }
    s->members[s->depth++] = n;
}

static void sh_scalar(void *ctx) {
    item_done(ctx);
}
static void sh_u8(void *c, uint8_t v) {
    item_done(c);
}
static void sh_u16(void *c, uint16_t v) {
    item_done(c);
}
static void sh_u32(void *c, uint32_t v) {
    item_done(c);
}
static void sh_u64(void *c, uint64_t v) {
    item_done(c);
}
static void sh_str(void *c, cbor_data d, size_t n) {
    item_done(c);
}
static void sh_float(void *c, float v) {
    item_done(c);
}
static void sh_double(void *c, double v) {
    item_done(c);
}
static void sh_bool(void *c, bool v) {
    item_done(c);
}
static void sh_array(void *c, size_t n) {
    open_level(c, n);
}
static void sh_map(void *c, size_t n) {
    shape *s = c;
    if (n > SIZE_MAX / 2)
        s->bad = 1;
    else
        open_level(s, (uint64_t)n * 2);
}
static void sh_bad(void *c) {
    ((shape *)c)->bad = 1;
}
static void sh_bad_tag(void *c, uint64_t v) {
    ((shape *)c)->bad = 1;
}

static const struct cbor_callbacks shape_callbacks = {
    .uint8 = sh_u8,
    .uint16 = sh_u16,
    .uint32 = sh_u32,
    .uint64 = sh_u64,
    .negint8 = sh_u8,
    .negint16 = sh_u16,
    .negint32 = sh_u32,
    .negint64 = sh_u64,
    .byte_string = sh_str,
    .byte_string_start = sh_bad,
    .string = sh_str,
    .string_start = sh_bad,
    .array_start = sh_array,
    .indef_array_start = sh_bad,
    .map_start = sh_map,
    .indef_map_start = sh_bad,
    .tag = sh_bad_tag,
    .float2 = sh_float,
    .float4 = sh_float,
    .float8 = sh_double,
    .undefined = sh_scalar,
    .null = sh_scalar,
    .boolean = sh_bool,
    .indef_break = sh_bad,
};

/* True when buf is exactly one definite, shallow, plausible item, a map at the top. */
static bool well_shaped(const unsigned char *buf, size_t len) {
    shape s = {0};
    size_t off = 0;

    if (len == 0 || (buf[0] >> 5) != 5 /* major type 5: map */)
        return false;
    do {
        s.left_bytes = len - off;
        struct cbor_decoder_result r =
            cbor_stream_decode(buf + off, len - off, &shape_callbacks, &s);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || s.bad)
            return false;
        off += r.read;
        s.left_bytes = len - off;
        if (s.depth > 0 && s.members[s.depth - 1] > s.left_bytes)
            return false;
    } while (s.depth > 0 && off < len);
    return s.depth == 0 && off == len;
}

/* The item tree of a well-shaped payload, or NULL. */
static cbor_item_t *load(const unsigned char *buf, size_t len, su_error *e) {
    struct cbor_load_result res;
    cbor_item_t *it;

    if (len > SW_FRAME_MAX || !well_shaped(buf, len)) {
        su_err(e, SU_EUSAGE, "malformed message");
        return NULL;
    }
    it = cbor_load(buf, len, &res);
    if (it == NULL) {
        su_err(e, res.error.code == CBOR_ERR_MEMERROR ? SU_EIO : SU_EUSAGE, "malformed message");
        return NULL;
    }
    if (res.read != len || !cbor_isa_map(it)) {
        cbor_decref(&it);
        su_err(e, SU_EUSAGE, "malformed message");
        return NULL;
    }
    return it;
}

/* ---- pass 2: fields ------------------------------------------------------------- */

#define KEY_MAX 1000

/* The integer keys of one map met so far: the same key twice is malformed. */
typedef struct seen_keys {
    uint64_t bits[KEY_MAX / 64 + 1];
} seen_keys;

/*
 * The integer key of a pair, or -1 for a text (or other, or larger) key, which is
 * skipped; -2 for an integer key already met in this map.
 */
static int64_t key_of(const cbor_item_t *k, seen_keys *seen) {
    uint64_t v;
    if (!cbor_isa_uint(k) || (v = cbor_get_int(k)) > KEY_MAX)
        return -1;
    if (seen->bits[v / 64] & (1ull << (v % 64)))
        return -2;
    seen->bits[v / 64] |= 1ull << (v % 64);
    return (int64_t)v;
}

static bool get_uint(const cbor_item_t *v, uint64_t max, uint64_t *out) {
    if (!cbor_isa_uint(v) || cbor_get_int(v) > max)
        return false;
    *out = cbor_get_int(v);
    return true;
}

static bool get_u32(const cbor_item_t *v, uint32_t *out) {
    uint64_t x;
    if (!get_uint(v, UINT32_MAX, &x))
        return false;
    *out = (uint32_t)x;
    return true;
}

static bool get_bool(const cbor_item_t *v, int *out) {
    /* libcbor 0.8's cbor_is_bool asserts on a float: simple values (width 0) only */
    if (!cbor_isa_float_ctrl(v) || cbor_float_get_width(v) != CBOR_FLOAT_0 || !cbor_is_bool(v))
        return false;
    *out = cbor_get_bool(v);
    return true;
}

/* A signed 32-bit integer (PSS salt lengths are negative for OpenSSL's specials). */
static bool get_i32(const cbor_item_t *v, int32_t *out) {
    /* libcbor asserts on cbor_get_int of a non-integer: the type is checked first,
     * or one frame from any client would abort the daemon */
    if (!cbor_isa_uint(v) && !cbor_isa_negint(v))
        return false;
    uint64_t x = cbor_get_int(v);
    if (cbor_isa_uint(v) && x <= INT32_MAX) {
        *out = (int32_t)x;
        return true;
    }
    if (cbor_isa_negint(v) && x <= (uint64_t)INT32_MAX) { /* value is -1 - x */
        *out = (int32_t)(-1 - (int64_t)x);
        return true;
    }
    return false;
}

/* A text field as a fresh NUL-terminated string; no embedded NUL, no duplicate. */
static bool get_text(const cbor_item_t *v, char **out) {
    size_t n;
    if (*out != NULL || !cbor_isa_string(v) || !cbor_string_is_definite(v))
        return false;
    n = cbor_string_length(v);
    if (n > TEXT_MAX || (n > 0 && memchr(cbor_string_handle(v), 0, n) != NULL))
        return false;
    if ((*out = malloc(n + 1)) == NULL)
        return false;
    if (n > 0)
        memcpy(*out, cbor_string_handle(v), n);
    (*out)[n] = '\0';
    return true;
}

static bool is_bytes(const cbor_item_t *v) {
    return cbor_isa_bytestring(v) && cbor_bytestring_is_definite(v);
}

static bool get_fixed(const cbor_item_t *v, unsigned char *out, size_t n) {
    if (!is_bytes(v) || cbor_bytestring_length(v) != n)
        return false;
    memcpy(out, cbor_bytestring_handle(v), n);
    return true;
}

static bool get_bytes(const cbor_item_t *v, unsigned char **out, size_t *n) {
    size_t len;
    if (*out != NULL || !is_bytes(v))
        return false;
    len = cbor_bytestring_length(v);
    if ((*out = malloc(len > 0 ? len : 1)) == NULL)
        return false;
    if (len > 0)
        memcpy(*out, cbor_bytestring_handle(v), len);
    *n = len;
    return true;
}

/* The key PIN straight into the secure heap; libcbor's copy is cleansed by the caller. */
static bool get_pin(const cbor_item_t *v, su_pin **out) {
    size_t n;
    if (*out != NULL || !is_bytes(v))
        return false;
    n = cbor_bytestring_length(v);
    if (n < SU_PIN_MIN || n > SU_PIN_MAX)
        return false;
    return (*out = su_pin_new(cbor_bytestring_handle(v), n)) != NULL;
}

/* Wipes every byte string of a loaded request before it is freed (a key PIN). */
static void cleanse_bytes(cbor_item_t *it) {
    struct cbor_pair *pairs = cbor_map_handle(it);
    for (size_t i = 0; i < cbor_map_size(it); i++)
        if (is_bytes(pairs[i].value) && cbor_bytestring_length(pairs[i].value) > 0)
            OPENSSL_cleanse(cbor_bytestring_handle(pairs[i].value),
                            cbor_bytestring_length(pairs[i].value));
}

void sw_request_clear(sw_request *r) {
    free(r->label);
    free(r->digest);
    free(r->mgf1_digest);
    free(r->tbs);
    su_pin_free(r->key_pin);
    memset(r, 0, sizeof(*r));
}

static bool request_field(sw_request *r, int64_t k, const cbor_item_t *v, int *have_op) {
    if (k == -2)
        return false; /* a key twice */
    switch (k) {
    case RQ_OP:
        *have_op = 1;
        return get_u32(v, &r->op);
    case RQ_VMIN:
        return get_u32(v, &r->version_min);
    case RQ_VMAX:
        return get_u32(v, &r->version_max);
    case RQ_LABEL:
        return get_text(v, &r->label);
    case RQ_ID:
        return !r->has_id && (r->has_id = get_fixed(v, r->id, SW_KEY_ID_LEN));
    case RQ_DIGEST:
        return get_text(v, &r->digest);
    case RQ_PADDING:
        return get_u32(v, &r->padding);
    case RQ_MGF1:
        return get_text(v, &r->mgf1_digest);
    case RQ_SALTLEN:
        return get_i32(v, &r->pss_saltlen);
    case RQ_TBS:
        return get_bytes(v, &r->tbs, &r->tbslen);
    case RQ_KEY_PIN:
        return get_pin(v, &r->key_pin);
    }
    return true; /* unknown: skipped */
}

/* What each op needs; anything more is ignored by the daemon. */
static bool request_complete(const sw_request *r) {
    switch (r->op) {
    case SW_OP_HELLO:
        return r->version_min >= 1 && r->version_min <= r->version_max;
    case SW_OP_STATUS:
    case SW_OP_KEY_LIST:
        return true;
    case SW_OP_KEY_FIND:
        return (r->label != NULL) != (r->has_id != 0);
    case SW_OP_CERT_GET:
        return r->has_id;
    case SW_OP_SIGN:
        return r->has_id && r->tbs != NULL;
    }
    return r->op != 0; /* a newer op: the daemon answers that it does not know it */
}

int sw_decode_request(const unsigned char *buf, size_t len, sw_request *out, su_error *e) {
    seen_keys seen = {{0}};
    cbor_item_t *it;
    struct cbor_pair *pairs;
    int have_op = 0, ok = 1;

    memset(out, 0, sizeof(*out));
    if ((it = load(buf, len, e)) == NULL)
        return e != NULL ? e->code : SU_EUSAGE;
    pairs = cbor_map_handle(it);
    for (size_t i = 0; ok && i < cbor_map_size(it); i++)
        ok = request_field(out, key_of(pairs[i].key, &seen), pairs[i].value, &have_op);
    cleanse_bytes(it);
    cbor_decref(&it);
    if (!ok || !have_op || !request_complete(out)) {
        sw_request_clear(out);
        return su_err(e, SU_EUSAGE, "malformed request");
    }
    return SU_OK;
}

void sw_response_clear(sw_response *r) {
    free(r->message);
    free(r->keystore);
    free(r->environment);
    free(r->label);
    free(r->server);
    for (size_t i = 0; i < r->nkeys; i++) {
        free(r->keys[i].label);
        free(r->keys[i].spki);
    }
    free(r->keys);
    for (size_t i = 0; i < r->ncerts; i++)
        free(r->certs[i].data);
    free(r->certs);
    free(r->sig);
    memset(r, 0, sizeof(*r));
}

static bool key_field(sw_key *k, int64_t f, const cbor_item_t *v, int *have_id) {
    if (f == -2)
        return false; /* a key twice */
    switch (f) {
    case KY_ID:
        return !*have_id && (*have_id = get_fixed(v, k->id, SW_KEY_ID_LEN));
    case KY_LABEL:
        return get_text(v, &k->label);
    case KY_ALG:
        return get_u32(v, &k->alg);
    case KY_BITS:
        return get_u32(v, &k->bits);
    case KY_STATE:
        return get_u32(v, &k->state);
    case KY_GENERATED:
        return get_bool(v, &k->generated);
    case KY_KEY_PIN:
        return get_bool(v, &k->key_pin);
    case KY_SPKI:
        return get_bytes(v, &k->spki, &k->spki_len);
    }
    return true;
}

static bool get_keys(const cbor_item_t *v, sw_response *r) {
    size_t n;
    if (r->keys != NULL || !cbor_isa_array(v))
        return false;
    n = cbor_array_size(v);
    if (n == 0)
        return true;
    if ((r->keys = calloc(n, sizeof(*r->keys))) == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        const cbor_item_t *m = cbor_array_handle(v)[i];
        int have_id = 0, ok = cbor_isa_map(m);
        seen_keys seen = {{0}};
        r->nkeys = i + 1;
        for (size_t j = 0; ok && j < cbor_map_size(m); j++)
            ok = key_field(&r->keys[i], key_of(cbor_map_handle(m)[j].key, &seen),
                           cbor_map_handle(m)[j].value, &have_id);
        if (!ok || !have_id || r->keys[i].label == NULL)
            return false;
    }
    return true;
}

static bool get_certs(const cbor_item_t *v, sw_response *r) {
    size_t n;
    if (r->certs != NULL || !cbor_isa_array(v))
        return false;
    n = cbor_array_size(v);
    if (n == 0)
        return true;
    if ((r->certs = calloc(n, sizeof(*r->certs))) == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        r->ncerts = i + 1;
        if (!get_bytes(cbor_array_handle(v)[i], &r->certs[i].data, &r->certs[i].len))
            return false;
    }
    return true;
}

static bool response_field(sw_response *r, int64_t k, const cbor_item_t *v, int *have_status) {
    if (k == -2)
        return false; /* a key twice */
    switch (k) {
    case RS_STATUS:
        *have_status = 1;
        return get_u32(v, &r->status);
    case RS_MESSAGE:
        return get_text(v, &r->message);
    case RS_VERSION:
        return get_u32(v, &r->version);
    case RS_STORE_ID:
        return !r->has_store_id && (r->has_store_id = get_fixed(v, r->store_id, SW_STORE_ID_LEN));
    case RS_KEYSTORE:
        return get_text(v, &r->keystore);
    case RS_ENVIRONMENT:
        return get_text(v, &r->environment);
    case RS_LABEL:
        return get_text(v, &r->label);
    case RS_SERVER:
        return get_text(v, &r->server);
    case RS_UPTIME:
        return get_uint(v, UINT64_MAX, &r->uptime_s);
    case RS_CLIENTS:
        return get_uint(v, UINT64_MAX, &r->clients);
    case RS_SIGNATURES:
        return get_uint(v, UINT64_MAX, &r->signatures);
    case RS_KEYS:
        return get_keys(v, r);
    case RS_CERTS:
        return get_certs(v, r);
    case RS_SIG:
        return get_bytes(v, &r->sig, &r->siglen);
    }
    return true;
}

int sw_decode_response(const unsigned char *buf, size_t len, sw_response *out, su_error *e) {
    seen_keys seen = {{0}};
    cbor_item_t *it;
    struct cbor_pair *pairs;
    int have_status = 0, ok = 1;

    memset(out, 0, sizeof(*out));
    if ((it = load(buf, len, e)) == NULL)
        return e != NULL ? e->code : SU_EUSAGE;
    pairs = cbor_map_handle(it);
    for (size_t i = 0; ok && i < cbor_map_size(it); i++)
        ok = response_field(out, key_of(pairs[i].key, &seen), pairs[i].value, &have_status);
    cbor_decref(&it);
    /* an error carries its message: the client shows it as it is */
    if (!ok || !have_status || (out->status != SU_OK && out->message == NULL)) {
        sw_response_clear(out);
        return su_err(e, SU_EUSAGE, "malformed response");
    }
    return SU_OK;
}

/* ---- encoding ------------------------------------------------------------------- */

/* Adds key -> value, taking the value's reference; a NULL value fails the build. */
static bool put(cbor_item_t *map, unsigned key, cbor_item_t *value) {
    cbor_item_t *k;
    int ok;
    if (value == NULL)
        return false;
    k = cbor_build_uint8((uint8_t)key);
    ok = k != NULL && cbor_map_add(map, (struct cbor_pair){.key = k, .value = value});
    if (k != NULL)
        cbor_decref(&k);
    cbor_decref(&value);
    return ok;
}

/* The shortest encoding, as RFC 8949's preferred serialization asks. */
static cbor_item_t *uint_item(uint64_t v) {
    if (v <= UINT8_MAX)
        return cbor_build_uint8((uint8_t)v);
    if (v <= UINT16_MAX)
        return cbor_build_uint16((uint16_t)v);
    if (v <= UINT32_MAX)
        return cbor_build_uint32((uint32_t)v);
    return cbor_build_uint64(v);
}

static cbor_item_t *int_item(int32_t v) {
    cbor_item_t *it;
    if (v >= 0)
        return uint_item((uint64_t)v);
    /* a negative integer is stored as -1 - value */
    if ((it = uint_item((uint64_t)(-1 - (int64_t)v))) != NULL)
        cbor_mark_negint(it);
    return it;
}

static cbor_item_t *text_item(const char *s) {
    return cbor_build_string(s);
}

static cbor_item_t *bytes_item(const unsigned char *p, size_t n) {
    return cbor_build_bytestring(p, n);
}

/* Serializes map into out and releases it; wipes byte strings first when secret. */
static int finish(cbor_item_t *map, int ok, int secret, su_buf *out, su_error *e) {
    unsigned char *ser = NULL;
    size_t cap = 0, n = 0;

    if (ok)
        n = cbor_serialize_alloc(map, &ser, &cap);
    if (secret)
        cleanse_bytes(map);
    cbor_decref(&map);
    if (!ok || n == 0) {
        free(ser);
        return su_err(e, SU_EIO, "out of memory encoding a message");
    }
    if (n > SW_FRAME_MAX) {
        OPENSSL_clear_free(ser, cap);
        return su_err(e, SU_EUSAGE, "message of %zu bytes is over the %u-byte frame limit", n,
                      SW_FRAME_MAX);
    }
    out->len = 0;
    su_buf_put(out, ser, n);
    OPENSSL_cleanse(ser, cap);
    free(ser);
    return out->failed ? su_err(e, SU_EIO, "out of memory encoding a message") : SU_OK;
}

int sw_encode_request(const sw_request *r, su_buf *out, su_error *e) {
    cbor_item_t *m = cbor_new_definite_map(12);
    int ok = m != NULL && put(m, RQ_OP, uint_item(r->op));

    if (m == NULL)
        return su_err(e, SU_EIO, "out of memory encoding a message");
    if (ok && r->op == SW_OP_HELLO)
        ok = put(m, RQ_VMIN, uint_item(r->version_min)) &&
             put(m, RQ_VMAX, uint_item(r->version_max));
    if (ok && r->label != NULL)
        ok = put(m, RQ_LABEL, text_item(r->label));
    if (ok && r->has_id)
        ok = put(m, RQ_ID, bytes_item(r->id, SW_KEY_ID_LEN));
    if (ok && r->op == SW_OP_SIGN) {
        if (r->digest != NULL)
            ok = put(m, RQ_DIGEST, text_item(r->digest));
        if (ok && r->padding != 0)
            ok = put(m, RQ_PADDING, uint_item(r->padding)) &&
                 put(m, RQ_SALTLEN, int_item(r->pss_saltlen));
        if (ok && r->mgf1_digest != NULL)
            ok = put(m, RQ_MGF1, text_item(r->mgf1_digest));
        if (ok)
            ok = put(m, RQ_TBS,
                     bytes_item(r->tbs != NULL ? r->tbs : (const unsigned char *)"", r->tbslen));
        if (ok && r->key_pin != NULL)
            ok = put(m, RQ_KEY_PIN,
                     bytes_item((const unsigned char *)r->key_pin->data, r->key_pin->len));
    }
    return finish(m, ok, r->key_pin != NULL, out, e);
}

static cbor_item_t *key_item(const sw_key *k) {
    cbor_item_t *m = cbor_new_definite_map(8);
    int ok = m != NULL && put(m, KY_ID, bytes_item(k->id, SW_KEY_ID_LEN)) &&
             put(m, KY_LABEL, text_item(k->label != NULL ? k->label : "")) &&
             put(m, KY_ALG, uint_item(k->alg)) && put(m, KY_BITS, uint_item(k->bits)) &&
             put(m, KY_STATE, uint_item(k->state)) &&
             put(m, KY_GENERATED, cbor_build_bool(k->generated != 0)) &&
             put(m, KY_KEY_PIN, cbor_build_bool(k->key_pin != 0));
    if (ok && k->spki != NULL)
        ok = put(m, KY_SPKI, bytes_item(k->spki, k->spki_len));
    if (!ok && m != NULL)
        cbor_decref(&m);
    return ok ? m : NULL;
}

int sw_encode_response(const sw_response *r, su_buf *out, su_error *e) {
    cbor_item_t *m = cbor_new_definite_map(16), *a;
    int ok = m != NULL && put(m, RS_STATUS, uint_item(r->status));

    if (m == NULL)
        return su_err(e, SU_EIO, "out of memory encoding a message");
    if (ok && r->message != NULL)
        ok = put(m, RS_MESSAGE, text_item(r->message));
    if (ok && r->version != 0)
        ok = put(m, RS_VERSION, uint_item(r->version));
    if (ok && r->has_store_id)
        ok = put(m, RS_STORE_ID, bytes_item(r->store_id, SW_STORE_ID_LEN));
    if (ok && r->keystore != NULL)
        ok = put(m, RS_KEYSTORE, text_item(r->keystore));
    if (ok && r->environment != NULL)
        ok = put(m, RS_ENVIRONMENT, text_item(r->environment));
    if (ok && r->label != NULL)
        ok = put(m, RS_LABEL, text_item(r->label));
    if (ok && r->server != NULL)
        ok = put(m, RS_SERVER, text_item(r->server)) && put(m, RS_UPTIME, uint_item(r->uptime_s)) &&
             put(m, RS_CLIENTS, uint_item(r->clients)) &&
             put(m, RS_SIGNATURES, uint_item(r->signatures));
    if (ok && r->keys != NULL) {
        ok = (a = cbor_new_definite_array(r->nkeys)) != NULL;
        for (size_t i = 0; ok && i < r->nkeys; i++) {
            cbor_item_t *k = key_item(&r->keys[i]);
            ok = k != NULL && cbor_array_push(a, k);
            if (k != NULL)
                cbor_decref(&k);
        }
        ok = a != NULL && put(m, RS_KEYS, a) && ok;
    }
    if (ok && r->certs != NULL) {
        ok = (a = cbor_new_definite_array(r->ncerts)) != NULL;
        for (size_t i = 0; ok && i < r->ncerts; i++) {
            cbor_item_t *c = bytes_item(r->certs[i].data, r->certs[i].len);
            ok = c != NULL && cbor_array_push(a, c);
            if (c != NULL)
                cbor_decref(&c);
        }
        ok = a != NULL && put(m, RS_CERTS, a) && ok;
    }
    if (ok && r->sig != NULL)
        ok = put(m, RS_SIG, bytes_item(r->sig, r->siglen));
    return finish(m, ok, 0, out, e);
}
