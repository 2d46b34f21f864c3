/* SPDX-License-Identifier: Apache-2.0 */
/* Option parsing shared by every subcommand; usage errors name the option and value. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *cli_cmd_name(const cli *c, char *buf, size_t len) {
    snprintf(buf, len, "%s%s%s", c->cmd->name, c->cmd->sub ? " " : "",
             c->cmd->sub ? c->cmd->sub : "");
    return buf;
}

int cli_usage_err(cli *c, const char *fmt, ...) {
    char detail[400], name[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return su_err(&c->err, SU_EUSAGE, "%s: %s", cli_cmd_name(c, name, sizeof(name)), detail);
}

int cli_uint(cli *c, const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (!isdigit((unsigned char)arg[0]) || *end != '\0' || errno != 0 || v < min || v > max)
        return cli_usage_err(c, "invalid value '%.64s' for %s (expected %llu..%llu)", arg, name,
                             (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return SU_OK;
}

/* Options every command table may contain; CLI_NOT_MINE for the others. */
static int shared_opt(cli *c, int opt, const char *arg) {
    switch (opt) {
    case OPT_KEYSTORE:
        c->keystore = arg;
        break;
    case OPT_JSON:
        c->json = 1;
        break;
    case OPT_SO:
        c->so = 1;
        break;
    case OPT_PIN_FILE:
        c->pin_file = arg;
        break;
    case OPT_PIN_FD: {
        uint64_t fd;
        if (cli_uint(c, "--pin-fd", arg, 0, 65535, &fd) != SU_OK)
            return SU_EUSAGE;
        c->pin_fd = arg;
        break;
    }
    case OPT_SO_PIN_FILE:
        c->so_pin_file = arg;
        break;
    case OPT_OFFICER_PIN_FILE:
        c->officer_pin_file = arg;
        break;
    case OPT_NEW_PIN_FILE:
        c->new_pin_file = arg;
        break;
    case OPT_KEY_PIN_FILE:
        c->key_pin_file = arg;
        break;
    case OPT_OUT:
        c->out = arg;
        break;
    default:
        return CLI_NOT_MINE;
    }
    return SU_OK;
}

int cli_parse(cli *c, int argc, char **argv, const struct option *opts, cli_opt_fn fn, void *ctx,
              int minpos, int maxpos) {
    opterr = 0;
    optind = 0;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == OPT_HELP) {
            fputs(c->cmd->usage, stdout);
            return CLI_HELP;
        }
        if (o == ':')
            return cli_usage_err(c, "option '%.64s' needs a value", argv[optind - 1]);
        if (o == '?')
            return cli_usage_err(c, "unknown option '%.64s' (see --help)", argv[optind - 1]);
        int rc = shared_opt(c, o, optarg);
        if (rc == CLI_NOT_MINE && fn != NULL)
            rc = fn(c, o, optarg, ctx);
        if (rc == CLI_NOT_MINE)
            return cli_usage_err(c, "option '%.64s' is not supported here", argv[optind - 1]);
        if (rc != SU_OK)
            return rc;
    }
    int n = argc - optind;
    if (n > maxpos)
        return cli_usage_err(c, "unexpected argument '%.64s' (see --help)", argv[optind + maxpos]);
    if (n < minpos) {
        /* the synopsis line says what is missing */
        const char *u = c->cmd->usage;
        int len = (int)strcspn(u, "\n");
        return su_err(&c->err, SU_EUSAGE, "missing argument; %.*s", len, u);
    }
    for (int i = 0; i < n; i++)
        c->pos[i] = argv[optind + i];
    c->npos = n;
    return SU_OK;
}
