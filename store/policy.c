/* SPDX-License-Identifier: Apache-2.0 */
/* The sign-time policy (docs/reference.md, Policy): its canonical encoding and its rules. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLICY_VERSION 1

void ss_policy_default(ss_policy *p) {
    memset(p, 0, sizeof(*p));
    p->env = SS_ENV_DEV;
    p->digests = SS_MD_DEFAULT;
    p->paddings = SS_PAD_PKCS1 | SS_PAD_PSS;
    p->activation_ttl = 3600;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int ss_policy_encode(const ss_policy *p, su_buf *out, ss_error *e) {
    if (p->nusers > SS_MAX_USERS)
        return su_err(e, SU_EUSAGE, "policy names %u users (at most %d)", p->nusers, SS_MAX_USERS);
    if (p->ngroups > SS_MAX_GROUPS)
        return su_err(e, SU_EUSAGE, "policy names %u groups (at most %d)", p->ngroups,
                      SS_MAX_GROUPS);
    uint32_t users[SS_MAX_USERS], groups[SS_MAX_GROUPS];
    memcpy(users, p->users, p->nusers * sizeof(uint32_t));
    qsort(users, p->nusers, sizeof(uint32_t), cmp_u32);
    memcpy(groups, p->groups, p->ngroups * sizeof(uint32_t));
    qsort(groups, p->ngroups, sizeof(uint32_t), cmp_u32);
    su_buf_u8(out, POLICY_VERSION);
    su_buf_u8(out, (uint8_t)p->env);
    su_buf_u32(out, p->digests);
    su_buf_u32(out, p->paddings);
    su_buf_u64(out, (uint64_t)p->not_before);
    su_buf_u64(out, (uint64_t)p->not_after);
    su_buf_u64(out, p->max_signatures);
    su_buf_u32(out, p->rate_count);
    su_buf_u32(out, p->rate_period);
    su_buf_u32(out, p->approvals);
    su_buf_u32(out, p->activation_ttl);
    su_buf_u32(out, p->nusers);
    for (uint32_t i = 0; i < p->nusers; i++)
        su_buf_u32(out, users[i]);
    su_buf_u8(out, (uint8_t)(p->key_pin != 0));
    su_buf_u8(out, (uint8_t)(p->audit_batched != 0));
    /* Groups came later: written only when set, so every policy without them keeps
     * the encoding (and the sealed records' AAD) it had before. */
    if (p->ngroups > 0) {
        su_buf_u32(out, p->ngroups);
        for (uint32_t i = 0; i < p->ngroups; i++)
            su_buf_u32(out, groups[i]);
    }
    return out->failed ? su_err(e, SU_EIO, "out of memory encoding a policy") : SU_OK;
}

bool st_policy_decode(const unsigned char *data, size_t n, ss_policy *p) {
    su_rd r;
    uint8_t version, env, kpin, batched;
    uint64_t nb, na;
    memset(p, 0, sizeof(*p));
    su_rd_init(&r, data, n);
    su_rd_u8(&r, &version);
    su_rd_u8(&r, &env);
    su_rd_u32(&r, &p->digests);
    su_rd_u32(&r, &p->paddings);
    su_rd_u64(&r, &nb);
    su_rd_u64(&r, &na);
    su_rd_u64(&r, &p->max_signatures);
    su_rd_u32(&r, &p->rate_count);
    su_rd_u32(&r, &p->rate_period);
    su_rd_u32(&r, &p->approvals);
    su_rd_u32(&r, &p->activation_ttl);
    su_rd_u32(&r, &p->nusers);
    if (r.failed || version != POLICY_VERSION || env > SS_ENV_PROD || p->nusers > SS_MAX_USERS)
        return false;
    for (uint32_t i = 0; i < p->nusers; i++)
        su_rd_u32(&r, &p->users[i]);
    su_rd_u8(&r, &kpin);
    su_rd_u8(&r, &batched);
    if (!r.failed && r.left > 0) {
        su_rd_u32(&r, &p->ngroups);
        if (r.failed || p->ngroups == 0 || p->ngroups > SS_MAX_GROUPS)
            return false;
        for (uint32_t i = 0; i < p->ngroups; i++)
            su_rd_u32(&r, &p->groups[i]);
    }
    p->env = (ss_env)env;
    p->not_before = (int64_t)nb;
    p->not_after = (int64_t)na;
    p->key_pin = kpin;
    p->audit_batched = batched;
    return su_rd_done(&r) && kpin <= 1 && batched <= 1;
}

int ss_policy_digest(const ss_policy *p, unsigned char out[32], ss_error *e) {
    su_buf b;
    su_buf_init(&b, 0);
    int rc = ss_policy_encode(p, &b, e);
    if (rc == SU_OK && !st_sha256(NULL, b.data, b.len, NULL, 0, out))
        rc = su_err(e, SU_EIO, "SHA-256 of a policy failed");
    su_buf_free(&b);
    return rc;
}

#define DENY(...) su_err(e, SU_EPOLICY, "policy: key " __VA_ARGS__)

static bool policy_has_group(const ss_policy *p, uint32_t gid) {
    for (uint32_t i = 0; i < p->ngroups; i++)
        if (p->groups[i] == gid)
            return true;
    return false;
}

/* The signer's primary or a supplementary group is one of the key's groups. Without
 * a signer: this process's real gid and supplementary groups. */
