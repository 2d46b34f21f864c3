/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the `sealhsm` tool: the per-invocation context, option parsing
 * shared by every subcommand, PIN acquisition, sessions and output helpers; one
 * section per file below, then the commands (cmd_*.c) and main.c's dispatch.
 */
#ifndef SEALHSM_CLI_H
#define SEALHSM_CLI_H

#include "sealstore.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

/* Returned by cli_parse when --help was printed: the command stops with exit 0. */
#define CLI_HELP (-1)
/* Returned by option handlers for options that are not theirs. */
#define CLI_NOT_MINE (-2)

#define CLI_MAX_POS 4

/* Long-option ids, shared so one handler can serve every command's table. */
enum {
    OPT_HELP = 'h',
    OPT_KEYSTORE = 256,
    OPT_JSON,
    OPT_SO,
    OPT_PIN_FILE,
    OPT_PIN_FD,
    OPT_SO_PIN_FILE,
    OPT_OFFICER_PIN_FILE,
    OPT_NEW_PIN_FILE,
    OPT_KEY_PIN_FILE,
    OPT_OUT,
    OPT_IN,
    /* command-specific */
    OPT_TYPE,
    OPT_LIKE,
    OPT_PASSIN,
    OPT_REASON,
    OPT_OFFICER,
    OPT_SINCE,
    OPT_FORMAT,
    OPT_CA,
    OPT_KDF_MEMORY,
    OPT_KDF_ITERATIONS,
    OPT_KDF_LANES,
    OPT_MAX_PIN_TRIES,
    OPT_SYSLOG,
    OPT_LABEL,
    OPT_SOCKET,
    /* policy options (docs/reference.md, Policy) */
    OPT_ENV,
    OPT_DIGESTS,
    OPT_PADDING,
    OPT_NOT_BEFORE,
    OPT_NOT_AFTER,
    OPT_MAX_SIGNATURES,
    OPT_RATE,
    OPT_APPROVALS,
    OPT_ACTIVATION_TTL,
    OPT_USERS,
    OPT_GROUPS,
    OPT_KEY_PIN,
    OPT_NO_KEY_PIN,
    OPT_AUDIT,
    OPT_DESCRIPTION,
};

/* Option tables read best one option per line. */
/* clang-format off */
#define CLI_OPTS_COMMON                                                                            \
    {"keystore", required_argument, NULL, OPT_KEYSTORE},                                           \
    {"help", no_argument, NULL, OPT_HELP}
/* Sources of the PIN of the role the command logs in as. */
#define CLI_OPTS_LOGIN                                                                             \
    {"pin-file", required_argument, NULL, OPT_PIN_FILE},                                           \
    {"pin-fd", required_argument, NULL, OPT_PIN_FD},                                               \
    {"so-pin-file", required_argument, NULL, OPT_SO_PIN_FILE}
/* Read-only commands log in as user unless --so is given. */
#define CLI_OPTS_READER CLI_OPTS_LOGIN, {"so", no_argument, NULL, OPT_SO}
#define CLI_OPT_JSON {"json", no_argument, NULL, OPT_JSON}
#define CLI_OPT_OUT {"out", required_argument, NULL, OPT_OUT}
#define CLI_OPT_NEW_PIN_FILE {"new-pin-file", required_argument, NULL, OPT_NEW_PIN_FILE}
#define CLI_OPTS_END {NULL, 0, NULL, 0}
/* clang-format on */

typedef struct cli cli;

typedef struct cli_cmd {
    const char *name;
    const char *sub; /* second word ("import" of "cert import"), or NULL */
    int (*run)(cli *c, int argc, char **argv);
    const char *usage; /* printed by --help */
} cli_cmd;

struct cli {
    const cli_cmd *cmd;
    const char *keystore;
    int json;
    int so;
    const char *pin_file, *pin_fd, *so_pin_file, *officer_pin_file, *new_pin_file, *key_pin_file;
    const char *out;
    const char *pos[CLI_MAX_POS];
    int npos;
    su_error err;
};

/* ---- args.c ---------------------------------------------------------------------------------- */

typedef int (*cli_opt_fn)(cli *c, int opt, const char *arg, void *ctx);

/*
 * Parses argv (argv[0] is the command word) against opts. Shared options fill c;
 * the rest go to fn (may be NULL). Positionals land in c->pos and must number
 * minpos..maxpos. Returns SU_OK, SU_EUSAGE (c->err set) or CLI_HELP.
 */
