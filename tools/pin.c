/* SPDX-License-Identifier: Apache-2.0 */
/* Where the tool gets PINs: files and fds given on the command line, then the
 * environment, then the terminal (docs/reference.md, Roles and PINs). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static bool is_set(const char *var) {
    return var != NULL && su_pin_env_has(var);
}

static int from(const char *kind, const char *value, const char *prompt, su_pin **out,
                su_error *e) {
    char spec[4096 + 8];
    snprintf(spec, sizeof(spec), "%s:%s", kind, value);
    return su_pin_from_source(spec, prompt, out, e);
}

int cli_role_pin(cli *c, ss_role role, const char *officer, su_pin **out) {
    const char *var, *extra_file, *name;
    char role_name[SS_OFFICER_NAME_MAX + 16], prompt[SS_OFFICER_NAME_MAX + 32];
    switch (role) {
    case SS_ROLE_SO:
        var = "SEALHSM_SO_PIN";
        extra_file = c->so_pin_file;
        name = "so";
        snprintf(prompt, sizeof(prompt), "SO PIN: ");
        break;
    case SS_ROLE_OFFICER:
        var = "SEALHSM_OFFICER_PIN";
        extra_file = c->officer_pin_file;
        name = "officer";
        snprintf(prompt, sizeof(prompt), "PIN of officer %.64s: ", officer);
        break;
    default:
        var = "SEALHSM_PIN";
        extra_file = NULL;
        name = "user";
        snprintf(prompt, sizeof(prompt), "User PIN: ");
        break;
    }
    if (role == SS_ROLE_OFFICER)
        snprintf(role_name, sizeof(role_name), "officer:%.64s", officer);
    else
        snprintf(role_name, sizeof(role_name), "%s", name);

    if (c->pin_file != NULL)
        return from("file", c->pin_file, NULL, out, &c->err);
    if (c->pin_fd != NULL)
        return from("fd", c->pin_fd, NULL, out, &c->err);
    if (extra_file != NULL)
        return from("file", extra_file, NULL, out, &c->err);
    if (is_set(var))
        return from("env", var, NULL, out, &c->err);
    if (!su_have_tty())
        return su_err(&c->err, SU_ENOPIN,
                      "no PIN for role %s: set %s, use --pin-file/--pin-fd, or run on a terminal",
                      role_name, var);
    return su_pin_from_source("prompt", prompt, out, &c->err);
}

int cli_new_pin(cli *c, const char *file, const char *flag, const char *env1, const char *env2,
                const char *what, su_pin **out) {
    if (file != NULL)
        return from("file", file, NULL, out, &c->err);
    if (is_set(env1))
        return from("env", env1, NULL, out, &c->err);
    if (is_set(env2))
        return from("env", env2, NULL, out, &c->err);
    if (!su_have_tty())
        return su_err(&c->err, SU_ENOPIN, "no new %s PIN: set %s, use %s, or run on a terminal",
                      what, env1, flag);
    char prompt[128];
    snprintf(prompt, sizeof(prompt), "New %s PIN: ", what);
    return su_pin_prompt_new(prompt, out, &c->err);
}
