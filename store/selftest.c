/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Known-answer self-tests (docs/reference.md, Algorithms and self-tests), run at
 * provider load and by `sealhsm selftest`.
 *
 * Every algorithm is fetched from the caller's libctx/propq, the same context the
 * store signs and seals with, so the tests exercise the implementations that will
 * actually be used. Vectors are published ones (NIST FIPS 180/202 "abc", RFC 4231,
 * RFC 5869, the GCM spec's test case 16, RFC 9106, RFC 6979, RFC 8032) except the
 * RSA ones: there no published vector fits a fixed 2048-bit key, so the expected
 * signatures were computed once with the stock `openssl dgst` CLI from the key below.
 *
 * Test hook: when the environment variable SEALHSM_SELFTEST_CORRUPT equals a test's
 * name, that test's expected value gets one byte flipped (for "drbg": the second
 * output is made equal to the first), so the failure path and the provider's error
 * state can be tested end to end without a broken libcrypto.
 */
#include "sealstore.h"

#include <argon2.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#define KAT_MAX 256 /* largest fixed value: an RSA-2048 signature */

typedef struct kat_ctx {
    OSSL_LIB_CTX *libctx;
    const char *propq;
    int corrupt; /* flip one byte of this test's expected value */
} kat_ctx;

struct kat;
typedef bool (*kat_fn)(const kat_ctx *c, const struct kat *k);

typedef struct kat {
    const char *name;
    kat_fn fn;
    const char *alg;    /* algorithm to fetch, so one function serves several tests */
    const void *data;   /* extra vector, when the function is shared */
    const char *expect; /* hex */
} kat;

/* ---- fixed vectors ------------------------------------------------------------- */

static const char msg_abc[] = "abc";

/* RFC 4231, test case 2 */
static const char hmac_key[] = "Jefe";
static const char hmac_data[] = "what do ya want for nothing?";

