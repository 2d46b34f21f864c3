/* SPDX-License-Identifier: Apache-2.0 */
/* JSON shapes of keys and policies (docs/reference.md, JSON output). */
#include "cli.h"

json_t *cli_json_key(const ss_keyinfo *k) {
    char type[16];
    ss_keytype_name(k->type, type);
    json_t *o = json_object();
    json_object_set_new(o, "label", cli_json_str(k->label));
    json_object_set_new(o, "id", cli_json_hex(k->id, sizeof(k->id)));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "env", json_string(ss_env_name(k->policy.env)));
    json_object_set_new(o, "state", json_string(ss_state_name(k->state)));
    json_object_set_new(o, "origin", json_string(ss_origin_name(k->origin)));
    json_object_set_new(o, "created", cli_json_time(k->created));
    return o;
}

static json_t *digests(unsigned set) {
    json_t *a = json_array();
    for (int i = 0; i < 32; i++) {
        const char *name = (set & (1u << i)) ? ss_digest_name(1u << i) : NULL;
        if (name != NULL)
            json_array_append_new(a, json_string(name));
    }
    return a;
}

static json_t *paddings(unsigned set) {
    json_t *a = json_array();
    if (set & SS_PAD_PSS)
        json_array_append_new(a, json_string("pss"));
    if (set & SS_PAD_PKCS1)
        json_array_append_new(a, json_string("pkcs1"));
    return a;
}

json_t *cli_json_policy(const ss_policy *p) {
    char buf[64];
    json_t *o = json_object();
    json_object_set_new(o, "env", json_string(ss_env_name(p->env)));
    json_object_set_new(o, "digests", digests(p->digests));
    json_object_set_new(o, "padding", paddings(p->paddings));
    json_object_set_new(o, "not_before", cli_json_time(p->not_before));
    json_object_set_new(o, "not_after", cli_json_time(p->not_after));
    json_object_set_new(o, "max_signatures",
                        p->max_signatures ? json_integer((json_int_t)p->max_signatures)
                                          : json_null());
    if (p->rate_count != 0) {
        su_format_rate(p->rate_count, p->rate_period, buf, sizeof(buf));
        json_object_set_new(o, "rate", json_string(buf));
    } else {
        json_object_set_new(o, "rate", json_null());
    }
    json_object_set_new(o, "approvals", json_integer(p->approvals));
    su_format_duration(p->activation_ttl, buf, sizeof(buf));
    json_object_set_new(o, "activation_ttl", json_string(buf));
    if (p->nusers == 0) {
        json_object_set_new(o, "users", json_null());
    } else {
        json_t *u = json_array();
        for (uint32_t i = 0; i < p->nusers && i < SS_MAX_USERS; i++)
            json_array_append_new(u, json_integer(p->users[i]));
        json_object_set_new(o, "users", u);
    }
    if (p->ngroups == 0) {
        json_object_set_new(o, "groups", json_null());
    } else {
        json_t *g = json_array();
        for (uint32_t i = 0; i < p->ngroups && i < SS_MAX_GROUPS; i++)
            json_array_append_new(g, json_integer(p->groups[i]));
        json_object_set_new(o, "groups", g);
    }
    json_object_set_new(o, "key_pin", json_boolean(p->key_pin));
    json_object_set_new(o, "audit", json_string(p->audit_batched ? "batched" : "durable"));
    return o;
}
