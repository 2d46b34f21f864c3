/* SPDX-License-Identifier: Apache-2.0 */
/*
 * st_policy_decode: the canonical policy inside every key record (authenticated,
 * but written by whatever sealhsm version made the record). A policy that decodes
 * must encode and decode to the same values, and every sign-time rule must
 * evaluate it without faulting, for a few typical requests.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void rules(const ss_policy *p, ss_alg alg) {
    static const unsigned char tbs[64];
    static const struct {
        const char *digest;
        unsigned padding;
        size_t len;
    } reqs[] = {{"sha256", 0, 32},
                {"sha384", SS_PAD_PSS, 48},
                {"SHA1", SS_PAD_PKCS1, 20},
                {NULL, 0, 64},
                {"sha3-512", SS_PAD_PKCS1, 64}};
    ss_keyinfo k = {0};
    k.label = "fuzz";
    k.type.alg = alg;
    k.policy = *p;
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        ss_sign_req req = {.digest = reqs[i].digest,
                           .padding = reqs[i].padding,
                           .tbs = tbs,
                           .tbslen = reqs[i].len,
                           .environment = "prod"};
        ss_error e = {0};
        int rc = st_policy_check_static(NULL, &k, &req, 1700000000, &e);
        FZ_CHECK(rc == SU_OK || rc == SU_EPOLICY);
        st_usage u = {.signatures = p->max_signatures,
                      .window_start = 1700000000 - 30,
                      .window_count = p->rate_count};
        rc = st_policy_check_counters(&k, &u, 1700000000, &e);
        FZ_CHECK(rc == SU_OK || rc == SU_EPOLICY);
        st_activation a = {.expires = 0, .napprovals = 1};
        snprintf(a.approvals[0].name, sizeof(a.approvals[0].name), "alice");
        a.approvals[0].time = 1700000000 - 10;
        rc = st_policy_check_activation(&k, &a, 1700000000, &e);
        FZ_CHECK(rc == SU_OK || rc == SU_EPOLICY);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ss_policy p, q;
    if (!st_policy_decode(data, size, &p))
        return 0;
    FZ_CHECK(p.nusers <= SS_MAX_USERS && p.ngroups <= SS_MAX_GROUPS && p.env <= SS_ENV_PROD);
    su_buf b;
    su_buf_init(&b, 0);
    FZ_CHECK(ss_policy_encode(&p, &b, NULL) == SU_OK);
    FZ_CHECK(st_policy_decode(b.data, b.len, &q));
    /* the encoding sorts the user and group lists; everything else is kept as is */
    qsort(p.users, p.nusers, sizeof(uint32_t), cmp_u32);
    qsort(p.groups, p.ngroups, sizeof(uint32_t), cmp_u32);
    FZ_CHECK(memcmp(&p, &q, sizeof(p)) == 0);
    su_buf_free(&b);
    unsigned char dig[32];
    FZ_CHECK(ss_policy_digest(&p, dig, NULL) == SU_OK);
    rules(&p, SS_ALG_RSA);
    rules(&p, SS_ALG_EC);
    rules(&p, SS_ALG_ED25519);
    return 0;
}
