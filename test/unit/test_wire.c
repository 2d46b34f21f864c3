/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon protocol's codec (docs/protocol.md): round trips of every message,
 * and the decoders' refusals of truncated, mistyped, oversized, hostile input.
 */
#include "check.h"
#include "sealwire.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void roundtrip_hello(void) {
    sw_request q = {.op = SW_OP_HELLO, .version_min = 1, .version_max = 3}, d;
    su_buf b;
    su_buf_init(&b, 0);
    CHECK_EQ_INT(sw_encode_request(&q, &b, NULL), SU_OK);
    CHECK_EQ_INT(sw_decode_request(b.data, b.len, &d, NULL), SU_OK);
    CHECK_EQ_INT(d.op, SW_OP_HELLO);
    CHECK_EQ_INT(d.version_min, 1);
    CHECK_EQ_INT(d.version_max, 3);
    sw_request_clear(&d);
    /* every strict prefix is refused */
    for (size_t n = 0; n < b.len; n++) {
        CHECK(sw_decode_request(b.data, n, &d, NULL) == SU_EUSAGE);
        CHECK(d.op == 0);
    }
    su_buf_free(&b);
}

static void roundtrip_sign(void) {
    unsigned char tbs[32];
    sw_request q = {.op = SW_OP_SIGN,
                    .has_id = 1,
                    .digest = "sha256",
                    .padding = 2,
                    .mgf1_digest = "sha384",
                    .pss_saltlen = -2,
                    .tbs = tbs,
                    .tbslen = sizeof(tbs)};
    sw_request d;
    su_buf b;
    su_error e = {0};

    memset(q.id, 0xab, sizeof(q.id));
    memset(tbs, 0x5a, sizeof(tbs));
    q.key_pin = su_pin_new("key-pin-123", 11);
    su_buf_init(&b, 1);
    CHECK_EQ_INT(sw_encode_request(&q, &b, &e), SU_OK);
    CHECK(memmem(b.data, b.len, "key-pin-123", 11) != NULL);
    CHECK_EQ_INT(sw_decode_request(b.data, b.len, &d, &e), SU_OK);
    CHECK_EQ_INT(d.op, SW_OP_SIGN);
    CHECK(d.has_id && memcmp(d.id, q.id, sizeof(q.id)) == 0);
    CHECK(d.digest != NULL && strcmp(d.digest, "sha256") == 0);
    CHECK(d.mgf1_digest != NULL && strcmp(d.mgf1_digest, "sha384") == 0);
    CHECK_EQ_INT(d.padding, 2);
    CHECK_EQ_INT(d.pss_saltlen, -2);
    CHECK(d.tbslen == sizeof(tbs) && memcmp(d.tbs, tbs, sizeof(tbs)) == 0);
    CHECK(d.key_pin != NULL && d.key_pin->len == 11 &&
          memcmp(d.key_pin->data, "key-pin-123", 11) == 0);
    sw_request_clear(&d);
    for (size_t n = 0; n < b.len; n++)
        CHECK(sw_decode_request(b.data, n, &d, NULL) == SU_EUSAGE);
    /* trailing garbage */
    su_buf_put(&b, "\x00", 1);
    CHECK(sw_decode_request(b.data, b.len, &d, NULL) == SU_EUSAGE);
    su_buf_free(&b);
    su_pin_free(q.key_pin);

    /* EdDSA: no digest, a whole message of any length (empty too) */
    sw_request ed = {.op = SW_OP_SIGN, .has_id = 1, .tbs = (unsigned char *)"", .tbslen = 0};
    su_buf_init(&b, 0);
    CHECK_EQ_INT(sw_encode_request(&ed, &b, NULL), SU_OK);
    CHECK_EQ_INT(sw_decode_request(b.data, b.len, &d, NULL), SU_OK);
    CHECK(d.digest == NULL && d.tbs != NULL && d.tbslen == 0 && d.padding == 0);
    sw_request_clear(&d);
    su_buf_free(&b);
}