/* RFC 5869, test case 1 */
static const char hkdf_ikm[] = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
static const char hkdf_salt[] = "000102030405060708090a0b0c";
static const char hkdf_info[] = "f0f1f2f3f4f5f6f7f8f9";

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 */
static const char gcm_key[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
static const char gcm_iv[] = "cafebabefacedbaddecaf888";
static const char gcm_pt[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
    "49a6b525b16aedf5aa0de657ba637b39";
static const char gcm_aad[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

/* A fixed RSA-2048 test key (generated once for these tests; protects nothing). */
static const char rsa_n[] =
    "af6fc643a103823298e8fb5555fe46cd8265f92cc18eab824d41555e55ef52550d71ea466e2c4829018228bb"
    "4cc3076f48cdb65be2f8aad23e58a7bbc1f665b0f8c906df1556cd495c0ace00fc9ba10666a8ab6b437b9592"
    "66c179a24fc65012ba3ba6e2cfa52d5a77395ba7241ac3e968ef4f72ee69bfb85d19c5fc8a58862ca725efe6"
    "53231a9b5a0297a8a0655f9fe66266d331b4ee7f7fd3d6c75623922b69ddfb7f85765e0eb565fd84238b1875"
    "f41bc5fbb285289a6e6d576db52c4abe96eea81efd4b6ed1d2407deb663e66045a1b582a9c5cedceb94c358c"
    "d1bbdbde773baf650cb012c85955a5105ff52759b488acf75837cf15283e20fa528235b3";
static const char rsa_d[] =
    "0682f7106e8b034b9e7a534dd50dc591fe2b8bc699fe92261978f9d2b10cdb78f5b14b39470094c314dfc064"
    "47529bd58915bd958684a54e7d6aebfadf95a62b9de8543d767cccccd2c241e82e78164f7702feadd208e5c1"
    "d3d78d8cb53a4ea18b51087e35a7d3599ec03dc323e76c6b1eee76fbf4966f3bc814db50e6cfa75734342b9d"
    "af0921e3b3c411187f599022298a33533455fc4580ab93b36d548c1a8eeddc1bc6074414cad1830ef53a33ce"
    "8b9817c29c3bddc8b9f2f35bd936e7d9281181ed38cb8e95d772b4beca0b3d759aaa9b01b3372f99bab10d45"
    "84a6bc1b36e8ef9b5ced5e0dee9f1afb10d975c6e65213f3edb178e1497d1757520f7a81";
static const char rsa_p[] =
    "dcea10a4d28230ca912587151f2e34f571adbfc0bceb89e78325c4e3f247f377a73146437509a8350d1f1869"
    "7aaeb85d22b8f6248e821fc571c29a8697276fe8b25709337d4ae3f3f6107f8ea31b4c18ebecc24088e073b0"
    "45c99f04556f80f61c4a016756d9470795386d858a6a8be4b6bdd26fd1eb74d1e8845c3d9e3b9e81";
static const char rsa_q[] =
    "cb4cad5588f645a7fcb823b92fdb80c8460ba6228a8d3c72003ff2bc8003401435f9b02b4383e7921a898699"
    "b56b9b0191e92b02c38f7a384f79307aa87d747b49ec2ed0459050a04a5155b69bab202531db44cb2a12921f"
    "790eee747f6dcb78021ab8da2294f822260994230800845f09cad3296c5dde1a605d041a1054a233";
static const char rsa_dp[] =
    "d307f1c051abb68a3b5f7b0c0d4e299ef1ea458c0bac817f1c041f72950670a8b3995982a53205723047ad1d"
    "4de9cc0a8459e62083d6001db00f7367f0cae697868da8277c9fe6e42d0213a8215db932f164a927d6d97b0a"
    "3f905c0c5ac4fa8f9ff47e24c68d26d23294c5e2d497f56d15b87d66fe440bc35d77db59ad674c81";
static const char rsa_dq[] =
    "b1c040097a70012548c4638fa635609b3b0b325e1f10301a68f780afa9a9addc3df92b3c1892fae4f6c8e9e3"
    "f908b585a0e2e2954f1162c65b4e55c1d9119fc7b0318e18d1c9c584f095bec0a3c8f29932c74995ed1a41a2"
    "bd00fe22e3cbc6cc0de2f95ed83fb1d881b37c4f48ced2ee19acba060cd6e1bbe4274fcfce19819b";
static const char rsa_qinv[] =
    "2813af38ed372e6b6c4a0eeb3ba82101dc29dfb9d26ef3d32f6ef4b3541aed41a94c3a416b42cf053a98ed13"
    "2998b7d0de0704ac3b9dc537bbfd1e269619fcd6ed328a792343b1ba71fdfec3fb226de205d488ac6abaf2f8"
    "e52df3d9a6f2517425a892d3266f2507fe14c8d7bf68f9bc13bfa1bd9538f10e834e2edec03a7607";
static const char rsa_msg[] = "sealhsm known-answer test message";
/* Its SHA-256 signatures of rsa_msg: PKCS#1 v1.5, and PSS with a zero-length salt */
static const char rsa_pkcs1_sig[] =
    "8d4fb155286e6efdcce26a6b3d02694a4ecdc259ae8a3c0c116331e89df2f8a90bf9d0525499503ed3304a02"
    "ad8fa4440f485e4226fabbe921a4ef08508ec2bc9b428fb075fbd556b2c4892e083329ec73907968a909e448"
    "cfa786d9a9b1093323b79c27df73b63163a2e83cbe2b95f5ed96c7a0604f56b4bba9366941ace4773a681865"
    "e05f9e9719b234cf4ba50a2451f7e0182f91be93a8029480a94667675ba8e7d5df795bdd31b279dd496110c1"
    "3dffe92e61f62f9608df7f0c69306f4f4e6a1474e7474deaab858c18f99be97a4cf0c7e54a6070c9f651c62e"
    "adb18ac544c72847e79e29c49ee87bb80319530d9de262c13913da6fe452290318b39ac9";
static const char rsa_pss_sig[] =
    "17826427cf2fbd185e620dbb7924bec492a736870810535d0992e8db52e6151b6700ba3ec7e89af59f6e7916"
    "eff7eb156ffadf2c4c9f0ef0b15ba350456daa3ebcbdbfb51789c178a5b42a9d71edc8246ffd645e0076d743"
    "8e36cde89772ad7a626de2d6d5f4982853d5e1770f41d5c79b936e739987c7372313e7008fcd0fcea397e124"
    "7ddc9cdec3f60fdd7ad86ee628209f97356c75eb57610c009d2feea9d3a8c6903ccd60572d802699ca68a22e"
    "9e49f3d06aff293b352e520a7e2ca61511a2ad635e8b2aadc962745c97e6999b7a8fec3a7b56a851e1324968"
    "6b9154e8fd5e07dfcb52c0611eab361f034cf8cff72c56bd9e49c9a0d1251f254a657e6d";

/* RFC 6979 A.2.5: P-256 key, SHA-256 signature of "sample" (r, s as DER) */
static const char p256_priv[] = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
static const char p256_pub[] =
    "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9"
    "e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
static const char p256_msg[] = "sample";

/* RFC 8032 §7.1 TEST 2 and §7.4 "1 octet" */
typedef struct eddsa_vector {
    const char *priv, *pub, *msg;
} eddsa_vector;

static const eddsa_vector ed25519_vec = {
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72"};
static const eddsa_vector ed448_vec = {
    "c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c5e3bc397"
    "a659949ef8021e954e0a12274e",
    "43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4"
    "cb82169c235160627b4c3a9480",
    "03"};

/* ---- helpers ------------------------------------------------------------------- */

/* Decodes a fixed hex value into out; returns its length, 0 if it does not fit. */
static size_t unhex(unsigned char *out, size_t cap, const char *hex) {
    size_t n = strlen(hex) / 2;
    if (n == 0 || n > cap || !su_unhex(out, n, hex))
        return 0;
    return n;
}

/* Decodes an expected value, applying the SEALHSM_SELFTEST_CORRUPT hook. */
static size_t expected(const kat_ctx *c, unsigned char *out, size_t cap, const char *hex) {
    size_t n = unhex(out, cap, hex);
    if (n > 0 && c->corrupt)
        out[n / 2] ^= 0x01;
    return n;
}

static bool same(const unsigned char *got, size_t gotlen, const unsigned char *want,
                 size_t wantlen) {
    return wantlen > 0 && gotlen == wantlen && memcmp(got, want, wantlen) == 0;
}

static bool matches(const kat_ctx *c, const char *hex, const unsigned char *got, size_t gotlen) {
    unsigned char want[KAT_MAX];
    return same(got, gotlen, want, expected(c, want, sizeof(want), hex));
}

/* ---- digests, MAC, KDF --------------------------------------------------------- */

static bool kat_digest(const kat_ctx *c, const kat *k) {
    EVP_MD *md = EVP_MD_fetch(c->libctx, k->alg, c->propq);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int outlen = 0;
    int ok = md != NULL && EVP_Digest(msg_abc, strlen(msg_abc), out, &outlen, md, NULL) &&
             matches(c, k->expect, out, outlen);
    EVP_MD_free(md);
    return ok;
}

static bool kat_hmac(const kat_ctx *c, const kat *k) {
    EVP_MAC *mac = EVP_MAC_fetch(c->libctx, "HMAC", c->propq);
    EVP_MAC_CTX *mctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[3], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)k->alg, 0);
    if (c->propq != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_PROPERTIES, (char *)c->propq, 0);
    *p = OSSL_PARAM_construct_end();
    unsigned char out[EVP_MAX_MD_SIZE];
    size_t outlen = 0;
    int ok = mctx != NULL &&
             EVP_MAC_init(mctx, (const unsigned char *)hmac_key, strlen(hmac_key), params) &&
             EVP_MAC_update(mctx, (const unsigned char *)hmac_data, strlen(hmac_data)) &&
             EVP_MAC_final(mctx, out, &outlen, sizeof(out)) && matches(c, k->expect, out, outlen);
    EVP_MAC_CTX_free(mctx);
    EVP_MAC_free(mac);
    return ok;
}

static bool kat_hkdf(const kat_ctx *c, const kat *k) {
    unsigned char ikm[32], salt[32], info[32], out[42];
    size_t ikmlen = unhex(ikm, sizeof(ikm), hkdf_ikm),
           saltlen = unhex(salt, sizeof(salt), hkdf_salt),
           infolen = unhex(info, sizeof(info), hkdf_info);
    EVP_KDF *kdf = EVP_KDF_fetch(c->libctx, "HKDF", c->propq);
    EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[6], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)k->alg, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, ikmlen);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, saltlen);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, infolen);
    if (c->propq != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_PROPERTIES, (char *)c->propq, 0);
    *p = OSSL_PARAM_construct_end();
    int ok = kctx != NULL && ikmlen > 0 && saltlen > 0 && infolen > 0 &&
             EVP_KDF_derive(kctx, out, sizeof(out), params) &&
             matches(c, k->expect, out, sizeof(out));
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    OPENSSL_cleanse(ikm, sizeof(ikm));
    OPENSSL_cleanse(out, sizeof(out));
    return ok;
}

