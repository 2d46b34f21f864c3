/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writes the seed corpora of the fuzz targets (run by fuzz/gen-corpus):
 * small valid inputs taken from a real keystore that this program creates in a
 * temporary directory and throws away. Key records hold their keys sealed under
 * that keystore's random master key, and every PIN slot wraps it under a random
 * PIN that is never written anywhere: the seeds hold no usable key material.
 *
 * usage: seedgen OUTDIR      (OUTDIR/<target>/<name> files)
 */
#include "harness.h"
#include "sealwire.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *OUT;

static void die(const char *what, const ss_error *e) {
    fprintf(stderr, "seedgen: %s: %s\n", what, e ? e->msg : "");
    exit(1);
}

static void write_seed(const char *target, const char *name, const void *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", OUT, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path, NULL);
    snprintf(path, sizeof(path), "%s/%s/%s", OUT, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        die(path, NULL);
}

static void write_str(const char *target, int i, const char *s) {
    char name[32];
    snprintf(name, sizeof(name), "seed-%02d", i);
    write_seed(target, name, s, strlen(s));
}

/* fuzz_p11attr: an object selector, then (type index or raw type, flags, length, value)
 * entries; see fuzz_p11attr.c. Templates a PKCS#11 client sends: a class search, a
 * class and id search, a read of sizes, a read of a sensitive attribute, a value copied
 * from the object, and a DigestInfo (signing input) on its own. */
static void seed_p11attr(void) {
    static const unsigned char cls_private[] = {0, 0, 0, 0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char class_id[] = {1,    0,    0,    0,    0,    8,    3,    0,    0,
                                             0,    0,    0,    0,    0,    0,    10,   0,    0,
                                             16,   0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
                                             0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5};
    static const unsigned char sizes[] = {0, 0, 13, 1, 0, 0, 0, 15, 1, 0, 0, 0, 3, 1, 0, 0};
    static const unsigned char sensitive[] = {0, 0, 16, 0, 2, 0, 0, 4, 0, 0, 1};
    static const unsigned char copied[] = {3, 0, 4, 2, 0, 0, 0, 9, 2, 0, 0, 0, 6, 2, 0, 0};
    static const unsigned char digestinfo[] = {
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
        0x02, 0x01, 0x05, 0x00, 0x04, 0x20, 1,    2,    3,    4,    5,    6,    7,
        8,    9,    10,   11,   12,   13,   14,   15,   16,   17,   18,   19,   20,
        21,   22,   23,   24,   25,   26,   27,   28,   29,   30,   31,   32};
    write_seed("p11attr", "class-private", cls_private, sizeof(cls_private));
    write_seed("p11attr", "class-id", class_id, sizeof(class_id));
    write_seed("p11attr", "sizes", sizes, sizeof(sizes));
    write_seed("p11attr", "sensitive", sensitive, sizeof(sensitive));
    write_seed("p11attr", "cert-copied", copied, sizeof(copied));
    write_seed("p11attr", "digestinfo-sha256", digestinfo, sizeof(digestinfo));
}

static su_pin *pin(const char *s) {
    return su_pin_new(s, strlen(s));
}

/* PINs of the seed keystores: random, used while this program runs, then gone. */
static char SO_PIN[33], USER_PIN[33], OFFICER_PIN[33], KEY_PIN[33];

static void random_pin(char out[33]) {
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        die("random", NULL);
    su_hex(out, r, sizeof(r));
    OPENSSL_cleanse(r, sizeof(r));
}

static void keygen(ss_store *s, const char *label, const char *type, const ss_policy *p,
                   const su_pin *kpin) {
    ss_keyspec spec = {.label = label, .description = "seed key, thrown away", .key_pin = kpin};
    ss_error e = {0};
    if (ss_keytype_parse(type, &spec.type, &e) != SU_OK)
        die(type, &e);
    if (p != NULL)
        spec.policy = *p;
    else
        ss_policy_default(&spec.policy);
    ss_keyinfo *k = NULL;
    if (ss_keygen(s, &spec, &k, &e) != SU_OK)
        die(label, &e);
    ss_keyinfo_free(k);
}

static void sign(ss_store *s, const char *label, const char *digest, size_t len) {
    ss_keyinfo *k = NULL;
    ss_error e = {0};
    if (ss_key_get(s, label, NULL, &k, &e) != SU_OK)
        die(label, &e);
    unsigned char tbs[64] = {1, 2, 3}, sig[1024];
    size_t siglen = sizeof(sig);
    ss_sign_req req = {.digest = digest, .tbs = tbs, .tbslen = len, .environment = "prod"};
    ss_sign(s, k->id, &req, sig, &siglen, &e); /* refusals are wanted too */
    ss_keyinfo_free(k);
}

/* Every value of one table, in key order. */
typedef void (*each_fn)(const MDB_val *k, const MDB_val *v, void *arg);
static void table_each(ss_store *s, int db, each_fn fn, void *arg) {
    MDB_txn *txn;
    MDB_cursor *cur;
    ss_error e;
    if (st_read_cursor(s, db, &txn, &cur, "seeds", &e) != SU_OK)
        die("reading", &e);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        fn(&k, &v, arg);
    st_read_end(txn, cur);
}

static void seed_keyrec(const MDB_val *k, const MDB_val *v, void *arg) {
    ss_store *s = arg;
    st_keyrec r;
    ss_error e;
    if (st_keyrec_decode(s, v->mv_data, v->mv_size, "seed", &r, &e) != SU_OK)
        die("decoding a key record", &e);
    char name[300];
    snprintf(name, sizeof(name), "%s-%s", r.info.label, ss_state_name(r.info.state));
    /* the body: fuzz_keyrec appends the MAC itself */
    write_seed("keyrec", name, v->mv_data, v->mv_size - ST_MAC_LEN);
    su_buf b;
    su_buf_init(&b, 0);
    ss_policy_encode(&r.info.policy, &b, NULL);
    write_seed("policy", r.info.label, b.data, b.len);
    su_buf_free(&b);
    unsigned char *der = NULL, store_id[SS_STORE_ID_LEN];
    size_t len = 0;
    ss_store_id(s, store_id);
    if (ss_keyref_encode(store_id, &r.info, &der, &len, &e) != SU_OK)
        die("keyref", &e);
    snprintf(name, sizeof(name), "%s.der", r.info.label);
    write_seed("keyref", name, der, len);
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem;
    PEM_write_bio(bio, SS_KEYREF_PEM_NAME, "", der, (long)len);
    long pemlen = BIO_get_mem_data(bio, &pem);
    snprintf(name, sizeof(name), "%s.keyref", r.info.label);
    write_seed("keyref", name, pem, (size_t)pemlen);
    BIO_free(bio);
    OPENSSL_free(der);
    st_keyrec_clear(&r);
}

typedef struct {
    su_buf raw, fixup;
    int n;
} logs;

static void seed_audit(const MDB_val *k, const MDB_val *v, void *arg) {
    logs *l = arg;
    size_t content = v->mv_size - 1 - ST_MAC_LEN;
    su_buf_u8(&l->raw, (uint8_t)(v->mv_size >> 8));
    su_buf_u8(&l->raw, (uint8_t)v->mv_size);
    su_buf_put(&l->raw, v->mv_data, v->mv_size);
    su_buf_u8(&l->fixup, (uint8_t)(content >> 8));
    su_buf_u8(&l->fixup, (uint8_t)content);
    su_buf_put(&l->fixup, v->mv_data, content);
    if (l->n++ < 12) {
        /* one record on its own, for each kind of event */
        unsigned char one[2048];
        one[0] = 1;
        one[1] = (unsigned char)(content >> 8);
        one[2] = (unsigned char)content;
        memcpy(one + 3, v->mv_data, content);
        char name[32];
        snprintf(name, sizeof(name), "record-%02d", l->n);
        write_seed("audit", name, one, content + 3);
    }
}

/* fuzz_records: selector byte, then the body without its MAC (the usage body is the
 * 28 bytes of counters; its MAC covers the decoded fields) */
static void seed_records(ss_store *s, int db, uint8_t selector, const char *prefix) {
    MDB_txn *txn;
    MDB_cursor *cur;
    ss_error e;
    if (st_read_cursor(s, db, &txn, &cur, "seeds", &e) != SU_OK)
        die("reading", &e);
    MDB_val k, v;
    int n = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        unsigned char buf[65536];
        size_t len = db == ST_DB_USAGE ? 28 : v.mv_size - ST_MAC_LEN;
        if (len + 1 > sizeof(buf))
            continue;
        buf[0] = selector;
        memcpy(buf + 1, v.mv_data, len);
        char name[64];
        snprintf(name, sizeof(name), "%s-%d", prefix, n++);
        write_seed("records", name, buf, len + 1);
    }
    st_read_end(txn, cur);
}

/* A certificate for key `label` issued by a throwaway CA (its key is discarded). */
static void import_cert(ss_store *s, const char *label) {
    ss_keyinfo *k = NULL;
    ss_error e = {0};
    if (ss_key_get(s, label, NULL, &k, &e) != SU_OK)
        die(label, &e);
    const unsigned char *p = k->spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)k->spki_len);
    EVP_PKEY *ca = EVP_EC_gen("P-256");
    ss_blob chain[2] = {{0}};
    for (int i = 0; i < 2; i++) {
        X509 *x = X509_new();
        X509_NAME *n = X509_NAME_new();
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                   (const unsigned char *)(i == 0 ? label : "seed CA"), -1, -1, 0);
        X509_NAME *issuer = X509_NAME_new();
        X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC, (const unsigned char *)"seed CA", -1,
                                   -1, 0);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1 + i);
        X509_set_subject_name(x, n);
        X509_set_issuer_name(x, issuer);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400);
        X509_set_pubkey(x, i == 0 ? pub : ca);
        if (X509_sign(x, ca, EVP_sha256()) <= 0)
            die("signing a seed certificate", NULL);
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        chain[i].data = der;
        chain[i].len = (size_t)len;
        X509_NAME_free(n);
        X509_NAME_free(issuer);
        X509_free(x);
    }
    if (ss_cert_import(s, label, chain, 2, &e) != SU_OK)
        die("cert import", &e);
    OPENSSL_free(chain[0].data);
    OPENSSL_free(chain[1].data);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ca);
    ss_keyinfo_free(k);
}