static bool in_groups(const ss_policy *p, const ss_signer *w) {
    gid_t own[256];
    int n;

    if (w != NULL) {
        if (policy_has_group(p, w->gid))
            return true;
        for (size_t i = 0; i < w->ngroups; i++)
            if (policy_has_group(p, w->groups[i]))
                return true;
        return false;
    }
    if (policy_has_group(p, (uint32_t)getgid()))
        return true;
    n = getgroups((int)(sizeof(own) / sizeof(own[0])), own);
    for (int i = 0; i < n; i++)
        if (policy_has_group(p, (uint32_t)own[i]))
            return true;
    return false;
}

int st_policy_check_static(ss_store *s, const ss_keyinfo *k, const ss_sign_req *req, int64_t now,
                           ss_error *e) {
    const ss_policy *p = &k->policy;
    const char *L = k->label;
    char when[32];

    switch (k->state) {
    case SS_STATE_ACTIVE:
        break;
    case SS_STATE_DESTROYED:
        return su_err(e, SU_ENOTFOUND, "policy: key %s: key was destroyed", L);
    default:
        return DENY("%s: key is %s", L, ss_state_name(k->state));
    }

    ss_env want;
    const char *env_name = req->environment ? req->environment : "dev";
    if (ss_env_parse(env_name, &want, NULL) != SU_OK)
        return DENY("%s: environment '%.32s' is not dev, test or prod", L, env_name);
    if (want != p->env)
        return DENY("%s: env: key is for %s, this signer is configured for %s", L,
                    ss_env_name(p->env), env_name);

    if (p->nusers > 0) {
        uid_t uid = req->signer != NULL ? (uid_t)req->signer->uid : getuid();
        uint32_t i;
        for (i = 0; i < p->nusers && p->users[i] != (uint32_t)uid; i++)
            ;
        if (i == p->nusers)
            return DENY("%s: users: uid %u may not sign with this key", L, (unsigned)uid);
    }
    if (p->ngroups > 0 && !in_groups(p, req->signer))
        return DENY("%s: groups: uid %u is in none of the key's groups", L,
                    (unsigned)(req->signer != NULL ? req->signer->uid : (uint32_t)getuid()));

    if (p->not_before != 0 && now < p->not_before) {
        su_format_time(p->not_before, when);
        return DENY("%s: not-before: key may not sign before %s", L, when);
    }
    if (p->not_after != 0 && now >= p->not_after) {
        su_format_time(p->not_after, when);
        return DENY("%s: not-after: key expired at %s", L, when);
    }

    int eddsa = k->type.alg == SS_ALG_ED25519 || k->type.alg == SS_ALG_ED448;
    if (eddsa) {
        if (req->digest != NULL)
            return DENY("%s: digests: EdDSA signs the message itself, not a %s digest", L,
                        req->digest);
    } else {
        int forbidden;
        unsigned md = ss_digest_flag(req->digest, &forbidden);
        if (req->digest == NULL)
            return DENY("%s: digests: no digest given", L);
        if (forbidden)
            return DENY("%s: digests: %s is never allowed", L, req->digest);
        if (md == 0)
            return DENY("%s: digests: unsupported digest %s", L, req->digest);
        if (!(p->digests & md))
            return DENY("%s: digests: %s is not allowed", L, ss_digest_name(md));
        if (req->mgf1_digest != NULL && req->padding == SS_PAD_PSS) {
            unsigned mgf = ss_digest_flag(req->mgf1_digest, &forbidden);
            if (mgf == 0 || !(p->digests & mgf))
                return DENY("%s: digests: MGF1 digest %s is not allowed", L, req->mgf1_digest);
        }
    }
    if (k->type.alg == SS_ALG_RSA) {
        if (req->padding != SS_PAD_PKCS1 && req->padding != SS_PAD_PSS)
            return DENY("%s: padding: only PKCS#1 v1.5 and PSS signatures are allowed", L);
        if (!(p->paddings & req->padding))
            return DENY("%s: padding: %s is not allowed", L,
                        req->padding == SS_PAD_PSS ? "pss" : "pkcs1");
    } else if (req->padding != 0) {
        return DENY("%s: padding: not applicable to this key type", L);
    }
    (void)s;
    return SU_OK;
}

int st_policy_check_counters(const ss_keyinfo *k, st_usage *u, int64_t now, ss_error *e) {
    const ss_policy *p = &k->policy;
    const char *L = k->label;
    if (p->max_signatures != 0 && u->signatures >= p->max_signatures)
        return DENY("%s: max-signatures: all %llu signatures have been used", L,
                    (unsigned long long)p->max_signatures);
    if (p->rate_count != 0) {
        /* compared without arithmetic on the stored time, which could overflow */
        if (u->window_start <= 0 || now < u->window_start ||
            u->window_start <= now - (int64_t)p->rate_period) {
            u->window_start = now;
            u->window_count = 0;
        }
        if (u->window_count >= p->rate_count) {
            char rate[32];
            su_format_rate(p->rate_count, p->rate_period, rate, sizeof(rate));
            return DENY("%s: rate: limit of %s reached", L, rate);
        }
        u->window_count++;
    }
    u->signatures++;
    u->last_used = now;
    return SU_OK;
}

int st_policy_check_activation(const ss_keyinfo *k, const st_activation *a, int64_t now,
                               ss_error *e) {
    if (k->policy.approvals == 0)
        return SU_OK;
    if (a->expires > now)
        return SU_OK;
    uint32_t live = 0;
    for (uint32_t i = 0; i < a->napprovals; i++)
        if (a->approvals[i].time > now - (int64_t)k->policy.activation_ttl)
            live++;
    return DENY("%s: approvals: needs a live activation by %u officers (%u approval%s pending)",
                k->label, k->policy.approvals, live, live == 1 ? "" : "s");
}
