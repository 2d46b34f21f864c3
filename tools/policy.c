/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The policy options (docs/reference.md, Policy), shared by keygen, import and policy. Values are
 * checked while parsing, so a bad option is a usage error before any PIN is asked;
 * they are applied later on top of a base policy (the default, the key's current
 * one, or the --like key's).
 */
#include "cli.h"

#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

enum {
    PO_ENV = 1u << 0,
    PO_DIGESTS = 1u << 1,
    PO_PADDING = 1u << 2,
    PO_NOT_BEFORE = 1u << 3,
    PO_NOT_AFTER = 1u << 4,
    PO_MAX_SIGNATURES = 1u << 5,
    PO_RATE = 1u << 6,
    PO_APPROVALS = 1u << 7,
    PO_ACTIVATION_TTL = 1u << 8,
    PO_USERS = 1u << 9,
    PO_KEY_PIN = 1u << 10,
    PO_AUDIT = 1u << 11,
    PO_GROUPS = 1u << 12,
};

/* Officers are few; anything above this is a typo. */
#define MAX_APPROVALS 64

typedef struct list_ctx {
    cli *c;
    cli_policy_opts *po;
} list_ctx;

static int one_digest(const char *item, void *arg) {
    list_ctx *l = arg;
    int forbidden = 0;
    unsigned flag = ss_digest_flag(item, &forbidden);
    if (forbidden)
        return cli_usage_err(l->c, "digest '%.32s' is never allowed (--digests)", item);
    if (flag == 0)
        return cli_usage_err(l->c, "unknown digest '%.32s' in --digests", item);
    l->po->v.digests |= flag;
    return SU_OK;
}

static int one_padding(const char *item, void *arg) {
    list_ctx *l = arg;
    if (strcmp(item, "pss") == 0)
        l->po->v.paddings |= SS_PAD_PSS;
    else if (strcmp(item, "pkcs1") == 0)
        l->po->v.paddings |= SS_PAD_PKCS1;
    else
        return cli_usage_err(l->c, "unknown padding '%.32s' in --padding (expected pss,pkcs1)",
                             item);
    return SU_OK;
}

static int one_user(const char *item, void *arg) {
    list_ctx *l = arg;
    ss_policy *p = &l->po->v;
    uint32_t uid;
    if (isdigit((unsigned char)item[0])) {
        uint64_t v;
        if (cli_uint(l->c, "--users", item, 0, UINT32_MAX - 1, &v) != SU_OK)
            return SU_EUSAGE;
        uid = (uint32_t)v;
    } else {
        struct passwd *pw = getpwnam(item);
        if (pw == NULL)
            return cli_usage_err(l->c, "unknown user '%.64s' in --users", item);
        uid = (uint32_t)pw->pw_uid;
    }
    for (uint32_t i = 0; i < p->nusers; i++)
        if (p->users[i] == uid)
            return SU_OK;
    if (p->nusers == SS_MAX_USERS)
        return cli_usage_err(l->c, "--users names more than %d users", SS_MAX_USERS);
    p->users[p->nusers++] = uid;
    return SU_OK;
}

static int one_group(const char *item, void *arg) {
    list_ctx *l = arg;
    ss_policy *p = &l->po->v;
    uint32_t gid;
    if (isdigit((unsigned char)item[0])) {
        uint64_t v;
        if (cli_uint(l->c, "--groups", item, 0, UINT32_MAX - 1, &v) != SU_OK)
            return SU_EUSAGE;
        gid = (uint32_t)v;
    } else {
        struct group *gr = getgrnam(item);
        if (gr == NULL)
            return cli_usage_err(l->c, "unknown group '%.64s' in --groups", item);
        gid = (uint32_t)gr->gr_gid;
    }
    for (uint32_t i = 0; i < p->ngroups; i++)
        if (p->groups[i] == gid)
            return SU_OK;
    if (p->ngroups == SS_MAX_GROUPS)
        return cli_usage_err(l->c, "--groups names more than %d groups", SS_MAX_GROUPS);
    p->groups[p->ngroups++] = gid;
    return SU_OK;
}

static int each(cli *c, cli_policy_opts *po, const char *opt, const char *arg,
                int (*fn)(const char *, void *)) {
    list_ctx l = {c, po};
    int rc = su_list_each(arg, fn, &l);
    if (rc == SU_EIO)
        return su_err(&c->err, SU_EIO, "out of memory parsing %s", opt);
    /* a refused item has explained itself; an empty one has not */
    if (rc != SU_OK && c->err.msg[0] == '\0')
        return cli_usage_err(c, "empty item in %s '%.64s'", opt, arg);
    return rc;
}

static bool is_none(const char *arg) {
    return strcmp(arg, "none") == 0;
}

static int time_opt(cli *c, const char *opt, const char *arg, int64_t *out) {
    if (is_none(arg)) {
        *out = 0;
        return SU_OK;
    }
    if (!su_parse_time(arg, out))
        return cli_usage_err(c,
                             "invalid time '%.64s' for %s (expected 2027-12-31 or "
                             "2027-12-31T10:00:00Z)",
                             arg, opt);
    return SU_OK;
}

int cli_policy_opt(cli *c, cli_policy_opts *po, int opt, const char *arg) {
    ss_policy *p = &po->v;
    uint64_t v;
    switch (opt) {
    case OPT_ENV:
        if (ss_env_parse(arg, &p->env, NULL) != SU_OK)
            return cli_usage_err(c, "invalid value '%.32s' for --env (expected dev|test|prod)",
                                 arg);
        po->given |= PO_ENV;
        return SU_OK;
    case OPT_DIGESTS:
        p->digests = 0;
        po->given |= PO_DIGESTS;
        return each(c, po, "--digests", arg, one_digest);
    case OPT_PADDING:
        p->paddings = 0;
        po->given |= PO_PADDING;
        return each(c, po, "--padding", arg, one_padding);
    case OPT_NOT_BEFORE:
        po->given |= PO_NOT_BEFORE;
        return time_opt(c, "--not-before", arg, &p->not_before);
    case OPT_NOT_AFTER:
        po->given |= PO_NOT_AFTER;
        return time_opt(c, "--not-after", arg, &p->not_after);
    case OPT_MAX_SIGNATURES:
        po->given |= PO_MAX_SIGNATURES;
        if (is_none(arg)) {
            p->max_signatures = 0;
            return SU_OK;
        }
        return cli_uint(c, "--max-signatures", arg, 1, INT64_MAX, &p->max_signatures);
    case OPT_RATE:
        po->given |= PO_RATE;
        if (is_none(arg)) {
            p->rate_count = p->rate_period = 0;
            return SU_OK;
        }
        if (!su_parse_rate(arg, &p->rate_count, &p->rate_period))
            return cli_usage_err(
                c, "invalid value '%.32s' for --rate (expected N/sec|min|hour|day)", arg);
        return SU_OK;
    case OPT_APPROVALS:
        po->given |= PO_APPROVALS;
        if (cli_uint(c, "--approvals", arg, 0, MAX_APPROVALS, &v) != SU_OK)
            return SU_EUSAGE;
        p->approvals = (uint32_t)v;
        return SU_OK;
    case OPT_ACTIVATION_TTL:
        po->given |= PO_ACTIVATION_TTL;
        if (!su_parse_duration(arg, &v) || v > UINT32_MAX)
            return cli_usage_err(
                c, "invalid value '%.32s' for --activation-ttl (expected e.g. 30s, 15m, 1h, 1d)",
                arg);
        p->activation_ttl = (uint32_t)v;
        return SU_OK;
    case OPT_USERS:
        po->given |= PO_USERS;
        p->nusers = 0;
        if (strcmp(arg, "any") == 0)
            return SU_OK;
        return each(c, po, "--users", arg, one_user);
    case OPT_GROUPS:
        po->given |= PO_GROUPS;
        p->ngroups = 0;
        if (strcmp(arg, "any") == 0)
            return SU_OK;
        return each(c, po, "--groups", arg, one_group);
    case OPT_KEY_PIN:
    case OPT_NO_KEY_PIN:
        po->given |= PO_KEY_PIN;
        p->key_pin = opt == OPT_KEY_PIN;
        return SU_OK;
    case OPT_AUDIT:
        po->given |= PO_AUDIT;
        if (strcmp(arg, "durable") == 0)
            p->audit_batched = 0;
        else if (strcmp(arg, "batched") == 0)
            p->audit_batched = 1;
        else
            return cli_usage_err(c, "invalid value '%.32s' for --audit (expected durable|batched)",
                                 arg);
        return SU_OK;
    case OPT_DESCRIPTION:
        if (strlen(arg) > SS_DESC_MAX)
            return cli_usage_err(c, "--description is longer than %d bytes", SS_DESC_MAX);
        po->description = arg;
        return SU_OK;
    }
    return CLI_NOT_MINE;
}

void cli_policy_apply(const cli_policy_opts *po, ss_policy *p) {
    const ss_policy *v = &po->v;
    if (po->given & PO_ENV)
        p->env = v->env;
    if (po->given & PO_DIGESTS)
        p->digests = v->digests;
    if (po->given & PO_PADDING)
        p->paddings = v->paddings;
    if (po->given & PO_NOT_BEFORE)
        p->not_before = v->not_before;
    if (po->given & PO_NOT_AFTER)
        p->not_after = v->not_after;
    if (po->given & PO_MAX_SIGNATURES)
        p->max_signatures = v->max_signatures;
    if (po->given & PO_RATE) {
        p->rate_count = v->rate_count;
        p->rate_period = v->rate_period;
    }
    if (po->given & PO_APPROVALS)
        p->approvals = v->approvals;
    if (po->given & PO_ACTIVATION_TTL)
        p->activation_ttl = v->activation_ttl;
    if (po->given & PO_USERS) {
        p->nusers = v->nusers;
        memcpy(p->users, v->users, sizeof(p->users));
    }
    if (po->given & PO_GROUPS) {
        p->ngroups = v->ngroups;
        memcpy(p->groups, v->groups, sizeof(p->groups));
    }
    if (po->given & PO_KEY_PIN)
        p->key_pin = v->key_pin;
    if (po->given & PO_AUDIT)
        p->audit_batched = v->audit_batched;
}

int cli_key_pin(cli *c, const char *label, su_pin **out) {
    char what[SS_LABEL_MAX + 16];
    snprintf(what, sizeof(what), "key %s", label);
    return cli_new_pin(c, c->key_pin_file, "--key-pin-file", "SEALHSM_KEY_PIN", NULL, what, out);
}
