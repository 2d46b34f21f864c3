/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy's groups rule (docs/reference.md, Policy): a policy without groups keeps
 * the canonical encoding it had before groups existed (sealed records' AAD and
 * attestation digests of existing keystores still verify); with groups it round-trips;
 * and the rule is checked against the daemon's peer or, without one, this process.
 */
#include "../../store/internal.h"
#include "check.h"

#include <string.h>
#include <unistd.h>

static void put32(unsigned char **p, uint32_t v) {
    su_be32(*p, v);
    *p += 4;
}

static void put64(unsigned char **p, uint64_t v) {
    su_be64(*p, v);
    *p += 8;
}

/* The default policy, byte by byte as docs/reference.md documents the encoding. */
static void test_encoding_without_groups(void) {
    unsigned char want[64], *p = want;
    ss_policy pol;
    su_buf b;

    *p++ = 1; /* version */
    *p++ = 0; /* dev */
    put32(&p, SS_MD_DEFAULT);
    put32(&p, SS_PAD_PKCS1 | SS_PAD_PSS);
    put64(&p, 0);
    put64(&p, 0);
    put64(&p, 0);
    put32(&p, 0);
    put32(&p, 0);
    put32(&p, 0);
    put32(&p, 3600);
    put32(&p, 0);
    *p++ = 0; /* key_pin */
    *p++ = 0; /* audit_batched */
    ss_policy_default(&pol);
    su_buf_init(&b, 0);
    CHECK_EQ_INT(ss_policy_encode(&pol, &b, NULL), SU_OK);
    CHECK_EQ_INT(b.len, (size_t)(p - want));
    CHECK(b.len == (size_t)(p - want) && memcmp(b.data, want, b.len) == 0);
    su_buf_free(&b);
}

static void test_groups_round_trip(void) {
    ss_policy pol, back;
    unsigned char d0[32], d1[32];
    su_buf b;

    ss_policy_default(&pol);
    CHECK_EQ_INT(ss_policy_digest(&pol, d0, NULL), SU_OK);
    pol.ngroups = 2;
    pol.groups[0] = 7;
    pol.groups[1] = 3;
    su_buf_init(&b, 0);
    CHECK_EQ_INT(ss_policy_encode(&pol, &b, NULL), SU_OK);
    CHECK_EQ_INT(b.len, 56 + 4 + 8);
    CHECK(st_policy_decode(b.data, b.len, &back));
    CHECK_EQ_INT(back.ngroups, 2);
    CHECK(back.groups[0] == 3 && back.groups[1] == 7); /* canonical: sorted */
    CHECK_EQ_INT(ss_policy_digest(&pol, d1, NULL), SU_OK);
    CHECK(memcmp(d0, d1, 32) != 0);
    /* a count of 0 or over the limit, or a truncated list, is not a policy */
    su_be32(b.data + 56, 0);
    CHECK(!st_policy_decode(b.data, b.len, &back));
    su_be32(b.data + 56, SS_MAX_GROUPS + 1);
    CHECK(!st_policy_decode(b.data, b.len, &back));
    su_be32(b.data + 56, 2);
    CHECK(!st_policy_decode(b.data, b.len - 1, &back));
    su_buf_free(&b);
}

static int check_as(const ss_keyinfo *k, const ss_signer *w) {
    ss_sign_req req = {.digest = "sha256", .signer = w};
    su_error e = {0};
    int rc = st_policy_check_static(NULL, k, &req, su_now(), &e);
    if (rc == SU_EPOLICY)
        CHECK(strstr(e.msg, "groups") != NULL || strstr(e.msg, "users") != NULL);
    return rc;
}

static void test_groups_rule(void) {
    ss_keyinfo k;
    uint32_t supp[] = {10, 4242};
    ss_signer primary = {.uid = 1000, .gid = 4242, .pid = 1, .user = "u", .program = "p"};
    ss_signer supplementary = primary, outsider = primary;

    memset(&k, 0, sizeof(k));
    k.label = "g";
    k.type.alg = SS_ALG_EC;
    k.type.bits = 256;
    ss_policy_default(&k.policy);
    k.policy.ngroups = 1;
    k.policy.groups[0] = 4242;
    supplementary.gid = 10;
    supplementary.groups = supp;
    supplementary.ngroups = 2;
    outsider.gid = 10;
    outsider.groups = supp;
    outsider.ngroups = 1;
    CHECK_EQ_INT(check_as(&k, &primary), SU_OK);
    CHECK_EQ_INT(check_as(&k, &supplementary), SU_OK);
    CHECK_EQ_INT(check_as(&k, &outsider), SU_EPOLICY);
    /* without a signer: this process's gid and groups */
    k.policy.groups[0] = (uint32_t)getgid();
    CHECK_EQ_INT(check_as(&k, NULL), SU_OK);
    k.policy.groups[0] = 4242424;
    CHECK_EQ_INT(check_as(&k, NULL), SU_EPOLICY);
    /* --users is checked against the signer's uid, not this process's */
    k.policy.ngroups = 0;
    k.policy.nusers = 1;
    k.policy.users[0] = 1000;
    CHECK_EQ_INT(check_as(&k, &primary), SU_OK);
    k.policy.users[0] = (uint32_t)getuid() + 1;
    CHECK_EQ_INT(check_as(&k, &primary), SU_EPOLICY);
}

static const check_case cases[] = {
    CHECK_CASE(policy_encoding_without_groups, test_encoding_without_groups),
    CHECK_CASE(policy_groups_round_trip, test_groups_round_trip),
    CHECK_CASE(policy_groups_rule, test_groups_rule),
};

CHECK_MAIN(cases, NULL, NULL)
