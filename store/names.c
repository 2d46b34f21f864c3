/* SPDX-License-Identifier: Apache-2.0 */
/* Spellings of the store's enumerations: key types, envs, states, digests. */
#include "sealstore.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int ss_keytype_parse(const char *s, ss_keytype *out, ss_error *e) {
    static const struct {
        const char *name;
        ss_keytype t;
    } types[] = {
        {"rsa:2048", {SS_ALG_RSA, 2048}},   {"rsa:3072", {SS_ALG_RSA, 3072}},
        {"rsa:4096", {SS_ALG_RSA, 4096}},   {"ec:P-256", {SS_ALG_EC, 256}},
        {"ec:P-384", {SS_ALG_EC, 384}},     {"ec:P-521", {SS_ALG_EC, 521}},
        {"ed25519", {SS_ALG_ED25519, 255}}, {"ed448", {SS_ALG_ED448, 448}},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (s != NULL && strcasecmp(s, types[i].name) == 0) {
            *out = types[i].t;
            return SU_OK;
        }
    }
    if (s != NULL && strncasecmp(s, "rsa:", 4) == 0)
        return su_err(e, SU_EUSAGE,
                      "key type %.32s refused: RSA keys must be 2048, 3072 or 4096 bits", s);
    return su_err(e, SU_EUSAGE,
                  "unknown key type '%.32s' (expected rsa:2048|rsa:3072|rsa:4096|ec:P-256|"
                  "ec:P-384|ec:P-521|ed25519|ed448)",
                  s ? s : "");
}

void ss_keytype_name(ss_keytype t, char *out) {
    switch (t.alg) {
    case SS_ALG_RSA:
        snprintf(out, 16, "rsa:%u", t.bits);
        break;
    case SS_ALG_EC:
        snprintf(out, 16, "ec:P-%u", t.bits);
        break;
    case SS_ALG_ED25519:
        strcpy(out, "ed25519");
        break;
    case SS_ALG_ED448:
        strcpy(out, "ed448");
        break;
    default:
        strcpy(out, "unknown");
    }
}

const char *ss_keytype_ossl_name(ss_keytype t) {
    switch (t.alg) {
    case SS_ALG_RSA:
        return "RSA";
    case SS_ALG_EC:
        return "EC";
    case SS_ALG_ED25519:
        return "ED25519";
    case SS_ALG_ED448:
        return "ED448";
    }
    return "";
}

const char *ss_keytype_curve(ss_keytype t) {
    if (t.alg != SS_ALG_EC)
        return NULL;
    switch (t.bits) {
    case 256:
        return "P-256";
    case 384:
        return "P-384";
    case 521:
        return "P-521";
    }
    return NULL;
}

const char *ss_env_name(ss_env env) {
    switch (env) {
    case SS_ENV_DEV:
        return "dev";
    case SS_ENV_TEST:
        return "test";
    case SS_ENV_PROD:
        return "prod";
    }
    return "unknown";
}

int ss_env_parse(const char *s, ss_env *out, ss_error *e) {
    for (int i = SS_ENV_DEV; i <= SS_ENV_PROD; i++) {
        if (s != NULL && strcmp(s, ss_env_name((ss_env)i)) == 0) {
            *out = (ss_env)i;
            return SU_OK;
        }
    }
    return su_err(e, SU_EUSAGE, "unknown environment '%.32s' (expected dev, test or prod)",
                  s != NULL ? s : "");
}

const char *ss_state_name(ss_state st) {
    switch (st) {
    case SS_STATE_ACTIVE:
        return "active";
    case SS_STATE_DISABLED:
        return "disabled";
    case SS_STATE_REVOKED:
        return "revoked";
    case SS_STATE_DESTROYED:
        return "destroyed";
    }
    return "unknown";
}

const char *ss_origin_name(ss_origin o) {
    return o == SS_ORIGIN_IMPORTED ? "imported" : "generated";
}

