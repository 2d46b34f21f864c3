/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm policy LABEL`: changes the options given, keeps the rest of the key's policy. */
#include "cli.h"

static int policy_opt(cli *c, int opt, const char *arg, void *ctx) {
    return cli_policy_opt(c, ctx, opt, arg);
}

int cmd_policy(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON, CLI_OPTS_LOGIN,
        CLI_OPTS_POLICY, {"no-key-pin", no_argument, NULL, OPT_NO_KEY_PIN},
        CLI_OPTS_END,
    };
    cli_policy_opts po = {0};
    int rc = cli_parse(c, argc, argv, opts, policy_opt, &po, 1, 1);
    if (rc != SU_OK)
        return rc;
    if (po.given == 0)
        return cli_usage_err(c, "no policy option given (see --help)");

    ss_store *s;
    if ((rc = cli_session(c, SS_ROLE_SO, NULL, &s)) != SU_OK)
        return rc;
    ss_keyinfo *k = NULL;
    su_pin *key_pin = NULL;
    rc = ss_key_get(s, c->pos[0], NULL, &k, &c->err);
    if (rc == SU_OK) {
        ss_policy p = k->policy;
        cli_policy_apply(&po, &p);
        /* a key PIN is (re)set only when --key-pin is given; otherwise the old one stays */
        if (po.v.key_pin)
            rc = cli_key_pin(c, k->label, &key_pin);
        if (rc == SU_OK)
            rc = ss_key_set_policy(s, k->label, &p, key_pin, &c->err);
        if (rc == SU_OK)
            printf("key %s: policy updated\n", k->label);
    }
    su_pin_free(key_pin);
    ss_keyinfo_free(k);
    ss_close(s);
    return rc;
}
