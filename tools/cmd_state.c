/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm disable|enable|revoke|destroy`: a key's lifecycle, SO only. */
#include "cli.h"

#include <string.h>

static int reason_opt(cli *c, int opt, const char *arg, void *ctx) {
    if (opt != OPT_REASON)
        return CLI_NOT_MINE;
    if (strlen(arg) > SS_REASON_MAX)
        return cli_usage_err(c, "--reason is longer than %d bytes", SS_REASON_MAX);
    *(const char **)ctx = arg;
    return SU_OK;
}

static int set_state(cli *c, int argc, char **argv, ss_state st) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON,
        CLI_OPTS_LOGIN,
        {"reason", required_argument, NULL, OPT_REASON},
        CLI_OPTS_END,
    };
    const char *reason = NULL;
    ss_store *s;
    int rc = cli_so_session(c, argc, argv, opts, reason_opt, &reason, 1, 1, &s);
    if (rc != SU_OK)
        return rc;
    rc = ss_key_set_state(s, c->pos[0], st, reason, &c->err);
    if (rc == SU_OK)
        printf("key %s %s\n", c->pos[0], st == SS_STATE_ACTIVE ? "enabled" : ss_state_name(st));
    ss_close(s);
    return rc;
}

int cmd_disable(cli *c, int argc, char **argv) {
    return set_state(c, argc, argv, SS_STATE_DISABLED);
}

int cmd_enable(cli *c, int argc, char **argv) {
    return set_state(c, argc, argv, SS_STATE_ACTIVE);
}

int cmd_revoke(cli *c, int argc, char **argv) {
    return set_state(c, argc, argv, SS_STATE_REVOKED);
}

int cmd_destroy(cli *c, int argc, char **argv) {
    static const struct option opts[] = {CLI_OPTS_COMMON, CLI_OPTS_LOGIN, CLI_OPTS_END};
    ss_store *s;
    int rc = cli_so_session(c, argc, argv, opts, NULL, NULL, 1, 1, &s);
    if (rc != SU_OK)
        return rc;
    rc = ss_key_destroy(s, c->pos[0], &c->err);
    if (rc == SU_OK)
        printf("key %s destroyed (zeroized in this keystore); backups made before now still "
               "hold it and restore it: destroy or lock away those backups too\n",
               c->pos[0]);
    ss_close(s);
    return rc;
}
