/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm init` (a new keystore), `sealhsm info` (its identity and settings) and
 * `sealhsm selftest` (known-answer tests). */
#include "cli.h"

#include <limits.h>
#include <openssl/err.h>

static int init_opt(cli *c, int opt, const char *arg, void *ctx) {
    ss_init_params *p = ctx;
    uint64_t v;
    int rc;
    switch (opt) {
    case OPT_KDF_MEMORY:
        if ((rc = cli_uint(c, "--kdf-memory", arg, 1, 4096, &v)) == SU_OK)
            p->kdf_mem_kib = (uint32_t)v * 1024;
        return rc;
    case OPT_KDF_ITERATIONS:
        if ((rc = cli_uint(c, "--kdf-iterations", arg, 1, 100, &v)) == SU_OK)
            p->kdf_iterations = (uint32_t)v;
        return rc;
    case OPT_KDF_LANES:
        if ((rc = cli_uint(c, "--kdf-lanes", arg, 1, 16, &v)) == SU_OK)
            p->kdf_lanes = (uint32_t)v;
        return rc;
    case OPT_MAX_PIN_TRIES:
        if ((rc = cli_uint(c, "--max-pin-tries", arg, 1, 1000, &v)) == SU_OK)
            p->max_pin_tries = (uint32_t)v;
        return rc;
    case OPT_SYSLOG:
        p->syslog = 1;
        return SU_OK;
    case OPT_LABEL:
        p->label = arg;
        return SU_OK;
    }
    return CLI_NOT_MINE;
}

int cmd_init(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON,
        CLI_OPTS_LOGIN,
        {"kdf-memory", required_argument, NULL, OPT_KDF_MEMORY},
        {"kdf-iterations", required_argument, NULL, OPT_KDF_ITERATIONS},
        {"kdf-lanes", required_argument, NULL, OPT_KDF_LANES},
        {"max-pin-tries", required_argument, NULL, OPT_MAX_PIN_TRIES},
        {"syslog", no_argument, NULL, OPT_SYSLOG},
        {"label", required_argument, NULL, OPT_LABEL},
        CLI_OPTS_END,
    };
    ss_init_params p;
    ss_init_params_default(&p);
    int rc = cli_parse(c, argc, argv, opts, init_opt, &p, 0, 0);
    if (rc != SU_OK)
        return rc;
    char path[PATH_MAX];
    if ((rc = cli_keystore_path(c, path, sizeof(path))) != SU_OK)
        return rc;

    su_pin *so = NULL, *user = NULL;
    rc = cli_new_pin(c, c->so_pin_file, "--so-pin-file", "SEALHSM_SO_PIN", NULL, "SO", &so);
    if (rc == SU_OK && c->pin_fd != NULL) {
        char spec[32];
        snprintf(spec, sizeof(spec), "fd:%s", c->pin_fd);
        rc = su_pin_from_source(spec, NULL, &user, &c->err);
    } else if (rc == SU_OK) {
        rc = cli_new_pin(c, c->pin_file, "--pin-file", "SEALHSM_PIN", NULL, "user", &user);
    }
    if (rc == SU_OK)
        rc = ss_init(path, &p, so, user, &c->err);
    if (rc == SU_OK)
        printf("keystore %s initialized\n", path);
    su_pin_free(so);
    su_pin_free(user);
    return rc;
}

int cmd_info(cli *c, int argc, char **argv) {
    ss_store *s;
    int rc = cli_reader_session(c, argc, argv, cli_reader_json_opts, NULL, NULL, 0, 0, &s);
    if (rc != SU_OK)
        return rc;
    ss_store_params p;
    unsigned char id[SS_STORE_ID_LEN];
    char hex[2 * SS_STORE_ID_LEN + 1];
    ss_store_id(s, id);
    su_hex(hex, id, sizeof(id));
    rc = ss_store_params_get(s, &p, &c->err);
    if (rc == SU_OK && c->json) {
        json_t *o = json_object(), *kdf = json_object();
        json_object_set_new(o, "keystore", cli_json_str(ss_store_path(s)));
        json_object_set_new(o, "id", json_string(hex));
        json_object_set_new(o, "label", cli_json_str(ss_store_label(s)));
        json_object_set_new(o, "format_version", json_integer(p.format));
        json_object_set_new(kdf, "algorithm", json_string("argon2id"));
        json_object_set_new(kdf, "memory_kib", json_integer(p.kdf_mem_kib));
        json_object_set_new(kdf, "iterations", json_integer(p.kdf_iterations));
        json_object_set_new(kdf, "lanes", json_integer(p.kdf_lanes));
        json_object_set_new(o, "kdf", kdf);
        json_object_set_new(o, "max_pin_tries", json_integer(p.max_pin_tries));
        json_object_set_new(o, "officer_quorum", json_integer(p.quorum));
        rc = cli_print_json(c, o);
    } else if (rc == SU_OK) {
        printf("keystore: %s\nid: %s\nlabel: %s\nformat version: %u\n"
               "kdf: argon2id m=%uKiB t=%u p=%u\nmax PIN tries: %u\nofficer quorum: %u\n",
               ss_store_path(s), hex, ss_store_label(s), p.format, p.kdf_mem_kib, p.kdf_iterations,
               p.kdf_lanes, p.max_pin_tries, p.quorum);
    }
    ss_close(s);
    return rc;
}

typedef struct selftest_ctx {
    json_t *tests; /* --json: collected here */
    unsigned total, failed;
} selftest_ctx;

static void report(const char *name, int ok, void *arg) {
    selftest_ctx *t = arg;
    t->total++;
    t->failed += !ok;
    if (t->tests != NULL) {
        json_t *o = json_object();
        json_object_set_new(o, "name", cli_json_str(name));
        json_object_set_new(o, "ok", json_boolean(ok));
        json_array_append_new(t->tests, o);
    } else {
        printf("selftest: %s %s\n", name, ok ? "ok" : "FAILED");
    }
}

int cmd_selftest(cli *c, int argc, char **argv) {
    static const struct option opts[] = {CLI_OPTS_COMMON, CLI_OPT_JSON, CLI_OPTS_END};
    int rc = cli_parse(c, argc, argv, opts, NULL, NULL, 0, 0);
    if (rc != SU_OK)
        return rc;
    selftest_ctx t = {c->json ? json_array() : NULL, 0, 0};
    rc = ss_selftest(NULL, NULL, report, &t, &c->err);
    ERR_clear_error();
    if (rc == SU_OK && t.failed > 0)
        rc = su_err(&c->err, SU_EINTEGRITY, "selftest: %u of %u tests failed", t.failed, t.total);
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "tests", t.tests);
        json_object_set_new(o, "ok", json_boolean(rc == SU_OK));
        int prc = cli_print_json(c, o);
        return rc != SU_OK ? rc : prc;
    }
    if (rc == SU_OK)
        printf("selftest: all %u tests passed\n", t.total);
    return rc;
}