static void seed_officer(const MDB_val *k, const MDB_val *v, void *arg) {
    write_seed("slot", "officer", v->mv_data, v->mv_size);
}

static void seed_meta_slots(ss_store *s) {
    MDB_txn *txn;
    MDB_val v;
    ss_error e;
    if (st_txn(s, 0, &txn, &e) != SU_OK)
        die("reading", &e);
    if (st_get(s, txn, ST_DB_META, "slot/so", 7, &v, &e) == SU_OK)
        write_seed("slot", "so", v.mv_data, v.mv_size);
    if (st_get(s, txn, ST_DB_META, "slot/user", 9, &v, &e) == SU_OK)
        write_seed("slot", "user", v.mv_data, v.mv_size);
    mdb_txn_abort(txn);
}

static void seed_backup(ss_store *s, const char *name) {
    char path[4300];
    ss_error e;
    snprintf(path, sizeof(path), "%s/%s.backup", fz_tmpdir(), name);
    if (ss_backup(s, path, &e) != SU_OK)
        die("backup", &e);
    unsigned char *buf;
    size_t n;
    if (su_read_file(path, 1 << 24, &buf, &n, &e) != SU_OK)
        die("reading the backup", &e);
    /* the body: fuzz_backup appends HMAC and checksum itself */
    write_seed("backup", name, buf, n - ST_MAC_LEN - 32);
    free(buf);
}