/* ---- AES-256-GCM ---------------------------------------------------------------- */

typedef struct gcm_vector {
    unsigned char key[32], iv[12], aad[20], pt[60];
    size_t keylen, ivlen, aadlen, ptlen;
} gcm_vector;

static bool gcm_load(gcm_vector *v) {
    v->keylen = unhex(v->key, sizeof(v->key), gcm_key);
    v->ivlen = unhex(v->iv, sizeof(v->iv), gcm_iv);
    v->aadlen = unhex(v->aad, sizeof(v->aad), gcm_aad);
    v->ptlen = unhex(v->pt, sizeof(v->pt), gcm_pt);
    return v->keylen == 32 && v->ivlen == 12 && v->aadlen > 0 && v->ptlen > 0;
}

/* Encrypts v->pt into out (ciphertext followed by the 16-byte tag). */
static bool gcm_seal(EVP_CIPHER *cipher, const gcm_vector *v, unsigned char *out) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    int ok = ctx != NULL && EVP_EncryptInit_ex2(ctx, cipher, v->key, v->iv, NULL) &&
             EVP_EncryptUpdate(ctx, NULL, &n, v->aad, (int)v->aadlen) &&
             EVP_EncryptUpdate(ctx, out, &n, v->pt, (int)v->ptlen) &&
             EVP_EncryptFinal_ex(ctx, out + n, &fin) && (size_t)(n + fin) == v->ptlen &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + v->ptlen) > 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* True when in (ciphertext || tag) authenticates and decrypts to v->pt. */