int cli_parse(cli *c, int argc, char **argv, const struct option *opts, cli_opt_fn fn, void *ctx,
              int minpos, int maxpos);
/* Usage error naming the command: "keygen: <fmt>". */
int cli_usage_err(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal integer in [min, max] for option name, else a usage error. */
int cli_uint(cli *c, const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *out);
/* The command as typed ("cert import"). */
const char *cli_cmd_name(const cli *c, char *buf, size_t len);

/* ---- pin.c ----------------------------------------------------------------------------------- */

/* PIN to log in as role (docs/reference.md, PIN sources (tool), in order). */
int cli_role_pin(cli *c, ss_role role, const char *officer, su_pin **out);
/*
 * A PIN being set: from file (the value of option flag, may be NULL), else the
 * variables env1 then env2 (env2 may be NULL), else prompted twice. what names it in
 * prompts and errors ("user", "SO", "officer alice").
 */
int cli_new_pin(cli *c, const char *file, const char *flag, const char *env1, const char *env2,
                const char *what, su_pin **out);

/* ---- session.c ------------------------------------------------------------------------------- */

int cli_keystore_path(cli *c, char *out, size_t len);
/* Opens the keystore; then, unless role is SS_ROLE_NONE, logs in with that role's PIN. */
int cli_session(cli *c, ss_role role, const char *officer, ss_store **out);
/* The same, handing the PIN it logged in with to the caller (who frees it). */
int cli_session_pin(cli *c, ss_role role, const char *officer, ss_store **out, su_pin **pin);
/* A read-only command's start: cli_parse with these arguments, then cli_session as
 * cli_reader_role. Returns SU_OK with *s open, CLI_HELP, or the first error. */
int cli_reader_session(cli *c, int argc, char **argv, const struct option *opts, cli_opt_fn fn,
                       void *ctx, int minpos, int maxpos, ss_store **s);
/* An SO command's start: cli_parse with these arguments, then cli_session as SO.
 * Returns SU_OK with *s open, CLI_HELP, or the first error. */
int cli_so_session(cli *c, int argc, char **argv, const struct option *opts, cli_opt_fn fn,
                   void *ctx, int minpos, int maxpos, ss_store **s);
/* The options of a read-only command that has only --json of its own. */
extern const struct option cli_reader_json_opts[];
/* The role of a read-only command: user, or SO with --so. */
ss_role cli_reader_role(const cli *c);

/* ---- output.c -------------------------------------------------------------------------------- */

/* Writes data to c->out (created 0644) or stdout. */
int cli_emit(cli *c, const void *data, size_t len);
/* PEM-encodes der under name and emits it. */
int cli_emit_pem(cli *c, const char *name, const unsigned char *der, size_t len);
/* Prints v (consumed) as indented JSON on stdout. */
int cli_print_json(cli *c, json_t *v);
/* Hex string of bytes as a JSON string. */
json_t *cli_json_hex(const unsigned char *p, size_t n);
/* A JSON string (null for NULL); bytes that are not UTF-8 become '?'. */
json_t *cli_json_str(const char *s);
/* RFC 3339 string, or null when t == 0. */
json_t *cli_json_time(int64_t t);

/* ---- policy.c -------------------------------------------------------------------------------- */

typedef struct cli_policy_opts {
    ss_policy v;    /* the values given */
    unsigned given; /* PO_* bits: which fields of v were given */
    const char *description;
} cli_policy_opts;

/* clang-format off */
#define CLI_OPTS_POLICY                                                                            \
    {"env", required_argument, NULL, OPT_ENV},                                                     \
    {"digests", required_argument, NULL, OPT_DIGESTS},                                             \
    {"padding", required_argument, NULL, OPT_PADDING},                                             \
    {"not-before", required_argument, NULL, OPT_NOT_BEFORE},                                       \
    {"not-after", required_argument, NULL, OPT_NOT_AFTER},                                         \
    {"max-signatures", required_argument, NULL, OPT_MAX_SIGNATURES},                               \
    {"rate", required_argument, NULL, OPT_RATE},                                                   \
    {"approvals", required_argument, NULL, OPT_APPROVALS},                                         \
    {"activation-ttl", required_argument, NULL, OPT_ACTIVATION_TTL},                               \
    {"users", required_argument, NULL, OPT_USERS},                                                 \
    {"groups", required_argument, NULL, OPT_GROUPS},                                               \
    {"key-pin", no_argument, NULL, OPT_KEY_PIN},                                                   \
    {"key-pin-file", required_argument, NULL, OPT_KEY_PIN_FILE},                                   \
    {"audit", required_argument, NULL, OPT_AUDIT}
/* clang-format on */

/* Handles one policy option (CLI_NOT_MINE for others). */
int cli_policy_opt(cli *c, cli_policy_opts *po, int opt, const char *arg);
/* Overwrites the fields of p that were given on the command line. */
void cli_policy_apply(const cli_policy_opts *po, ss_policy *p);
/* The per-key PIN for a policy that needs one (--key-pin-file, SEALHSM_KEY_PIN, prompt). */
int cli_key_pin(cli *c, const char *label, su_pin **out);

/* ---- cmd_keygen.c ---------------------------------------------------------------------------- */

/* Generates (pkcs8 NULL) or imports the key of spec, asking for its key PIN if the
 * policy wants one, and reports the new key on stdout. */
int cli_make_key(cli *c, ss_store *s, ss_keyspec *spec, const unsigned char *pkcs8, size_t len);

/* ---- keyjson.c ------------------------------------------------------------------------------- */

/* The members of `list --json` (docs/reference.md, JSON output). */
json_t *cli_json_key(const ss_keyinfo *k);
json_t *cli_json_policy(const ss_policy *p);

/* ---- certinfo.c ------------------------------------------------------------------------------ */

typedef struct cli_certinfo {
    char *subject, *issuer, *serial; /* malloc'd */
    int64_t not_before, not_after;
    int has_code_signing_eku;
} cli_certinfo;

int cli_certinfo_parse(cli *c, const char *label, const ss_blob *der, cli_certinfo *out);
void cli_certinfo_clear(cli_certinfo *ci);

/* ---- commands: one file per command or family (main.c dispatches) ---------------------------- */
/* cmd_admin.c init, info, selftest        cmd_keygen.c, cmd_import.c   keygen, import
 * cmd_list.c, cmd_show.c list, show       cmd_pubkey.c                 pubkey, keyref
 * cmd_policy.c policy                     cmd_state.c                  disable ... destroy
 * cmd_pin.c pin change|reset-user|reset-key
 * cmd_officer.c officer add|remove|list, approve
 * cmd_cert.c cert import, attest          cmd_audit.c                  audit verify|export
 * cmd_backup.c backup, restore            cmd_status.c                 status (sealhsmd)
 * cmd_integrity.c verify, upgrade, clock accept, officer quorum, rekey */

int cmd_init(cli *c, int argc, char **argv);
int cmd_selftest(cli *c, int argc, char **argv);
int cmd_info(cli *c, int argc, char **argv);
int cmd_keygen(cli *c, int argc, char **argv);
int cmd_import(cli *c, int argc, char **argv);
int cmd_list(cli *c, int argc, char **argv);
int cmd_show(cli *c, int argc, char **argv);
int cmd_pubkey(cli *c, int argc, char **argv);
int cmd_status(cli *c, int argc, char **argv);
int cmd_keyref(cli *c, int argc, char **argv);
int cmd_policy(cli *c, int argc, char **argv);
int cmd_disable(cli *c, int argc, char **argv);
int cmd_enable(cli *c, int argc, char **argv);
int cmd_revoke(cli *c, int argc, char **argv);
int cmd_destroy(cli *c, int argc, char **argv);
int cmd_pin_change(cli *c, int argc, char **argv);
int cmd_pin_reset_user(cli *c, int argc, char **argv);
int cmd_pin_reset_key(cli *c, int argc, char **argv);
int cmd_officer_add(cli *c, int argc, char **argv);
int cmd_officer_remove(cli *c, int argc, char **argv);
int cmd_officer_list(cli *c, int argc, char **argv);
int cmd_approve(cli *c, int argc, char **argv);
int cmd_cert_import(cli *c, int argc, char **argv);
int cmd_attest(cli *c, int argc, char **argv);
int cmd_audit_verify(cli *c, int argc, char **argv);
int cmd_audit_export(cli *c, int argc, char **argv);
int cmd_backup(cli *c, int argc, char **argv);
int cmd_restore(cli *c, int argc, char **argv);
int cmd_verify(cli *c, int argc, char **argv);
int cmd_upgrade(cli *c, int argc, char **argv);
int cmd_clock_accept(cli *c, int argc, char **argv);
int cmd_officer_quorum(cli *c, int argc, char **argv);
int cmd_rekey(cli *c, int argc, char **argv);

#endif