static ss_store *open_as(const char *dir, ss_role role, const char *p) {
    ss_store *s;
    ss_error e = {0};
    su_pin *pn = pin(p);
    if (ss_open(dir, NULL, NULL, &s, &e) != SU_OK || ss_login(s, role, NULL, pn, &e) != SU_OK)
        die(dir, &e);
    su_pin_free(pn);
    return s;
}

static char *make_keystore(const char *name) {
    static char dir[4300];
    snprintf(dir, sizeof(dir), "%s/%s", fz_tmpdir(), name);
    ss_init_params ip;
    ss_init_params_default(&ip);
    ip.kdf_mem_kib = 8;
    ip.kdf_iterations = 1;
    su_pin *so = pin(SO_PIN), *user = pin(USER_PIN);
    ss_error e = {0};
    if (ss_init(dir, &ip, so, user, &e) != SU_OK)
        die("init", &e);
    su_pin_free(so);
    su_pin_free(user);
    return dir;
}

/* ---- the daemon protocol (fuzz_wire_request, fuzz_wire_response) ---------------- */

static void wire_request(const char *name, const sw_request *r) {
    su_buf b;
    su_error e = {0};
    su_buf_init(&b, 0);
    if (sw_encode_request(r, &b, &e) != SU_OK)
        die(name, NULL);
    write_seed("wire_request", name, b.data, b.len);
    su_buf_free(&b);
}

