/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm status`: what a running sealhsmd serves, asked over its socket (no PIN). */
#include "cli.h"
#include "sealwire.h"

#include <stdlib.h>
#include <unistd.h>

#ifndef SEALHSM_VERSION
#define SEALHSM_VERSION "unknown"
#endif

#define STATUS_TIMEOUT_MS 10000

static const struct option status_opts[] = {
    CLI_OPT_JSON, {"socket", required_argument, NULL, OPT_SOCKET}, CLI_OPTS_END};

static int status_opt(cli *c, int opt, const char *arg, void *ctx) {
    if (opt != OPT_SOCKET)
        return CLI_NOT_MINE;
    *(const char **)ctx = arg;
    return SU_OK;
}

/* hello, then status: two round trips on one connection (docs/protocol.md) */
static int ask(cli *c, const char *path, sw_response *st) {
    sw_request hello = {
        .op = SW_OP_HELLO, .version_min = SW_VERSION_MIN, .version_max = SW_VERSION_MAX};
    sw_request q = {.op = SW_OP_STATUS};
    sw_response h;
    su_error e = {0};
    int fd = -1, rc;

    if ((rc = sw_connect(path, &fd, &e)) != SU_OK)
        return su_err(&c->err, SU_EIO, "daemon: cannot reach %s: %s", path, e.msg);
    rc = sw_call(fd, &hello, &h, STATUS_TIMEOUT_MS, &e);
    if (rc == SU_OK && h.status != SU_OK)
        rc = su_err(&e, SU_EIO, "%s", h.message);
    sw_response_clear(&h);
    if (rc == SU_OK && (rc = sw_call(fd, &q, st, STATUS_TIMEOUT_MS, &e)) == SU_OK &&
        st->status != SU_OK) {
        rc = su_err(&e, SU_EIO, "%s", st->message);
        sw_response_clear(st);
    }
    close(fd);
    if (rc == SU_OK && (!st->has_store_id || st->server == NULL || st->environment == NULL)) {
        sw_response_clear(st);
        rc = su_err(&e, SU_EIO, "incomplete status answer");
    }
    if (rc != SU_OK)
        return su_err(&c->err, SU_EIO, "daemon: %s: %s", path, e.msg);
    return SU_OK;
}

int cmd_status(cli *c, int argc, char **argv) {
    const char *path = NULL;
    sw_response st;
    char id[2 * SW_STORE_ID_LEN + 1];
    int rc = cli_parse(c, argc, argv, status_opts, status_opt, &path, 0, 0);

    if (rc != SU_OK)
        return rc;
    if (path == NULL && ((path = getenv("SEALHSM_SOCKET")) == NULL || *path == '\0'))
        path = "/run/sealhsm/sealhsm.sock";
    if ((rc = ask(c, path, &st)) != SU_OK)
        return rc;
    su_hex(id, st.store_id, sizeof(st.store_id));
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "version", cli_json_str(st.server));
        json_object_set_new(o, "keystore_id", json_string(id));
        json_object_set_new(o, "keystore", cli_json_str(st.keystore ? st.keystore : ""));
        json_object_set_new(o, "socket", cli_json_str(path));
        json_object_set_new(o, "environment", cli_json_str(st.environment));
        json_object_set_new(o, "uptime_s", json_integer((json_int_t)st.uptime_s));
        json_object_set_new(o, "clients", json_integer((json_int_t)st.clients));
        json_object_set_new(o, "signatures", json_integer((json_int_t)st.signatures));
        rc = cli_print_json(c, o);
    } else {
        printf("version: %s\nkeystore_id: %s\nkeystore: %s\nsocket: %s\nenvironment: %s\n"
               "uptime_s: %llu\nclients: %llu\nsignatures: %llu\n",
               st.server, id, st.keystore ? st.keystore : "", path, st.environment,
               (unsigned long long)st.uptime_s, (unsigned long long)st.clients,
               (unsigned long long)st.signatures);
    }
    sw_response_clear(&st);
    return rc;
}