static bool gcm_open(EVP_CIPHER *cipher, const gcm_vector *v, const unsigned char *in) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    unsigned char pt[sizeof(v->pt)];
    int n = 0, fin = 0;
    int ok = ctx != NULL && EVP_DecryptInit_ex2(ctx, cipher, v->key, v->iv, NULL) &&
             EVP_DecryptUpdate(ctx, NULL, &n, v->aad, (int)v->aadlen) &&
             EVP_DecryptUpdate(ctx, pt, &n, in, (int)v->ptlen) &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(in + v->ptlen)) > 0 &&
             EVP_DecryptFinal_ex(ctx, pt + n, &fin) > 0 && (size_t)(n + fin) == v->ptlen &&
             memcmp(pt, v->pt, v->ptlen) == 0;
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(pt, sizeof(pt));
    return ok;
}

/* A tampered message must not open; its failure is expected, so its errors are dropped. */
static bool gcm_rejects(EVP_CIPHER *cipher, const gcm_vector *v, const unsigned char *sealed,
                        size_t flip) {
    unsigned char bad[sizeof(v->pt) + 16];
    memcpy(bad, sealed, v->ptlen + 16);
    bad[flip] ^= 0x80;
    ERR_set_mark();
    int opened = gcm_open(cipher, v, bad);
    ERR_pop_to_mark();
    return !opened;
}

static bool kat_gcm(const kat_ctx *c, const kat *k) {
    gcm_vector v;
    unsigned char sealed[sizeof(v.pt) + 16];
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(c->libctx, k->alg, c->propq);
    int ok = cipher != NULL && gcm_load(&v) && gcm_seal(cipher, &v, sealed) &&
             matches(c, k->expect, sealed, v.ptlen + 16) && gcm_open(cipher, &v, sealed) &&
             gcm_rejects(cipher, &v, sealed, 0) && gcm_rejects(cipher, &v, sealed, v.ptlen + 15);
    EVP_CIPHER_free(cipher);
    OPENSSL_cleanse(&v, sizeof(v));
    return ok;
}