static void wire_response(const char *name, const sw_response *r) {
    su_buf b;
    su_error e = {0};
    su_buf_init(&b, 0);
    if (sw_encode_response(r, &b, &e) != SU_OK)
        die(name, NULL);
    write_seed("wire_response", name, b.data, b.len);
    su_buf_free(&b);
}

static void wire_key(ss_store *s, const char *label, sw_key *out) {
    ss_keyinfo *k = NULL;
    ss_error e = {0};
    if (ss_key_get(s, label, NULL, &k, &e) != SU_OK)
        die(label, &e);
    memcpy(out->id, k->id, SW_KEY_ID_LEN);
    out->label = strdup(k->label);
    out->alg = (uint32_t)k->type.alg; /* the same numbers (docs/protocol.md) */
    out->bits = (uint32_t)k->type.bits;
    out->state = (uint32_t)k->state;
    out->generated = 1;
    out->key_pin = k->policy.key_pin;
    out->spki = malloc(k->spki_len);
    memcpy(out->spki, k->spki, k->spki_len);
    out->spki_len = k->spki_len;
    ss_keyinfo_free(k);
}

/* Every op's request and response, as the client and the daemon write them, from the
 * keys of the full seed keystore (ids, public keys, its certificate chain). */
static void seed_wire(ss_store *s) {
    unsigned char tbs[64], sig[72];
    RAND_bytes(tbs, sizeof(tbs));
    RAND_bytes(sig, sizeof(sig));
    sw_key keys[2] = {{{0}}};
    wire_key(s, "release-2026", &keys[0]);
    wire_key(s, "fw", &keys[1]);

    wire_request("hello", &(sw_request){.op = SW_OP_HELLO, .version_min = 1, .version_max = 1});
    wire_request("hello-range",
                 &(sw_request){.op = SW_OP_HELLO, .version_min = 1, .version_max = 7});
    wire_request("status", &(sw_request){.op = SW_OP_STATUS});
    wire_request("key-list", &(sw_request){.op = SW_OP_KEY_LIST});
    wire_request("newer-op", &(sw_request){.op = 99}); /* answered "unknown op", not dropped */
    wire_request("key-find-label", &(sw_request){.op = SW_OP_KEY_FIND, .label = "release-2026"});
    sw_request r = {.op = SW_OP_KEY_FIND, .has_id = 1};
    memcpy(r.id, keys[0].id, SW_KEY_ID_LEN);
    wire_request("key-find-id", &r);
    r.op = SW_OP_CERT_GET;
    wire_request("cert-get", &r);
    r = (sw_request){.op = SW_OP_SIGN, .has_id = 1, .digest = "SHA2-256", .tbs = tbs, .tbslen = 32};
    memcpy(r.id, keys[0].id, SW_KEY_ID_LEN);
    wire_request("sign-ecdsa", &r);
    r.digest = "sha384";
    r.padding = 2;
    r.mgf1_digest = "sha256";
    r.pss_saltlen = -1;
    r.tbslen = 48;
    wire_request("sign-rsa-pss", &r);
    r = (sw_request){.op = SW_OP_SIGN, .has_id = 1, .tbs = tbs, .tbslen = sizeof(tbs)};
    memcpy(r.id, keys[1].id, SW_KEY_ID_LEN);
    wire_request("sign-eddsa", &r);
    r.key_pin = pin("not-a-real-key-pin"); /* the seed keystore's is never written */
    wire_request("sign-eddsa-key-pin", &r);
    su_pin_free(r.key_pin);
    /* found by fuzz_wire_request: a salt length that is not an integer ({23: ""}) made
     * the decoder call cbor_get_int on a text item, an assertion in libcbor: one frame
     * from any client aborted the daemon */
    write_seed("wire_request", "saltlen-not-an-integer", "\xa1\x17\x60", 3);

    sw_response rs = {.version = 1,
                      .has_store_id = 1,
                      .keystore = "/var/lib/sealhsm",
                      .environment = "prod",
                      .label = "release signing"};
    ss_store_id(s, rs.store_id);
    wire_response("hello", &rs);
    rs.version = 0;
    rs.server = "0.1.0";
    rs.uptime_s = 86400;
    rs.clients = 3;
    rs.signatures = 123456;
    wire_response("status", &rs);
    wire_response("key-find", &(sw_response){.keys = keys, .nkeys = 1});
    wire_response("key-list", &(sw_response){.keys = keys, .nkeys = 2});
    ss_blob *chain = NULL;
    size_t n = 0;
    ss_error e = {0};
    if (ss_cert_get(s, keys[0].id, &chain, &n, &e) != SU_OK || n == 0)
        die("cert get", &e);
    sw_blob certs[4];
    for (size_t i = 0; i < n && i < 4; i++)
        certs[i] = (sw_blob){chain[i].data, chain[i].len};
    wire_response("cert-get", &(sw_response){.certs = certs, .ncerts = n < 4 ? n : 4});
    wire_response("sign", &(sw_response){.sig = sig, .siglen = sizeof(sig)});
    wire_response("policy-refused",
                  &(sw_response){.status = SU_EPOLICY,
                                 .message = "policy: key release-2026: rate: 100 per 1h reached"});
    wire_response("key-pin-needed",
                  &(sw_response){.status = SW_ST_KEY_PIN_NEEDED, .message = "key fw: key PIN"});
    ss_blobs_free(chain, n);
    for (int i = 0; i < 2; i++) {
        free(keys[i].label);
        free(keys[i].spki);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: seedgen OUTDIR\n");
        return 1;
    }
    OUT = argv[1];
    ss_error e = {0};
    random_pin(SO_PIN);
    random_pin(USER_PIN);
    random_pin(OFFICER_PIN);
    random_pin(KEY_PIN);

    /* a keystore with nothing in it */
    char *dir = make_keystore("empty");
    ss_store *s = open_as(dir, SS_ROLE_SO, SO_PIN);
    seed_backup(s, "empty-keystore");
    ss_close(s);

    /* a keystore with a key of every shape of policy, an officer, signatures,
     * refusals and state changes */
    dir = make_keystore("full");
    s = open_as(dir, SS_ROLE_SO, SO_PIN);
    /* officers first: --approvals may not exceed their number, and once a key needs
     * approvals, adding officers needs theirs (the officer quorum) */
    su_pin *op = pin(OFFICER_PIN);
    if (ss_officer_add(s, "alice", op, &e) != SU_OK || ss_officer_add(s, "bob", op, &e) != SU_OK)
        die("officer", &e);
    ss_policy p;
    ss_policy_default(&p);
    p.env = SS_ENV_PROD;
    p.digests = SS_MD_SHA256 | SS_MD_SHA384;
    su_parse_time("2027-12-31", &p.not_after);
    su_parse_time("2024-01-01T08:00:00Z", &p.not_before);
    p.max_signatures = 5000;
    p.rate_count = 100;
    p.rate_period = 3600;
    keygen(s, "release-2026", "ec:P-256", &p, NULL);
    ss_policy_default(&p);
    p.key_pin = 1;
    su_pin *kp = pin(KEY_PIN);
    keygen(s, "fw", "ed25519", &p, kp);
    su_pin_free(kp);
    ss_policy_default(&p);
    p.paddings = SS_PAD_PSS;
    p.approvals = 2;
    p.nusers = 2;
    p.users[0] = 1000;
    p.users[1] = 0;
    keygen(s, "rsa", "rsa:2048", &p, NULL);
    ss_policy_default(&p);
    p.env = SS_ENV_PROD;
    p.audit_batched = 1;
    keygen(s, "tls", "ec:P-384", &p, NULL);
    keygen(s, "old", "ec:P-256", NULL, NULL);
    if (ss_key_set_state(s, "old", SS_STATE_REVOKED, "key compromise", &e) != SU_OK ||
        ss_key_destroy(s, "old", &e) != SU_OK ||
        ss_key_set_state(s, "rsa", SS_STATE_DISABLED, "parked", &e) != SU_OK)
        die("state", &e);
    import_cert(s, "release-2026");
    ss_close(s);
    if (ss_open(dir, NULL, NULL, &s, &e) != SU_OK ||
        ss_login(s, SS_ROLE_OFFICER, "alice", op, &e) != SU_OK || ss_approve(s, "rsa", &e) != SU_OK)
        die("approve", &e);
    su_pin_free(op);
    ss_close(s);

    s = open_as(dir, SS_ROLE_USER, USER_PIN);
    sign(s, "release-2026", "sha256", 32);
    sign(s, "release-2026", "sha384", 48);
    sign(s, "release-2026", "sha512", 64); /* refused: digest */
    sign(s, "rsa", "sha256", 32);          /* refused: disabled */
    su_pin *bad = pin("not-the-pin");
    ss_close(s);
    if (ss_open(dir, NULL, NULL, &s, &e) != SU_OK)
        die(dir, &e);
    ss_login(s, SS_ROLE_USER, NULL, bad, &e); /* an unauthenticated record */
    su_pin_free(bad);
    ss_close(s);

    s = open_as(dir, SS_ROLE_SO, SO_PIN);
    seed_wire(s);
    seed_backup(s, "full-keystore");
    table_each(s, ST_DB_KEYS, seed_keyrec, s);
    seed_meta_slots(s);
    table_each(s, ST_DB_OFFICERS, seed_officer, NULL);
    seed_records(s, ST_DB_ACTIVATIONS, 0, "activation");
    seed_records(s, ST_DB_CERTS, 1, "certificates");
    seed_records(s, ST_DB_USAGE, 2, "usage");
    logs l;
    memset(&l, 0, sizeof(l));
    su_buf_init(&l.raw, 0);
    su_buf_init(&l.fixup, 0);
    su_buf_u8(&l.raw, 0);
    su_buf_u8(&l.fixup, 1);
    table_each(s, ST_DB_AUDIT, seed_audit, &l);
    write_seed("audit", "log-raw", l.raw.data, l.raw.len);
    write_seed("audit", "log-fixup", l.fixup.data, l.fixup.len);
    l.fixup.data[0] = 1 | 2 | 8;
    write_seed("audit", "log-fixup-unauthenticated-tail", l.fixup.data, l.fixup.len);
    su_buf_free(&l.raw);
    su_buf_free(&l.fixup);
    ss_policy_default(&p);
    su_buf b;
    su_buf_init(&b, 0);
    ss_policy_encode(&p, &b, NULL);
    write_seed("policy", "default", b.data, b.len);
    su_buf_free(&b);
    ss_close(s);
    seed_p11attr();

    static const char *const uris[] = {
        "sealhsm:release-2026",
        "sealhsm:object=release-2026;type=private",
        "sealhsm:object=fw;type=public;keystore=/var/lib/sealhsm",
        "sealhsm:object=cs;type=cert",
        "sealhsm:id=00112233445566778899aabbccddeeff",
        "sealhsm:id=00112233445566778899AABBCCDDEEFF;type=private",
        "sealhsm:my%20key;keystore=%2Fsrv%2Fks",
        "SEALHSM:label;type=public",
        "sealhsm:object=a%3Bb%3Dc;keystore=relative/dir",
    };
    for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++)
        write_str("uri", (int)i, uris[i]);
    /* the PKCS#11 module's configuration file, as docs/reference.md shows it */
    static const char *const p11confs[] = {
        "# where the keys are\nkeystore = /var/lib/sealhsm/keystore\n",
        "keystore = /srv/ks\nenvironment = prod   # the prod signer\npin-source = env:PIN\n",
        "daemon = /run/sealhsmd/sealhsmd.sock\n\n\t# a comment\n",
        "pin-source = file:/etc/sealhsm/pin\nenvironment=test",
    };
    for (size_t i = 0; i < sizeof(p11confs) / sizeof(p11confs[0]); i++)
        write_str("p11conf", (int)i, p11confs[i]);
    static const char *const opts[] = {
        "2027-12-31",
        "2027-12-31T23:59:59Z",
        "2024-02-29t00:00:00z",
        "30s",
        "15m",
        "1h",
        "7d",
        "100/min",
        "5000/day",
        "3/s",
        "10/hour",
        "sha256,sha384,sha512",
        "sha3-256, SHA2-512",
        "pss,pkcs1",
        "builder, 1000,root",
        "rsa:3072",
        "ec:P-384",
        "ed25519",
        "ed448",
        "prod",
        "SHA-512/256",
        "md5",
        "00112233445566778899aabbccddeeff",
        "sha1,md5-sha1,ripemd160",
    };
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        write_str("options", (int)i, opts[i]);
    return 0;
}