static const struct {
    unsigned flag;
    const char *name;
    size_t size;
    const char *aliases[4];
} digests[] = {
    {SS_MD_SHA224, "sha224", 28, {"sha2-224", "sha-224", NULL}},
    {SS_MD_SHA256, "sha256", 32, {"sha2-256", "sha-256", NULL}},
    {SS_MD_SHA384, "sha384", 48, {"sha2-384", "sha-384", NULL}},
    {SS_MD_SHA512, "sha512", 64, {"sha2-512", "sha-512", NULL}},
    {SS_MD_SHA512_224, "sha512-224", 28, {"sha2-512/224", "sha-512/224", "sha512/224"}},
    {SS_MD_SHA512_256, "sha512-256", 32, {"sha2-512/256", "sha-512/256", "sha512/256"}},
    {SS_MD_SHA3_224, "sha3-224", 28, {NULL}},
    {SS_MD_SHA3_256, "sha3-256", 32, {NULL}},
    {SS_MD_SHA3_384, "sha3-384", 48, {NULL}},
    {SS_MD_SHA3_512, "sha3-512", 64, {NULL}},
};

/* Digests sealhsm never signs with, each spelling mapped to one name. */
static const char *forbidden_name(const char *name) {
    static const struct {
        const char *spelling, *canon;
    } never[] = {
        {"sha1", "sha1"}, {"sha-1", "sha1"},   {"sha-160", "sha1"},        {"ssl3-sha1", "sha1"},
        {"md5", "md5"},   {"ssl3-md5", "md5"}, {"md5-sha1", "md5-sha1"},   {"md4", "md4"},
        {"md2", "md2"},   {"mdc2", "mdc2"},    {"ripemd160", "ripemd160"}, {"rmd160", "ripemd160"}};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        if (strcasecmp(name, never[i].spelling) == 0)
            return never[i].canon;
    return NULL;
}

unsigned ss_digest_flag(const char *name, int *forbidden) {
    if (forbidden != NULL)
        *forbidden = 0;
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++) {
        if (strcasecmp(name, digests[i].name) == 0)
            return digests[i].flag;
        for (int j = 0; j < 4 && digests[i].aliases[j] != NULL; j++)
            if (strcasecmp(name, digests[i].aliases[j]) == 0)
                return digests[i].flag;
    }
    if (forbidden != NULL && forbidden_name(name) != NULL)
        *forbidden = 1;
    return 0;
}

const char *ss_digest_canon(const char *name, char *buf, size_t n) {
    if (name == NULL)
        return "none";
    unsigned f = ss_digest_flag(name, NULL);
    if (f != 0)
        return ss_digest_name(f);
    const char *bad = forbidden_name(name);
    if (bad != NULL)
        return bad;
    size_t i;
    for (i = 0; name[i] && i + 1 < n; i++)
        buf[i] = (char)tolower((unsigned char)name[i]);
    buf[i] = '\0';
    return buf;
}

const char *ss_digest_name(unsigned flag) {
    for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
        if (digests[i].flag == flag)
            return digests[i].name;
    return NULL;
}

size_t ss_digest_size(unsigned flag) {
    for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
        if (digests[i].flag == flag)
            return digests[i].size;
    return 0;
}

int st_label_valid(const char *label, ss_error *e) {
    size_t n = label ? strlen(label) : 0;
    if (n == 0)
        return su_err(e, SU_EUSAGE, "key label is empty");
    if (n > SS_LABEL_MAX)
        return su_err(e, SU_EUSAGE, "key label '%.40s...' is longer than %d bytes", label,
                      SS_LABEL_MAX);
    for (const unsigned char *c = (const unsigned char *)label; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return su_err(e, SU_EUSAGE, "key label may not contain control characters");
    return SU_OK;
}

void st_key_name(char *out, size_t outlen, const char *label, const unsigned char *id) {
    if (label != NULL) {
        snprintf(out, outlen, "%s", label);
    } else if (id != NULL) {
        char hex[2 * SS_KEY_ID_LEN + 1];
        su_hex(hex, id, SS_KEY_ID_LEN);
        snprintf(out, outlen, "id=%s", hex);
    } else {
        snprintf(out, outlen, "?");
    }
}