/* ---- Argon2id (RFC 9106 §5.3) ------------------------------------------------------ */

static bool kat_argon2id(const kat_ctx *c, const kat *k) {
    unsigned char pwd[32], salt[16], secret[8], ad[12], tag[32];
    memset(pwd, 0x01, sizeof(pwd));
    memset(salt, 0x02, sizeof(salt));
    memset(secret, 0x03, sizeof(secret));
    memset(ad, 0x04, sizeof(ad));
    argon2_context a = {0};
    a.out = tag;
    a.outlen = sizeof(tag);
    a.pwd = pwd;
    a.pwdlen = sizeof(pwd);
    a.salt = salt;
    a.saltlen = sizeof(salt);
    a.secret = secret;
    a.secretlen = sizeof(secret);
    a.ad = ad;
    a.adlen = sizeof(ad);
    a.t_cost = 3;
    a.m_cost = 32;
    a.lanes = 4;
    a.threads = 1; /* same tag as 4 threads; a provider load should not spawn threads */
    a.version = ARGON2_VERSION_13;
    a.flags = ARGON2_DEFAULT_FLAGS;
    int ok = argon2_ctx(&a, Argon2_id) == ARGON2_OK && matches(c, k->expect, tag, sizeof(tag));
    OPENSSL_cleanse(pwd, sizeof(pwd));
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(tag, sizeof(tag));
    return ok;
}

/* ---- signatures ------------------------------------------------------------------ */

static bool pss_zero_salt(EVP_PKEY_CTX *pctx) {
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 0) > 0;
}

/* One-shot signature; md is NULL for EdDSA; pss selects RSA-PSS with an empty salt,
 * which makes PSS deterministic and so comparable to a fixed value. */
static bool sign_msg(const kat_ctx *c, EVP_PKEY *pkey, const char *md, int pss,
                     const unsigned char *msg, size_t msglen, unsigned char *sig, size_t *siglen) {
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = mctx != NULL &&
             EVP_DigestSignInit_ex(mctx, &pctx, md, c->libctx, c->propq, pkey, NULL) > 0 &&
             (!pss || pss_zero_salt(pctx)) && EVP_DigestSign(mctx, sig, siglen, msg, msglen) > 0;
    EVP_MD_CTX_free(mctx);
    return ok;
}

