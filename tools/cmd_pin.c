/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm pin change [--so]`, `sealhsm pin reset-user` and `sealhsm pin reset-key`. */
#include "cli.h"

static const struct option change_opts[] = {
    CLI_OPTS_COMMON,
    CLI_OPTS_READER,
    CLI_OPT_NEW_PIN_FILE,
    CLI_OPTS_END,
};

int cmd_pin_change(cli *c, int argc, char **argv) {
    int rc = cli_parse(c, argc, argv, change_opts, NULL, NULL, 0, 0);
    if (rc != SU_OK)
        return rc;
    ss_role role = cli_reader_role(c);
    const char *what = role == SS_ROLE_SO ? "SO" : "user";
    ss_store *s;
    if ((rc = cli_session(c, SS_ROLE_NONE, NULL, &s)) != SU_OK)
        return rc;
    /* the store re-checks the old PIN when it re-wraps, so keep it past the login */
    su_pin *old = NULL, *pin = NULL;
    rc = cli_role_pin(c, role, NULL, &old);
    if (rc == SU_OK)
        rc = ss_login(s, role, NULL, old, &c->err);
    if (rc == SU_OK)
        rc = cli_new_pin(c, c->new_pin_file, "--new-pin-file", "SEALHSM_NEW_PIN", NULL, what, &pin);
    if (rc == SU_OK)
        rc = ss_pin_change(s, old, pin, &c->err);
    if (rc == SU_OK)
        printf("%s PIN changed\n", what);
    su_pin_free(old);
    su_pin_free(pin);
    ss_close(s);
    return rc;
}

/* The SO resets: no --so (always SO), the new PIN from --new-pin-file. */
static const struct option reset_opts[] = {
    CLI_OPTS_COMMON,
    CLI_OPTS_LOGIN,
    CLI_OPT_NEW_PIN_FILE,
    CLI_OPTS_END,
};

/* Both resets: `reset-key` names the key and also reads SEALHSM_KEY_PIN. */
static int pin_reset(cli *c, int argc, char **argv, bool key) {
    ss_store *s;
    int npos = key ? 1 : 0;
    int rc = cli_so_session(c, argc, argv, reset_opts, NULL, NULL, npos, npos, &s);
    if (rc != SU_OK)
        return rc;
    su_pin *pin = NULL;
    rc = cli_new_pin(c, c->new_pin_file, "--new-pin-file", "SEALHSM_NEW_PIN",
                     key ? "SEALHSM_KEY_PIN" : NULL, key ? "key" : "user", &pin);
    if (rc == SU_OK)
        rc =
            key ? ss_pin_reset_key(s, c->pos[0], pin, &c->err) : ss_pin_reset_user(s, pin, &c->err);
    if (rc == SU_OK && key)
        printf("key %s: key PIN reset; the key PIN is unlocked\n", c->pos[0]);
    else if (rc == SU_OK)
        printf("user PIN reset; the user role is unlocked\n");
    su_pin_free(pin);
    ss_close(s);
    return rc;
}

int cmd_pin_reset_user(cli *c, int argc, char **argv) {
    return pin_reset(c, argc, argv, false);
}

int cmd_pin_reset_key(cli *c, int argc, char **argv) {
    return pin_reset(c, argc, argv, true);
}
