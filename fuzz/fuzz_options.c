/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Policy option parsing (docs/reference.md, Formats and conventions): times, durations, rates,
 * comma lists, digest and key-type names, environments, hex. Every parser gets the same string;
 * what parses must print in the canonical spelling and parse back to the same value.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static void one(const char *s);

static int item(const char *it, void *arg) {
    FZ_CHECK(it[0] != '\0');
    (*(int *)arg)++;
    one(it);
    return SU_OK;
}

static void one(const char *s) {
    int64_t t, t2;
    if (su_parse_time(s, &t)) {
        char buf[32];
        su_format_time(t, buf);
        FZ_CHECK(su_parse_time(buf, &t2) && t2 == t);
    }
    uint64_t d, d2;
    if (su_parse_duration(s, &d)) {
        char buf[32];
        FZ_CHECK(d > 0);
        su_format_duration(d, buf, sizeof(buf));
        FZ_CHECK(su_parse_duration(buf, &d2) && d2 == d);
    }
    uint32_t c, per, c2, per2;
    if (su_parse_rate(s, &c, &per)) {
        char buf[48];
        FZ_CHECK(c > 0 && per > 0);
        su_format_rate(c, per, buf, sizeof(buf));
        FZ_CHECK(su_parse_rate(buf, &c2, &per2) && c2 == c && per2 == per);
    }
    int forbidden = 0;
    unsigned f = ss_digest_flag(s, &forbidden);
    if (f != 0) {
        const char *name = ss_digest_name(f);
        FZ_CHECK(name != NULL && ss_digest_flag(name, NULL) == f && ss_digest_size(f) > 0);
        FZ_CHECK(!forbidden);
    }
    char canon[32];
    fz_touch_str(ss_digest_canon(s, canon, sizeof(canon)));
    ss_keytype kt, kt2;
    ss_error e = {0};
    if (ss_keytype_parse(s, &kt, &e) == SU_OK) {
        char name[16];
        ss_keytype_name(kt, name);
        FZ_CHECK(ss_keytype_parse(name, &kt2, &e) == SU_OK && kt2.alg == kt.alg &&
                 kt2.bits == kt.bits);
    } else {
        FZ_CHECK(e.code == SU_EUSAGE);
    }
    ss_env env;
    if (ss_env_parse(s, &env, NULL) == SU_OK)
        FZ_CHECK(strcmp(ss_env_name(env), s) == 0);
    unsigned char id[SU_KEY_ID_LEN];
    if (su_unhex(id, SU_KEY_ID_LEN, s)) {
        char hex[2 * SU_KEY_ID_LEN + 1];
        su_hex(hex, id, SU_KEY_ID_LEN);
        FZ_CHECK(strcasecmp(hex, s) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = fz_cstr(data, size);
    one(s);
    int n = 0;
    int rc = su_list_each(s, item, &n);
    FZ_CHECK(rc == SU_OK ? n > 0 : rc == SU_EUSAGE);
    free(s);
    return 0;
}
