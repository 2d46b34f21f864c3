/* SPDX-License-Identifier: Apache-2.0 */
/* Opening the keystore and logging in: the first steps of nearly every command. */
#include "cli.h"

#include <limits.h>
#include <stdbool.h>

int cli_keystore_path(cli *c, char *out, size_t len) {
    return ss_resolve_path(c->keystore, out, len, &c->err);
}

const struct option cli_reader_json_opts[] = {CLI_OPTS_COMMON, CLI_OPTS_READER, CLI_OPT_JSON,
                                              CLI_OPTS_END};

ss_role cli_reader_role(const cli *c) {
    return c->so ? SS_ROLE_SO : SS_ROLE_USER;
}

/* cli_parse, then open and log in as the role so_only or --so picks (the role depends
 * on --so, so it is chosen only once the options are parsed). */
static int parse_and_open(cli *c, int argc, char **argv, const struct option *opts, cli_opt_fn fn,
                          void *ctx, int minpos, int maxpos, bool so_only, ss_store **s) {
    *s = NULL;
    int rc = cli_parse(c, argc, argv, opts, fn, ctx, minpos, maxpos);
    if (rc != SU_OK)
        return rc;
    return cli_session(c, so_only ? SS_ROLE_SO : cli_reader_role(c), NULL, s);
}

int cli_reader_session(cli *c, int argc, char **argv, const struct option *opts, cli_opt_fn fn,
                       void *ctx, int minpos, int maxpos, ss_store **s) {
    return parse_and_open(c, argc, argv, opts, fn, ctx, minpos, maxpos, false, s);
}

int cli_so_session(cli *c, int argc, char **argv, const struct option *opts, cli_opt_fn fn,
                   void *ctx, int minpos, int maxpos, ss_store **s) {
    return parse_and_open(c, argc, argv, opts, fn, ctx, minpos, maxpos, true, s);
}

int cli_session_pin(cli *c, ss_role role, const char *officer, ss_store **out, su_pin **pin_out) {
    char path[PATH_MAX];
    ss_store *s = NULL;
    su_pin *pin = NULL;
    *out = NULL;
    /* open before asking for a PIN: a missing keystore is reported as such */
    int rc = cli_keystore_path(c, path, sizeof(path));
    if (rc == SU_OK)
        rc = ss_open(path, NULL, NULL, &s, &c->err);
    if (rc != SU_OK)
        return rc;
    if (role != SS_ROLE_NONE) {
        rc = cli_role_pin(c, role, officer, &pin);
        if (rc == SU_OK)
            rc = ss_login(s, role, officer, pin, &c->err);
    }
    if (rc != SU_OK || pin_out == NULL)
        su_pin_free(pin);
    if (rc != SU_OK) {
        ss_close(s);
        return rc;
    }
    if (pin_out != NULL)
        *pin_out = pin;
    *out = s;
    return SU_OK;
}

int cli_session(cli *c, ss_role role, const char *officer, ss_store **out) {
    return cli_session_pin(c, role, officer, out, NULL);
}