static bool verify_msg(const kat_ctx *c, EVP_PKEY *pkey, const char *md, int pss,
                       const unsigned char *msg, size_t msglen, const unsigned char *sig,
                       size_t siglen) {
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = mctx != NULL &&
             EVP_DigestVerifyInit_ex(mctx, &pctx, md, c->libctx, c->propq, pkey, NULL) > 0 &&
             (!pss || pss_zero_salt(pctx)) && EVP_DigestVerify(mctx, sig, siglen, msg, msglen) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

/* A verifier that accepts anything would pass every positive test; this one must fail. */
static bool verify_rejects(const kat_ctx *c, EVP_PKEY *pkey, const char *md,
                           const unsigned char *msg, size_t msglen, const unsigned char *sig,
                           size_t siglen) {
    ERR_set_mark();
    int accepted = verify_msg(c, pkey, md, 0, msg, msglen, sig, siglen);
    ERR_pop_to_mark();
    return !accepted;
}

static EVP_PKEY *from_data(const kat_ctx *c, const char *type, OSSL_PARAM_BLD *bld) {
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(c->libctx, type, c->propq);
    EVP_PKEY *pkey = NULL;
    if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static EVP_PKEY *rsa_test_key(const kat_ctx *c) {
    static const struct {
        const char *param, *hex;
    } parts[] = {
        {OSSL_PKEY_PARAM_RSA_N, rsa_n},          {OSSL_PKEY_PARAM_RSA_E, "010001"},
        {OSSL_PKEY_PARAM_RSA_D, rsa_d},          {OSSL_PKEY_PARAM_RSA_FACTOR1, rsa_p},
        {OSSL_PKEY_PARAM_RSA_FACTOR2, rsa_q},    {OSSL_PKEY_PARAM_RSA_EXPONENT1, rsa_dp},
        {OSSL_PKEY_PARAM_RSA_EXPONENT2, rsa_dq}, {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, rsa_qinv},
    };
    enum { NPARTS = sizeof(parts) / sizeof(parts[0]) };
    BIGNUM *bn[NPARTS] = {0};
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    int ok = bld != NULL;
    for (size_t i = 0; ok && i < NPARTS; i++)
        ok = BN_hex2bn(&bn[i], parts[i].hex) > 0 &&
             OSSL_PARAM_BLD_push_BN(bld, parts[i].param, bn[i]);
    EVP_PKEY *pkey = ok ? from_data(c, "RSA", bld) : NULL;
    OSSL_PARAM_BLD_free(bld);
    for (size_t i = 0; i < NPARTS; i++)
        BN_clear_free(bn[i]);
    return pkey;
}

static bool rsa_kat(const kat_ctx *c, const kat *k, int pss) {
    const unsigned char *msg = (const unsigned char *)rsa_msg;
    size_t msglen = strlen(rsa_msg);
    unsigned char sig[KAT_MAX];
    size_t siglen = sizeof(sig);
    EVP_PKEY *pkey = rsa_test_key(c);
    int ok = pkey != NULL && sign_msg(c, pkey, k->alg, pss, msg, msglen, sig, &siglen) &&
             matches(c, k->expect, sig, siglen) &&
             verify_msg(c, pkey, k->alg, pss, msg, msglen, sig, siglen);
    EVP_PKEY_free(pkey);
    return ok;
}

static bool kat_rsa_pkcs1(const kat_ctx *c, const kat *k) {
    return rsa_kat(c, k, 0);
}

static bool kat_rsa_pss(const kat_ctx *c, const kat *k) {
    return rsa_kat(c, k, 1);
}

static EVP_PKEY *p256_test_key(const kat_ctx *c) {
    unsigned char pub[65];
    BIGNUM *priv = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld != NULL && unhex(pub, sizeof(pub), p256_pub) == sizeof(pub) &&
        BN_hex2bn(&priv, p256_priv) > 0 &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)))
        pkey = from_data(c, "EC", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    return pkey;
}

/* ECDSA signatures are randomized (no RFC 6979 in OpenSSL 3.0), so the known answer is
 * checked by verification, and signing by a pairwise sign-then-verify. */
static bool kat_ecdsa(const kat_ctx *c, const kat *k) {
    const unsigned char *msg = (const unsigned char *)p256_msg;
    size_t msglen = strlen(p256_msg);
    unsigned char known[KAT_MAX], sig[KAT_MAX];
    size_t knownlen = expected(c, known, sizeof(known), k->expect), siglen = sizeof(sig);
    EVP_PKEY *pkey = p256_test_key(c);
    int ok = pkey != NULL && knownlen > 0 &&
             verify_msg(c, pkey, k->alg, 0, msg, msglen, known, knownlen) &&
             verify_rejects(c, pkey, k->alg, msg, msglen - 1, known, knownlen) &&
             sign_msg(c, pkey, k->alg, 0, msg, msglen, sig, &siglen) &&
             verify_msg(c, pkey, k->alg, 0, msg, msglen, sig, siglen);
    EVP_PKEY_free(pkey);
    return ok;
}

static bool kat_eddsa(const kat_ctx *c, const kat *k) {
    const eddsa_vector *v = k->data;
    unsigned char priv[57], pub[57], derived[57], msg[8], sig[114];
    size_t privlen = unhex(priv, sizeof(priv), v->priv), publen = unhex(pub, sizeof(pub), v->pub),
           msglen = unhex(msg, sizeof(msg), v->msg), derivedlen = sizeof(derived),
           siglen = sizeof(sig);
    EVP_PKEY *pkey =
        privlen > 0 ? EVP_PKEY_new_raw_private_key_ex(c->libctx, k->alg, c->propq, priv, privlen)
                    : NULL;
    int ok = pkey != NULL && publen > 0 && msglen > 0 &&
             EVP_PKEY_get_raw_public_key(pkey, derived, &derivedlen) > 0 &&
             same(derived, derivedlen, pub, publen) &&
             sign_msg(c, pkey, NULL, 0, msg, msglen, sig, &siglen) &&
             matches(c, k->expect, sig, siglen) &&
             verify_msg(c, pkey, NULL, 0, msg, msglen, sig, siglen);
    EVP_PKEY_free(pkey);
    OPENSSL_cleanse(priv, sizeof(priv));
    return ok;
}

