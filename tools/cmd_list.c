/* SPDX-License-Identifier: Apache-2.0 */
/* `sealhsm list`: every key, as a table or a JSON array. */
#include "cli.h"

#include <string.h>

static void print_table(ss_keyinfo **keys, size_t n) {
    int w = (int)strlen("LABEL");
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(keys[i]->label) > w)
            w = (int)strlen(keys[i]->label);
    printf("%-*s  %-32s  %-9s  %-4s  %-9s  %-9s  %s\n", w, "LABEL", "ID", "TYPE", "ENV", "STATE",
           "ORIGIN", "CREATED");
    for (size_t i = 0; i < n; i++) {
        const ss_keyinfo *k = keys[i];
        char id[2 * SS_KEY_ID_LEN + 1], type[16], created[32];
        su_hex(id, k->id, sizeof(k->id));
        ss_keytype_name(k->type, type);
        su_format_time(k->created, created);
        printf("%-*s  %s  %-9s  %-4s  %-9s  %-9s  %s\n", w, k->label, id, type,
               ss_env_name(k->policy.env), ss_state_name(k->state), ss_origin_name(k->origin),
               created);
    }
}

int cmd_list(cli *c, int argc, char **argv) {
    ss_store *s;
    int rc = cli_reader_session(c, argc, argv, cli_reader_json_opts, NULL, NULL, 0, 0, &s);
    if (rc != SU_OK)
        return rc;
    ss_keyinfo **keys = NULL;
    size_t n = 0;
    rc = ss_key_list(s, &keys, &n, &c->err);
    if (rc == SU_OK && c->json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, cli_json_key(keys[i]));
        rc = cli_print_json(c, a);
    } else if (rc == SU_OK) {
        print_table(keys, n);
    }
    ss_keylist_free(keys, n);
    ss_close(s);
    return rc;
}
