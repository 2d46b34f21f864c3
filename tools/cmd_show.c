/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm show`: one key with its policy, usage and certificate. */
#include "cli.h"

#include <grp.h>
#include <pwd.h>
#include <string.h>

/* Certificates closer to expiry than this get a warning. */
#define EXPIRY_WARN_DAYS 30

static void line_time(const char *name, int64_t t, const char *zero) {
    char buf[32];
    if (t == 0) {
        printf("%s: %s\n", name, zero);
        return;
    }
    su_format_time(t, buf);
    printf("%s: %s\n", name, buf);
}

static void print_digests(unsigned set) {
    const char *sep = "";
    printf("digests: ");
    for (int i = 0; i < 32; i++) {
        const char *name = (set & (1u << i)) ? ss_digest_name(1u << i) : NULL;
        if (name != NULL) {
            printf("%s%s", sep, name);
            sep = ",";
        }
    }
    printf("%s\n", *sep ? "" : "none");
}

static void print_users(const ss_policy *p) {
    printf("users: ");
    if (p->nusers == 0)
        printf("any");
    for (uint32_t i = 0; i < p->nusers && i < SS_MAX_USERS; i++) {
        struct passwd *pw = getpwuid(p->users[i]);
        printf("%s%u", i ? "," : "", p->users[i]);
        if (pw != NULL)
            printf(" (%s)", pw->pw_name);
    }
    printf("\n");
}

static void print_groups(const ss_policy *p) {
    printf("groups: ");
    if (p->ngroups == 0)
        printf("any");
    for (uint32_t i = 0; i < p->ngroups && i < SS_MAX_GROUPS; i++) {
        struct group *gr = getgrgid(p->groups[i]);
        printf("%s%u", i ? "," : "", p->groups[i]);
        if (gr != NULL)
            printf(" (%s)", gr->gr_name);
    }
    printf("\n");
}

static void print_policy(const ss_keyinfo *k) {
    const ss_policy *p = &k->policy;
    char buf[64];
    print_digests(p->digests);
    unsigned pad = p->paddings & (SS_PAD_PSS | SS_PAD_PKCS1);
    printf("padding: %s\n", pad == (SS_PAD_PSS | SS_PAD_PKCS1) ? "pss,pkcs1"
                            : pad == SS_PAD_PSS                ? "pss"
                            : pad == SS_PAD_PKCS1              ? "pkcs1"
                                                               : "none");
    line_time("not_before", p->not_before, "none");
    line_time("not_after", p->not_after, "none");
    if (p->max_signatures)
        printf("max_signatures: %llu\n", (unsigned long long)p->max_signatures);
    else
        printf("max_signatures: none\n");
    if (p->rate_count)
        su_format_rate(p->rate_count, p->rate_period, buf, sizeof(buf));
    printf("rate: %s\n", p->rate_count ? buf : "none");
    printf("approvals: %u\n", p->approvals);
    su_format_duration(p->activation_ttl, buf, sizeof(buf));
    printf("activation_ttl: %s\n", buf);
    if (p->approvals)
        line_time("activation_expires", k->activation_expires, "none");
    print_users(p);
    print_groups(p);
    printf("key_pin: %s\n", p->key_pin ? "yes" : "no");
    printf("audit: %s\n", p->audit_batched ? "batched" : "durable");
}

static void print_cert(const cli_certinfo *ci, size_t n) {
    printf("certificate_subject: %s\n", ci->subject);
    printf("certificate_issuer: %s\n", ci->issuer);
    line_time("certificate_not_before", ci->not_before, "none");
    line_time("certificate_not_after", ci->not_after, "none");
    printf("certificate_serial: %s\n", ci->serial);
    printf("certificate_chain: %zu\n", n);
    int64_t left = ci->not_after - su_now();
    char buf[32];
    su_format_time(ci->not_after, buf);
    if (left < 0)
        printf("warning: certificate expired on %s\n", buf);
    else if (left < EXPIRY_WARN_DAYS * 86400)
        printf("warning: certificate expires in %lld days\n", (long long)(left / 86400));
    if (!ci->has_code_signing_eku)
        printf("warning: certificate lacks the codeSigning extended key usage\n");
}

static void print_text(const ss_keyinfo *k, const cli_certinfo *ci, size_t ncerts) {
    char id[2 * SS_KEY_ID_LEN + 1], type[16];
    su_hex(id, k->id, sizeof(k->id));
    ss_keytype_name(k->type, type);
    printf("label: %s\nid: %s\ntype: %s\nenv: %s\nstate: %s\n", k->label, id, type,
           ss_env_name(k->policy.env), ss_state_name(k->state));
    if (k->state != SS_STATE_ACTIVE)
        line_time("state_changed", k->state_time, "unknown");
    if (k->state_reason[0] != '\0')
        printf("state_reason: %s\n", k->state_reason);
    printf("origin: %s\n", ss_origin_name(k->origin));
    line_time("created", k->created, "unknown");
    if (k->description[0] != '\0')
        printf("description: %s\n", k->description);
    print_policy(k);
    printf("signatures: %llu\n", (unsigned long long)k->signatures);
    line_time("last_used", k->last_used, "never");
    if (ncerts > 0)
        print_cert(ci, ncerts);
}

static json_t *json_show(const ss_keyinfo *k, const cli_certinfo *ci, size_t ncerts) {
    json_t *o = cli_json_key(k);
    json_object_set_new(o, "description", cli_json_str(k->description));
    json_object_set_new(o, "state_reason", cli_json_str(k->state_reason));
    json_object_set_new(o, "policy", cli_json_policy(&k->policy));
    json_t *u = json_object();
    json_object_set_new(u, "signatures", json_integer((json_int_t)k->signatures));
    json_object_set_new(u, "last_used", cli_json_time(k->last_used));
    json_object_set_new(o, "usage", u);
    if (ncerts > 0) {
        json_t *cert = json_object();
        json_object_set_new(cert, "subject", cli_json_str(ci->subject));
        json_object_set_new(cert, "issuer", cli_json_str(ci->issuer));
        json_object_set_new(cert, "not_before", cli_json_time(ci->not_before));
        json_object_set_new(cert, "not_after", cli_json_time(ci->not_after));
        json_object_set_new(cert, "serial", json_string(ci->serial));
        json_object_set_new(o, "certificate", cert);
    }
    return o;
}

int cmd_show(cli *c, int argc, char **argv) {
    ss_store *s;
    int rc = cli_reader_session(c, argc, argv, cli_reader_json_opts, NULL, NULL, 1, 1, &s);
    if (rc != SU_OK)
        return rc;
    ss_keyinfo *k = NULL;
    ss_blob *chain = NULL;
    size_t n = 0;
    cli_certinfo ci = {0};
    rc = ss_key_get(s, c->pos[0], NULL, &k, &c->err);
    if (rc == SU_OK && k->state != SS_STATE_DESTROYED)
        rc = ss_cert_get(s, k->id, &chain, &n, &c->err);
    if (rc == SU_OK && n > 0)
        rc = cli_certinfo_parse(c, k->label, &chain[0], &ci);
    if (rc == SU_OK && c->json)
        rc = cli_print_json(c, json_show(k, &ci, n));
    else if (rc == SU_OK)
        print_text(k, &ci, n);
    cli_certinfo_clear(&ci);
    ss_blobs_free(chain, n);
    ss_keyinfo_free(k);
    ss_close(s);
    return rc;
}