static void roundtrip_responses(void) {
    sw_key keys[2] = {{.label = "rsa",
                       .alg = 1,
                       .bits = 3072,
                       .state = 0,
                       .generated = 1,
                       .spki = (unsigned char *)"\x30\x01\x00",
                       .spki_len = 3},
                      {.label = "ed", .alg = 3, .state = 1, .key_pin = 1}};
    sw_blob certs[2] = {{(unsigned char *)"leaf", 4}, {(unsigned char *)"ca", 2}};
    sw_response r = {.status = SU_OK,
                     .version = 1,
                     .has_store_id = 1,
                     .keystore = "/var/lib/x",
                     .environment = "prod",
                     .label = "sealhsm",
                     .server = "0.1.0",
                     .uptime_s = 70000,
                     .clients = 3,
                     .signatures = 1ull << 40,
                     .keys = keys,
                     .nkeys = 2,
                     .certs = certs,
                     .ncerts = 2,
                     .sig = (unsigned char *)"sig",
                     .siglen = 3};
    sw_response d;
    su_buf b;

    memset(r.store_id, 7, sizeof(r.store_id));
    memset(keys[0].id, 1, SW_KEY_ID_LEN);
    memset(keys[1].id, 2, SW_KEY_ID_LEN);
    su_buf_init(&b, 0);
    CHECK_EQ_INT(sw_encode_response(&r, &b, NULL), SU_OK);
    CHECK_EQ_INT(sw_decode_response(b.data, b.len, &d, NULL), SU_OK);
    CHECK_EQ_INT(d.status, SU_OK);
    CHECK_EQ_INT(d.version, 1);
    CHECK(d.has_store_id && d.store_id[15] == 7);
    CHECK(d.keystore && strcmp(d.keystore, "/var/lib/x") == 0);
    CHECK(d.environment && strcmp(d.environment, "prod") == 0);
    CHECK(d.server && strcmp(d.server, "0.1.0") == 0);
    CHECK(d.uptime_s == 70000 && d.clients == 3 && d.signatures == 1ull << 40);
    CHECK_EQ_INT(d.nkeys, 2);
    if (d.nkeys == 2) {
        CHECK(strcmp(d.keys[0].label, "rsa") == 0 && d.keys[0].bits == 3072 &&
              d.keys[0].generated && d.keys[0].spki_len == 3 && d.keys[0].id[0] == 1);
        CHECK(strcmp(d.keys[1].label, "ed") == 0 && d.keys[1].state == 1 && d.keys[1].key_pin &&
              d.keys[1].spki == NULL);
    }
    CHECK_EQ_INT(d.ncerts, 2);
    if (d.ncerts == 2)
        CHECK(d.certs[0].len == 4 && memcmp(d.certs[0].data, "leaf", 4) == 0);
    CHECK(d.siglen == 3 && memcmp(d.sig, "sig", 3) == 0);
    sw_response_clear(&d);
    for (size_t n = 0; n < b.len; n++)
        CHECK(sw_decode_response(b.data, n, &d, NULL) == SU_EUSAGE);
    su_buf_free(&b);

    /* an error carries a message */
    sw_response er = {.status = SU_EPOLICY, .message = "policy: key x: expired"};
    su_buf_init(&b, 0);
    CHECK_EQ_INT(sw_encode_response(&er, &b, NULL), SU_OK);
    CHECK_EQ_INT(sw_decode_response(b.data, b.len, &d, NULL), SU_OK);
    CHECK(d.status == SU_EPOLICY && strcmp(d.message, "policy: key x: expired") == 0);
    sw_response_clear(&d);
    su_buf_free(&b);
}

