/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm audit verify` and `sealhsm audit export` (docs/reference.md, Audit log). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cmd_audit_verify(cli *c, int argc, char **argv) {
    ss_store *s;
    int rc = cli_reader_session(c, argc, argv, cli_reader_json_opts, NULL, NULL, 0, 0, &s);
    if (rc != SU_OK)
        return rc;
    ss_audit_report r = {0};
    rc = ss_audit_verify(s, &r, &c->err);
    ss_close(s);
    if (c->json) {
        json_t *o = json_object();
        json_object_set_new(o, "records", json_integer((json_int_t)r.records));
        json_object_set_new(o, "unauthenticated", json_integer((json_int_t)r.unauthenticated));
        json_object_set_new(o, "ok", json_boolean(rc == SU_OK));
        if (rc != SU_OK)
            json_object_set_new(o, "first_bad", json_integer((json_int_t)r.first_bad));
        int prc = cli_print_json(c, o);
        return rc != SU_OK ? rc : prc;
    }
    if (rc != SU_OK)
        return rc;
    printf("audit: %llu records verified, chain and MACs intact", (unsigned long long)r.records);
    if (r.unauthenticated > 0)
        printf(" (%llu unauthenticated: failed unlocks written before a login)",
               (unsigned long long)r.unauthenticated);
    printf("\n");
    return SU_OK;
}

/* Absent and empty fields are both null in JSON. */
static json_t *opt_str(const char *s) {
    return s != NULL && *s != '\0' ? cli_json_str(s) : json_null();
}

static json_t *record_json(const ss_audit_rec *r) {
    char t[32];
    su_format_time_ms(r->time_ms, t);
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
    json_object_set_new(o, "time", json_string(t));
    json_object_set_new(o, "user", cli_json_str(r->user));
    json_object_set_new(o, "pid", json_integer(r->pid));
    json_object_set_new(o, "program", cli_json_str(r->program));
    /* "daemon": signed by sealhsmd for the peer named by user, pid and program */
    json_object_set_new(o, "via", json_string(r->via_daemon ? "daemon" : "local"));
    json_object_set_new(o, "op", json_string(ss_audit_op_name(r->op)));
    json_object_set_new(o, "key_id",
                        r->has_key ? cli_json_hex(r->key_id, sizeof(r->key_id)) : json_null());
    json_object_set_new(o, "label", opt_str(r->label));
    json_object_set_new(o, "outcome", json_string(ss_audit_outcome_name(r->outcome)));
    json_object_set_new(o, "reason", opt_str(r->reason));
    json_object_set_new(o, "digest", opt_str(r->digest));
    json_object_set_new(o, "tbs_hash",
                        r->tbs_hash_len ? cli_json_hex(r->tbs_hash, r->tbs_hash_len) : json_null());
    json_object_set_new(o, "prev_hash", cli_json_hex(r->prev_hash, sizeof(r->prev_hash)));
    json_object_set_new(o, "mac",
                        r->authenticated ? cli_json_hex(r->mac, sizeof(r->mac)) : json_null());
    return o;
}

static int print_jsonl(const ss_audit_rec *r, void *arg) {
    json_t *o = record_json(r);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (line == NULL)
        return su_err(arg, SU_EIO, "cannot encode audit record %llu", (unsigned long long)r->seq);
    printf("%s\n", line);
    free(line);
    return SU_OK;
}

/* Free text is quoted and escaped the way the syslog lines are (su_quote): one
 * record, one line, each key once, control characters never reach a terminal. */
static int field(const char *name, const char *v, int quote) {
    if (v == NULL || *v == '\0')
        return SU_OK;
    if (!quote) {
        printf(" %s=%s", name, v);
        return SU_OK;
    }
    size_t n = su_quote_size(v);
    char *q = malloc(n);
    if (q == NULL)
        return SU_EIO;
    su_quote(q, n, v);
    printf(" %s=%s", name, q);
    free(q);
    return SU_OK;
}

static int print_text(const ss_audit_rec *r, void *arg) {
    char t[32], hex[2 * 64 + 1];
    su_format_time_ms(r->time_ms, t);
    printf("%llu %s op=%s outcome=%s", (unsigned long long)r->seq, t, ss_audit_op_name(r->op),
           ss_audit_outcome_name(r->outcome));
    int rc = field("user", r->user, 1);
    printf(" pid=%u", r->pid);
    rc |= field("program", r->program, 1);
    if (r->via_daemon)
        printf(" via=daemon");
    rc |= field("label", r->label, 1);
    if (r->has_key) {
        su_hex(hex, r->key_id, sizeof(r->key_id));
        field("key_id", hex, 0);
    }
    rc |= field("digest", r->digest, 1);
    if (r->tbs_hash_len > 0 && r->tbs_hash_len <= 64) {
        su_hex(hex, r->tbs_hash, r->tbs_hash_len);
        field("tbs_hash", hex, 0);
    }
    rc |= field("reason", r->reason, 1);
    if (!r->authenticated)
        printf(" (unauthenticated)");
    printf("\n");
    return rc != SU_OK ? su_err(arg, SU_EIO, "out of memory") : SU_OK;
}

typedef struct export_args {
    uint64_t since;
    int jsonl;
} export_args;

static int export_opt(cli *c, int opt, const char *arg, void *ctx) {
    export_args *a = ctx;
    switch (opt) {
    case OPT_SINCE:
        return cli_uint(c, "--since", arg, 0, UINT64_MAX, &a->since);
    case OPT_FORMAT:
        if (strcmp(arg, "jsonl") == 0)
            a->jsonl = 1;
        else if (strcmp(arg, "text") == 0)
            a->jsonl = 0;
        else
            return cli_usage_err(c, "invalid value '%.32s' for --format (expected jsonl|text)",
                                 arg);
        return SU_OK;
    }
    return CLI_NOT_MINE;
}

int cmd_audit_export(cli *c, int argc, char **argv) {
    static const struct option opts[] = {
        CLI_OPTS_COMMON,
        CLI_OPTS_READER,
        {"since", required_argument, NULL, OPT_SINCE},
        {"format", required_argument, NULL, OPT_FORMAT},
        CLI_OPTS_END,
    };
    export_args a = {0, 0};
    ss_store *s;
    int rc = cli_reader_session(c, argc, argv, opts, export_opt, &a, 0, 0, &s);
    if (rc != SU_OK)
        return rc;
    rc = ss_audit_each(s, a.since, a.jsonl ? print_jsonl : print_text, &c->err, &c->err);
    ss_close(s);
    return rc;
}
