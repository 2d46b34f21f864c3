/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm verify`, `upgrade`, `clock accept`, `officer quorum` and `rekey`: the
 * keystore-wide integrity commands (docs/security.md). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* option ids of this file only, above the shared ones of cli.h */
enum { OPT_USER_PIN_FILE = 1000, OPT_OFFICER_PIN };

int cmd_verify(cli *c, int argc, char **argv) {
    ss_store *s;
    int rc = cli_reader_session(c, argc, argv, cli_reader_json_opts, NULL, NULL, 0, 0, &s);
    if (rc != SU_OK)
        return rc;
    ss_verify_report r;
    rc = ss_verify(s, &r, &c->err);
    ss_close(s);
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "ok", json_boolean(rc == SU_OK));
        json_object_set_new(o, "keys", json_integer((json_int_t)r.keys));
        json_object_set_new(o, "labels", json_integer((json_int_t)r.labels));
        json_object_set_new(o, "officers", json_integer((json_int_t)r.officers));
        json_object_set_new(o, "audit_records", json_integer((json_int_t)r.audit.records));
        json_object_set_new(o, "unauthenticated",
                            json_integer((json_int_t)r.audit.unauthenticated));
        if (rc != SU_OK)
            json_object_set_new(o, "error", cli_json_str(c->err.msg));
        int prc = cli_print_json(c, o);
        return rc != SU_OK ? rc : prc;
    }
    if (rc != SU_OK)
        return rc;
    printf("keystore: %llu keys, %llu labels, %llu officers, %llu audit records verified "
           "(%llu unauthenticated failed unlocks)\n",
           (unsigned long long)r.keys, (unsigned long long)r.labels, (unsigned long long)r.officers,
           (unsigned long long)r.audit.records, (unsigned long long)r.audit.unauthenticated);
    return SU_OK;
}

/* upgrade and clock accept: SO only, no options of their own */
static const struct option so_opts[] = {CLI_OPTS_COMMON, CLI_OPTS_LOGIN, CLI_OPTS_END};

int cmd_upgrade(cli *c, int argc, char **argv) {
    ss_store *s;
    /* the SO login itself upgrades an older format (and audits it) */
    int rc = cli_so_session(c, argc, argv, so_opts, NULL, NULL, 0, 0, &s);
    if (rc != SU_OK)
        return rc;
    printf("keystore %s: format %u\n", ss_store_path(s), ss_format(s));
    ss_close(s);
    return SU_OK;
}

int cmd_clock_accept(cli *c, int argc, char **argv) {
    ss_store *s;
    int rc = cli_so_session(c, argc, argv, so_opts, NULL, NULL, 0, 0, &s);
    if (rc != SU_OK)
        return rc;
    rc = ss_clock_accept(s, &c->err);
    if (rc == SU_OK) {
        char t[32];
        su_format_time(su_now(), t);
        printf("keystore %s: clock accepted at %s\n", ss_store_path(s), t);
    }
    ss_close(s);
    return rc;
}

int cmd_officer_quorum(cli *c, int argc, char **argv) {
    int rc = cli_parse(c, argc, argv, cli_reader_json_opts, NULL, NULL, 0, 1);
    uint64_t m = 0;
    if (rc == SU_OK && c->npos == 1)
        rc = cli_uint(c, "the quorum", c->pos[0], 0, 32, &m);
    if (rc != SU_OK)
        return rc;
    ss_store *s;
    if ((rc = cli_session(c, c->npos == 1 ? SS_ROLE_SO : cli_reader_role(c), NULL, &s)) != SU_OK)
        return rc;
    if (c->npos == 1)
        rc = ss_quorum_set(s, (uint32_t)m, &c->err);
    uint32_t setting = 0, effective = 0, officers = 0;
    if (rc == SU_OK)
        rc = ss_quorum_get(s, &setting, &effective, &officers, &c->err);
    ss_close(s);
    if (rc != SU_OK)
        return rc;
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "setting", json_integer(setting));
        json_object_set_new(o, "effective", json_integer(effective));
        json_object_set_new(o, "officers", json_integer(officers));
        return cli_print_json(c, o);
    }
    printf("officer quorum: setting %u, effective %u (%u officers)\n", setting, effective,
           officers);
    return SU_OK;
}

typedef struct rekey_opts {
    ss_officer_pin off[32];
    size_t n;
    const char *user_pin_file;
} rekey_opts;

static int rekey_opt(cli *c, int opt, const char *arg, void *ctx) {
    rekey_opts *o = ctx;
    if (opt == OPT_USER_PIN_FILE) {
        o->user_pin_file = arg;
        return SU_OK;
    }
    if (opt != OPT_OFFICER_PIN)
        return CLI_NOT_MINE;
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg || eq[1] == '\0' || eq - arg > SS_OFFICER_NAME_MAX)
        return cli_usage_err(c, "--officer-pin wants NAME=FILE, not '%.64s'", arg);
    if (o->n == sizeof(o->off) / sizeof(o->off[0]))
        return cli_usage_err(c, "too many --officer-pin options");
    char *name = strndup(arg, (size_t)(eq - arg));
    if (name == NULL)
        return su_err(&c->err, SU_EIO, "out of memory");
    su_pin *pin = NULL;
    char spec[4096 + 8];
    snprintf(spec, sizeof(spec), "file:%s", eq + 1);
    int rc = su_pin_from_source(spec, NULL, &pin, &c->err);
    if (rc != SU_OK) {
        free(name);
        return rc;
    }
    o->off[o->n].name = name;
    o->off[o->n].pin = pin;
    o->n++;
    return SU_OK;
}

int cmd_rekey(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON,
        CLI_OPTS_LOGIN,
        {"user-pin-file", required_argument, NULL, OPT_USER_PIN_FILE},
        {"officer-pin", required_argument, NULL, OPT_OFFICER_PIN},
        CLI_OPTS_END,
    };
    rekey_opts o = {0};
    su_pin *so_pin = NULL, *user_pin = NULL;
    ss_store *s = NULL;
    int rc = cli_parse(c, argc, argv, opts, rekey_opt, &o, 0, 0);
    if (rc == SU_OK)
        rc = cli_session_pin(c, SS_ROLE_SO, NULL, &s, &so_pin);
    if (rc == SU_OK) {
        /* the user PIN: its slot is rewrapped, unchanged */
        const char *saved = c->pin_file;
        c->pin_file = o.user_pin_file;
        rc = cli_role_pin(c, SS_ROLE_USER, NULL, &user_pin);
        c->pin_file = saved;
    }
    ss_rekey_report rep = {0};
    if (rc == SU_OK)
        rc = ss_rekey(s, so_pin, user_pin, o.off, o.n, &rep, &c->err);
    if (rc == SU_OK) {
        printf("keystore %s: new master key; %llu keys resealed, %llu audit records re-MACed, "
               "%llu officers kept",
               ss_store_path(s), (unsigned long long)rep.keys, (unsigned long long)rep.records,
               (unsigned long long)rep.officers_kept);
        if (rep.officers_removed > 0)
            printf(", %llu removed (enroll them again with 'sealhsm officer add')",
                   (unsigned long long)rep.officers_removed);
        printf("\n");
    }
    for (size_t i = 0; i < o.n; i++) {
        free((char *)o.off[i].name);
        su_pin_free((su_pin *)o.off[i].pin);
    }
    su_pin_free(so_pin);
    su_pin_free(user_pin);
    ss_close(s);
    return rc;
}
