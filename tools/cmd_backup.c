/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm backup` and `sealhsm restore`: sealed copies of a whole keystore. */
#include "cli.h"

#include <limits.h>

static const struct option opts[] = {
    CLI_OPTS_COMMON, CLI_OPTS_LOGIN, CLI_OPT_OUT, {"in", required_argument, NULL, OPT_IN},
    CLI_OPTS_END,
};

static int in_opt(cli *c, int opt, const char *arg, void *ctx) {
    if (opt != OPT_IN)
        return CLI_NOT_MINE;
    *(const char **)ctx = arg;
    return SU_OK;
}

int cmd_backup(cli *c, int argc, char **argv) {
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, 0, 0);
    if (rc != SU_OK)
        return rc;
    if (c->out == NULL)
        return cli_usage_err(c, "--out FILE is required");
    ss_store *s;
    if ((rc = cli_session(c, SS_ROLE_SO, NULL, &s)) != SU_OK)
        return rc;
    rc = ss_backup(s, c->out, &c->err);
    if (rc == SU_OK)
        printf("keystore %s backed up to %s\n", ss_store_path(s), c->out);
    ss_close(s);
    return rc;
}

int cmd_restore(cli *c, int argc, char **argv) {
    const char *in = NULL;
    int rc = cli_parse(c, argc, argv, opts, in_opt, &in, 0, 0);
    if (rc != SU_OK)
        return rc;
    if (in == NULL)
        return cli_usage_err(c, "--in FILE is required");
    if (c->out != NULL)
        return cli_usage_err(c, "--out is not supported here (the target is --keystore NEWDIR)");
    char path[PATH_MAX];
    if ((rc = cli_keystore_path(c, path, sizeof(path))) != SU_OK)
        return rc;
    su_pin *pin = NULL;
    rc = cli_role_pin(c, SS_ROLE_SO, NULL, &pin);
    if (rc == SU_OK)
        rc = ss_restore(in, path, pin, NULL, &c->err);
    /* an old backup brings back every key it held, destroyed ones included: say
     * which keystore and which moment this one is (docs/security.md, "Backups") */
    int64_t created = 0;
    unsigned char id[SS_STORE_ID_LEN];
    char when[32], hex[2 * SS_STORE_ID_LEN + 1];
    if (rc == SU_OK && ss_backup_info(in, &created, id, &c->err) == SU_OK) {
        su_format_time(created / 1000, when);
        su_hex(hex, id, sizeof(id));
        printf("keystore %s restored from %s (backup made %s of keystore %s)\n", path, in, when,
               hex);
    } else if (rc == SU_OK) {
        printf("keystore %s restored from %s\n", path, in);
    }
    su_pin_free(pin);
    return rc;
}
