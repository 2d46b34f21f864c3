/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The module's configuration file (docs/reference.md, PKCS#11 module): lines
 * `NAME = VALUE` for daemon, keystore, environment and pin-source, '#' starts a
 * comment, blank lines are skipped. An unknown name, a line without '=' or a name
 * given twice is an error, not a guess. Kept apart from config.c (which decides where
 * the keys are) so that fuzz_p11conf can drive the parser on its own.
 */
#include "p11.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int p11_config_set(char **dst, const char *v, su_error *e) {
    free(*dst);
    if ((*dst = strdup(v)) == NULL)
        return su_err(e, SU_EIO, "out of memory");
    return SU_OK;
}

/* The field of cfg a setting names, or NULL for an unknown name. */
static char **field(p11_config *cfg, const char *key) {
    if (strcmp(key, "daemon") == 0)
        return &cfg->daemon;
    if (strcmp(key, "keystore") == 0)
        return &cfg->keystore;
    if (strcmp(key, "environment") == 0)
        return &cfg->environment;
    if (strcmp(key, "pin-source") == 0)
        return &cfg->pin_source;
    return NULL;
}

int p11_config_read(p11_config *cfg, FILE *f, const char *name, su_error *e) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = SU_OK;

    for (unsigned n = 1; rc == SU_OK && (len = getline(&line, &cap, f)) >= 0; n++) {
        char *hash, *eq, *key, **dst;

        if (len > P11_CONFIG_LINE_MAX)
            rc = su_err(e, SU_EUSAGE, "config %s line %u: line too long", name, n);
        else if (memchr(line, '\0', (size_t)len) != NULL) /* it would hide the rest */
            rc = su_err(e, SU_EUSAGE, "config %s line %u: NUL byte in the line", name, n);
        if (rc != SU_OK)
            break;
        if ((hash = strchr(line, '#')) != NULL)
            *hash = '\0';
        key = su_trim(line);
        if (*key == '\0')
            continue;
        if ((eq = strchr(key, '=')) == NULL) {
            rc = su_err(e, SU_EUSAGE, "config %s line %u: expected NAME = VALUE", name, n);
            break;
        }
        *eq = '\0';
        key = su_trim(key);
        if ((dst = field(cfg, key)) == NULL)
            rc = su_err(e, SU_EUSAGE,
                        "config %s line %u: unknown setting '%.64s' (daemon, keystore, "
                        "environment, pin-source)",
                        name, n, key);
        else if (*dst != NULL)
            rc = su_err(e, SU_EUSAGE, "config %s line %u: %s given twice", name, n, key);
        else
            rc = p11_config_set(dst, su_trim(eq + 1), e);
    }
    if (rc == SU_OK && ferror(f))
        rc = su_err(e, SU_EIO, "config %s: read error", name);
    free(line);
    return rc;
}

void p11_config_clear(p11_config *cfg) {
    free(cfg->daemon);
    free(cfg->keystore);
    free(cfg->environment);
    free(cfg->pin_source);
    memset(cfg, 0, sizeof(*cfg));
}
