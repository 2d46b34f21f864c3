/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm keygen`: a new key inside the store, optionally shaped like an old one. */
#include "cli.h"

typedef struct keygen_args {
    cli_policy_opts po;
    ss_keytype type;
    int have_type;
    const char *like;
} keygen_args;

static int keygen_opt(cli *c, int opt, const char *arg, void *ctx) {
    keygen_args *a = ctx;
    switch (opt) {
    case OPT_TYPE:
        a->have_type = 1;
        return ss_keytype_parse(arg, &a->type, &c->err);
    case OPT_LIKE:
        a->like = arg;
        return SU_OK;
    }
    return cli_policy_opt(c, &a->po, opt, arg);
}

static void print_new_key(const char *verb, const ss_keyinfo *k) {
    char id[2 * SS_KEY_ID_LEN + 1], type[16];
    su_hex(id, k->id, sizeof(k->id));
    ss_keytype_name(k->type, type);
    printf("key %s %s: id %s, type %s, env %s\n", k->label, verb, id, type,
           ss_env_name(k->policy.env));
}

int cli_make_key(cli *c, ss_store *s, ss_keyspec *spec, const unsigned char *pkcs8, size_t len) {
    su_pin *key_pin = NULL;
    ss_keyinfo *k = NULL;
    int rc = SU_OK;
    if (spec->policy.key_pin)
        rc = cli_key_pin(c, spec->label, &key_pin);
    spec->key_pin = key_pin;
    if (rc == SU_OK && pkcs8 != NULL)
        rc = ss_import(s, spec, pkcs8, len, &k, &c->err);
    else if (rc == SU_OK)
        rc = ss_keygen(s, spec, &k, &c->err);
    su_pin_free(key_pin);
    spec->key_pin = NULL;
    if (rc == SU_OK)
        print_new_key(pkcs8 != NULL ? "imported" : "generated", k);
    ss_keyinfo_free(k);
    return rc;
}

int cmd_keygen(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON,
        CLI_OPTS_LOGIN,
        CLI_OPTS_POLICY,
        {"type", required_argument, NULL, OPT_TYPE},
        {"like", required_argument, NULL, OPT_LIKE},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        CLI_OPTS_END,
    };
    keygen_args a = {0};
    int rc = cli_parse(c, argc, argv, opts, keygen_opt, &a, 1, 1);
    if (rc != SU_OK)
        return rc;
    if (!a.have_type && a.like == NULL)
        return cli_usage_err(c, "--type TYPE (or --like OLD) is required");

    ss_store *s;
    if ((rc = cli_session(c, SS_ROLE_SO, NULL, &s)) != SU_OK)
        return rc;
    ss_keyspec spec = {.label = c->pos[0], .type = a.type, .description = a.po.description};
    ss_policy_default(&spec.policy);
    if (a.like != NULL) {
        ss_keyinfo *old = NULL;
        rc = ss_key_get(s, a.like, NULL, &old, &c->err);
        if (rc == SU_OK) {
            spec.policy = old->policy;
            if (!a.have_type)
                spec.type = old->type;
        }
        ss_keyinfo_free(old);
    }
    if (rc == SU_OK) {
        cli_policy_apply(&a.po, &spec.policy);
        rc = cli_make_key(c, s, &spec, NULL, 0);
    }
    ss_close(s);
    return rc;
}