/* Hand-made CBOR: unknown fields of both kinds are skipped, wrong types refused. */
static void hostile(void) {
    sw_request d;
    sw_response r;
    /* {0: 4, 99: "new", "ext": [1, 2]} : key list with two unknown fields */
    static const unsigned char unknown[] = {0xa3, 0x00, 0x04, 0x18, 0x63, 0x63, 'n',  'e',
                                            'w',  0x63, 'e',  'x',  't',  0x82, 0x01, 0x02};
    CHECK_EQ_INT(sw_decode_request(unknown, sizeof(unknown), &d, NULL), SU_OK);
    CHECK_EQ_INT(d.op, SW_OP_KEY_LIST);
    sw_request_clear(&d);
    /* {0: "4"}: op of the wrong type */
    static const unsigned char badtype[] = {0xa1, 0x00, 0x61, '4'};
    CHECK(sw_decode_request(badtype, sizeof(badtype), &d, NULL) == SU_EUSAGE);
    /* {0: 77}: an op of a newer client decodes (the daemon answers status 1); op 0 does not */
    static const unsigned char newop[] = {0xa1, 0x00, 0x18, 77};
    CHECK(sw_decode_request(newop, sizeof(newop), &d, NULL) == SU_OK && d.op == 77);
    sw_request_clear(&d);
    static const unsigned char op0[] = {0xa1, 0x00, 0x00};
    CHECK(sw_decode_request(op0, sizeof(op0), &d, NULL) == SU_EUSAGE);
    /* {0: 3, 11: h'0102'}: key id of the wrong size */
    static const unsigned char shortid[] = {0xa2, 0x00, 0x03, 0x0b, 0x42, 0x01, 0x02};
    CHECK(sw_decode_request(shortid, sizeof(shortid), &d, NULL) == SU_EUSAGE);
    /* {23: ""}: a salt length that is not an integer (libcbor's cbor_get_int would
     * abort the decoding process: found by fuzz_wire_request) */
    static const unsigned char salttext[] = {0xa1, 0x17, 0x60};
    CHECK(sw_decode_request(salttext, sizeof(salttext), &d, NULL) == SU_EUSAGE);
    /* {0: 3, 10: "a\0b"}: embedded NUL in a label */
    static const unsigned char nul[] = {0xa2, 0x00, 0x03, 0x0a, 0x63, 'a', 0x00, 'b'};
    CHECK(sw_decode_request(nul, sizeof(nul), &d, NULL) == SU_EUSAGE);
    /* {0: 3, 10: "a", 10: "b"}: duplicate field */
    static const unsigned char dup[] = {0xa3, 0x00, 0x03, 0x0a, 0x61, 'a', 0x0a, 0x61, 'b'};
    CHECK(sw_decode_request(dup, sizeof(dup), &d, NULL) == SU_EUSAGE);
    /* {0: 4, 0: 4}: the same integer key twice */
    static const unsigned char dupop[] = {0xa2, 0x00, 0x04, 0x00, 0x04};
    CHECK(sw_decode_request(dupop, sizeof(dupop), &d, NULL) == SU_EUSAGE);
    /* {0: 0, 0: 0} in a response, and in a key map */
    static const unsigned char dupst[] = {0xa2, 0x00, 0x00, 0x00, 0x00};
    CHECK(sw_decode_response(dupst, sizeof(dupst), &r, NULL) == SU_EUSAGE);
    /* {0: 0, 50: [{6: 1.5}]}: a float where a bool goes (libcbor asserts if asked
     * whether a float is a bool) */
    static const unsigned char floatbool[] = {0xa2, 0x00, 0x00, 0x18, 0x32, 0x81, 0xa1,
                                              0x06, 0xfa, 0x3f, 0xc0, 0x00, 0x00};
    CHECK(sw_decode_response(floatbool, sizeof(floatbool), &r, NULL) == SU_EUSAGE);
    /* a map announcing 2^32 pairs in 10 bytes */
    static const unsigned char huge[] = {0xba, 0xff, 0xff, 0xff, 0xff,
                                         0x00, 0x04, 0x00, 0x04, 0x00};
    CHECK(sw_decode_request(huge, sizeof(huge), &d, NULL) == SU_EUSAGE);
    /* {0: 4, 1: [[[[[1]]]]]}: too deep */
    static const unsigned char deep[] = {0xa2, 0x00, 0x04, 0x01, 0x81,
                                         0x81, 0x81, 0x81, 0x81, 0x01};
    CHECK(sw_decode_request(deep, sizeof(deep), &d, NULL) == SU_EUSAGE);
    /* indefinite map, tag, not a map at all */
    static const unsigned char indef[] = {0xbf, 0x00, 0x04, 0xff};
    CHECK(sw_decode_request(indef, sizeof(indef), &d, NULL) == SU_EUSAGE);
    static const unsigned char tag[] = {0xa1, 0x00, 0xc1, 0x04};
    CHECK(sw_decode_request(tag, sizeof(tag), &d, NULL) == SU_EUSAGE);
    static const unsigned char arr[] = {0x81, 0x04};
    CHECK(sw_decode_request(arr, sizeof(arr), &d, NULL) == SU_EUSAGE);
    /* a byte string announcing more than there is */
    static const unsigned char trunc[] = {0xa2, 0x00, 0x06, 0x18, 0x18, 0x5a,
                                          0x00, 0x10, 0x00, 0x00, 0x01};
    CHECK(sw_decode_request(trunc, sizeof(trunc), &d, NULL) == SU_EUSAGE);
    /* sign without a key or tbs */
    static const unsigned char nokey[] = {0xa1, 0x00, 0x06};
    CHECK(sw_decode_request(nokey, sizeof(nokey), &d, NULL) == SU_EUSAGE);
    /* responses: no status; an error without a message */
    static const unsigned char nostatus[] = {0xa1, 0x01, 0x61, 'x'};
    CHECK(sw_decode_response(nostatus, sizeof(nostatus), &r, NULL) == SU_EUSAGE);
    static const unsigned char nomsg[] = {0xa1, 0x00, 0x05};
    CHECK(sw_decode_response(nomsg, sizeof(nomsg), &r, NULL) == SU_EUSAGE);
    CHECK(sw_decode_response(NULL, 0, &r, NULL) == SU_EUSAGE);
}