/* ---- DRBG health ------------------------------------------------------------------ */

static bool kat_drbg(const kat_ctx *c, const kat *k) {
    static const unsigned char zero[32];
    unsigned char a[32], b[32];
    int ok = RAND_bytes_ex(c->libctx, a, sizeof(a), 0) > 0 &&
             RAND_bytes_ex(c->libctx, b, sizeof(b), 0) > 0;
    if (ok && c->corrupt)
        memcpy(b, a, sizeof(b));
    ok = ok && memcmp(a, b, sizeof(a)) != 0 && memcmp(a, zero, sizeof(a)) != 0 &&
         memcmp(b, zero, sizeof(b)) != 0;
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return ok;
}

/* ---- the list ------------------------------------------------------------------------ */

static const kat kats[] = {
    {"sha256", kat_digest, "SHA2-256", NULL,
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"sha384", kat_digest, "SHA2-384", NULL,
     "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca1"
     "34c825a7"},
    {"sha512", kat_digest, "SHA2-512", NULL,
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23"
     "a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
    {"sha3-256", kat_digest, "SHA3-256", NULL,
     "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"},
    {"hmac-sha256", kat_hmac, "SHA2-256", NULL,
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {"hkdf-sha256", kat_hkdf, "SHA2-256", NULL,
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"aes-256-gcm", kat_gcm, "AES-256-GCM", NULL,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
     "56828838c5f61e6393ba7a0abcc9f66276fc6ece0f4e1768cddf8853bb2d551b"},
    {"argon2id", kat_argon2id, NULL, NULL,
     "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"},
    {"rsa-pkcs1-sign", kat_rsa_pkcs1, "SHA2-256", NULL, rsa_pkcs1_sig},
    {"rsa-pss-sign", kat_rsa_pss, "SHA2-256", NULL, rsa_pss_sig},
    {"ecdsa-p256", kat_ecdsa, "SHA2-256", NULL,
     "3046022100efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716022100f7cb1c94"
     "2d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"},
    {"ed25519", kat_eddsa, "ED25519", &ed25519_vec,
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
     "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"ed448", kat_eddsa, "ED448", &ed448_vec,
     "26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f4352541b143c4b981b7e18f62de"
     "8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cbcee1afb2e027df36bc04dcecbf154336c19f0af7e0a64729"
     "05e799f1953d2a0ff3348ab21aa4adafd1d234441cf807c03a00"},
    {"drbg", kat_drbg, NULL, NULL, NULL},
};

static int run_kats(OSSL_LIB_CTX *libctx, const char *propq, int digests_only,
                    void (*report)(const char *name, int ok, void *arg), void *arg, ss_error *e) {
    const char *corrupt = getenv("SEALHSM_SELFTEST_CORRUPT");
    const char *first = NULL;
    int failures = 0;
    /* run every test even after a failure, so `sealhsm selftest` shows the whole picture */
    for (size_t i = 0; i < sizeof(kats) / sizeof(kats[0]); i++) {
        const kat *k = &kats[i];
        if (digests_only && k->fn != kat_digest)
            continue;
        kat_ctx c = {libctx, propq, corrupt != NULL && strcmp(corrupt, k->name) == 0};
        int ok = k->fn(&c, k) == 1;
        if (report != NULL)
            report(k->name, ok, arg);
        if (!ok && failures++ == 0)
            first = k->name;
    }
    if (failures > 0)
        return su_err(e, SU_EINTEGRITY, "self-test %s failed (%d of %zu tests failed)", first,
                      failures, sizeof(kats) / sizeof(kats[0]));
    return SU_OK;
}

int ss_selftest(OSSL_LIB_CTX *libctx, const char *propq,
                void (*report)(const char *name, int ok, void *arg), void *arg, ss_error *e) {
    return run_kats(libctx, propq, 0, report, arg, e);
}

int ss_selftest_digests(OSSL_LIB_CTX *libctx, const char *propq,
                        void (*report)(const char *name, int ok, void *arg), void *arg,
                        ss_error *e) {
    return run_kats(libctx, propq, 1, report, arg, e);
}
