/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm officer add|remove|list` and `sealhsm approve`: M-of-N activation. */
#include "cli.h"

#include <string.h>

static int check_name(cli *c, const char *name) {
    if (strlen(name) > SS_OFFICER_NAME_MAX)
        return cli_usage_err(c, "officer name '%.32s...' is longer than %d bytes", name,
                             SS_OFFICER_NAME_MAX);
    return SU_OK;
}

/* add and remove: one officer name, checked before the SO PIN is asked for (a usage error
 * exits 1 without prompting), then an SO session. */
static int so_officer_session(cli *c, int argc, char **argv, const struct option *opts,
                              ss_store **s) {
    *s = NULL;
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, 1, 1);
    if (rc == SU_OK)
        rc = check_name(c, c->pos[0]);
    if (rc == SU_OK)
        rc = cli_session(c, SS_ROLE_SO, NULL, s);
    return rc;
}

int cmd_officer_add(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON,
        CLI_OPTS_LOGIN,
        {"officer-pin-file", required_argument, NULL, OPT_OFFICER_PIN_FILE},
        CLI_OPT_NEW_PIN_FILE,
        CLI_OPTS_END,
    };
    ss_store *s;
    int rc = so_officer_session(c, argc, argv, opts, &s);
    if (rc != SU_OK)
        return rc;
    char what[SS_OFFICER_NAME_MAX + 16];
    snprintf(what, sizeof(what), "officer %s", c->pos[0]);
    su_pin *pin = NULL;
    const char *file = c->officer_pin_file ? c->officer_pin_file : c->new_pin_file;
    rc = cli_new_pin(c, file, "--officer-pin-file", "SEALHSM_OFFICER_PIN", "SEALHSM_NEW_PIN", what,
                     &pin);
    if (rc == SU_OK)
        rc = ss_officer_add(s, c->pos[0], pin, &c->err);
    if (rc == SU_OK)
        printf("officer %s added\n", c->pos[0]);
    su_pin_free(pin);
    ss_close(s);
    return rc;
}

int cmd_officer_remove(cli *c, int argc, char **argv) {
    static const struct option opts[] = {CLI_OPTS_COMMON, CLI_OPTS_LOGIN, CLI_OPTS_END};
    ss_store *s;
    int rc = so_officer_session(c, argc, argv, opts, &s);
    if (rc != SU_OK)
        return rc;
    rc = ss_officer_remove(s, c->pos[0], &c->err);
    if (rc == SU_OK)
        printf("officer %s removed\n", c->pos[0]);
    ss_close(s);
    return rc;
}

int cmd_officer_list(cli *c, int argc, char **argv) {
    ss_store *s;
    int rc = cli_reader_session(c, argc, argv, cli_reader_json_opts, NULL, NULL, 0, 0, &s);
    if (rc != SU_OK)
        return rc;
    char **names = NULL;
    size_t n = 0;
    rc = ss_officer_list(s, &names, &n, &c->err);
    if (rc == SU_OK && c->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, cli_json_str(names[i]));
        rc = cli_print_json(c, a);
    } else if (rc == SU_OK) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", names[i]);
    }
    ss_strings_free(names, n);
    ss_close(s);
    return rc;
}

enum { OPT_ADMIN = 1100 }; /* above the shared ids of cli.h */

typedef struct approve_opts {
    const char *officer;
    int admin;
} approve_opts;

static int approve_opt(cli *c, int opt, const char *arg, void *ctx) {
    approve_opts *o = ctx;
    if (opt == OPT_ADMIN) {
        o->admin = 1;
        return SU_OK;
    }
    if (opt != OPT_OFFICER)
        return CLI_NOT_MINE;
    o->officer = arg;
    return check_name(c, arg);
}

/* Best effort: the approval stands even if the key cannot be re-read. */
static void report_activation(ss_store *s, const char *label) {
    ss_keyinfo *k = NULL;
    if (ss_key_get(s, label, NULL, &k, NULL) != SU_OK)
        return;
    if (k->activation_expires > su_now()) {
        char t[32];
        su_format_time(k->activation_expires, t);
        printf("key %s: activated until %s\n", k->label, t);
    } else {
        printf("key %s: not yet activated (needs %u approvals)\n", k->label, k->policy.approvals);
    }
    ss_keyinfo_free(k);
}

int cmd_approve(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON,
        {"pin-file", required_argument, NULL, OPT_PIN_FILE},
        {"pin-fd", required_argument, NULL, OPT_PIN_FD},
        {"officer-pin-file", required_argument, NULL, OPT_OFFICER_PIN_FILE},
        {"officer", required_argument, NULL, OPT_OFFICER},
        {"admin", no_argument, NULL, OPT_ADMIN},
        CLI_OPTS_END,
    };
    approve_opts o = {0};
    int rc = cli_parse(c, argc, argv, opts, approve_opt, &o, 0, 1);
    if (rc != SU_OK)
        return rc;
    const char *officer = o.officer;
    if (officer == NULL)
        return cli_usage_err(c, "--officer NAME is required");
    if (o.admin != (c->npos == 0))
        return cli_usage_err(c, "name a key (LABEL) or give --admin, not both");
    ss_store *s;
    if ((rc = cli_session(c, SS_ROLE_OFFICER, officer, &s)) != SU_OK)
        return rc;
    if (o.admin) {
        int64_t until = 0;
        rc = ss_approve_admin(s, &until, &c->err);
        if (rc == SU_OK && until > 0) {
            char t[32];
            su_format_time(until, t);
            printf("admin approval by officer %s: admin activation live until %s\n", officer, t);
        } else if (rc == SU_OK) {
            printf("admin approval by officer %s recorded (more approvals needed)\n", officer);
        }
        ss_close(s);
        return rc;
    }
    rc = ss_approve(s, c->pos[0], &c->err);
    if (rc == SU_OK) {
        printf("key %s: approved by officer %s\n", c->pos[0], officer);
        report_activation(s, c->pos[0]);
    }
    ss_close(s);
    return rc;
}