static void frames(void) {
    int sv[2];
    unsigned char hdr[4] = {0x04, 0x00, 0x00, 0x01}; /* 64 MiB + 1 */
    size_t len = 0;
    su_buf b;
    int eof = 0;

    CHECK(sw_frame_length(hdr, &len, NULL) == SU_EUSAGE);
    hdr[3] = 0;
    CHECK(sw_frame_length(hdr, &len, NULL) == SU_OK && len == SW_FRAME_MAX);
    memset(hdr, 0, 4);
    CHECK(sw_frame_length(hdr, &len, NULL) == SU_EUSAGE);

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    su_buf_init(&b, 0);
    CHECK_EQ_INT(sw_write_frame(sv[0], (const unsigned char *)"hello", 5, NULL), SU_OK);
    CHECK_EQ_INT(sw_read_frame(sv[1], &b, 1000, 1000, &eof, NULL), SU_OK);
    CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
    /* a header split across writes, then the payload */
    CHECK(write(sv[0], "\x00\x00", 2) == 2);
    CHECK(write(sv[0],
                "\x00\x03"
                "abc",
                5) == 5);
    CHECK_EQ_INT(sw_read_frame(sv[1], &b, 1000, 1000, &eof, NULL), SU_OK);
    CHECK(b.len == 3 && memcmp(b.data, "abc", 3) == 0);
    /* bytes after the frame, in the same read: one frame is in flight at a time */
    CHECK(write(sv[0],
                "\x00\x00\x00\x01"
                "aZZ",
                7) == 7);
    CHECK_EQ_INT(sw_read_frame(sv[1], &b, 1000, 1000, &eof, NULL), SU_EUSAGE);
    /* a frame that stops half way times out */
    CHECK(write(sv[0], "\x00\x00\x00\x10xy", 6) == 6);
    CHECK_EQ_INT(sw_read_frame(sv[1], &b, 1000, 50, &eof, NULL), SU_EIO);
    /* an idle peer times out; a closed one is a clean EOF */
    CHECK_EQ_INT(sw_read_frame(sv[1], &b, 30, 1000, &eof, NULL), SU_EIO);
    CHECK(!eof);
    close(sv[0]);
    CHECK_EQ_INT(sw_read_frame(sv[1], &b, 1000, 1000, &eof, NULL), SU_EIO);
    CHECK(eof);
    close(sv[1]);
    su_buf_free(&b);
}

static int setup(void) {
    /* key PINs are decoded into the secure heap */
    return CRYPTO_secure_malloc_init(1 << 16, 16) ? 0 : 1;
}

static const check_case cases[] = {
    CHECK_CASE(wire_hello, roundtrip_hello),
    CHECK_CASE(wire_sign, roundtrip_sign),
    CHECK_CASE(wire_responses, roundtrip_responses),
    CHECK_CASE(wire_hostile, hostile),
    CHECK_CASE(wire_frames, frames),
};

CHECK_MAIN(cases, setup, NULL)
