/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the keys are (docs/reference.md, PKCS#11 module): $SEALHSM_DAEMON (daemon
 * backend), else $SEALHSM_KEYSTORE (embedded backend), else the file named by
 * $SEALHSM_PKCS11_CONF, with lines `daemon = PATH`, `keystore = DIR`,
 * `environment = dev|test|prod` and `pin-source = SRC` ('#' starts a comment).
 * Nothing set at all: the default keystore of `sealhsm`. A programs that
 * loads the module cannot pass it arguments, hence the file; an unknown line
 * is an error, not a guess.
 */
#include "p11.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set(char **dst, const char *v, su_error *e) {
    free(*dst);
    if ((*dst = strdup(v)) == NULL)
        return su_err(e, SU_EIO, "out of memory");
    return SU_OK;
}

static char *trim(char *s) {
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int load_file(p11_config *cfg, const char *path, su_error *e) {
    FILE *f = fopen(path, "re");
    char line[4352];
    int rc = SU_OK;

    if (f == NULL)
        return su_err(e, errno == ENOENT ? SU_ENOTFOUND : SU_EIO, "config %s: %s", path,
                      strerror(errno));
    for (unsigned n = 1; rc == SU_OK && fgets(line, sizeof(line), f) != NULL; n++) {
        char *hash = strchr(line, '#'), *eq, *key, *val;

        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = su_err(e, SU_EUSAGE, "config %s line %u: line too long", path, n);
            break;
        }
        if (hash != NULL)
            *hash = '\0';
        key = trim(line);
        if (*key == '\0')
            continue;
        if ((eq = strchr(key, '=')) == NULL) {
            rc = su_err(e, SU_EUSAGE, "config %s line %u: expected NAME = VALUE", path, n);
            break;
        }
        *eq = '\0';
        key = trim(key);
        val = trim(eq + 1);
        if (strcmp(key, "daemon") == 0)
            rc = set(&cfg->daemon, val, e);
        else if (strcmp(key, "keystore") == 0)
            rc = set(&cfg->keystore, val, e);
        else if (strcmp(key, "environment") == 0)
            rc = set(&cfg->environment, val, e);
        else if (strcmp(key, "pin-source") == 0)
            rc = set(&cfg->pin_source, val, e);
        else
            rc = su_err(e, SU_EUSAGE,
                        "config %s line %u: unknown setting '%.64s' (daemon, keystore, "
                        "environment, pin-source)",
                        path, n, key);
    }
    fclose(f);
    return rc;
}

int p11_config_load(p11_config *cfg, su_error *e) {
    const char *daemon = getenv("SEALHSM_DAEMON"), *ks = getenv("SEALHSM_KEYSTORE");
    const char *conf = getenv("SEALHSM_PKCS11_CONF"), *env = getenv("SEALHSM_ENVIRONMENT");
    int rc = SU_OK;

    memset(cfg, 0, sizeof(*cfg));
    if (daemon != NULL && *daemon != '\0')
        rc = set(&cfg->daemon, daemon, e);
    else if (ks != NULL && *ks != '\0')
        rc = set(&cfg->keystore, ks, e);
    else if (conf != NULL && *conf != '\0')
        rc = load_file(cfg, conf, e);
    if (rc == SU_OK && cfg->environment == NULL && env != NULL && *env != '\0')
        rc = set(&cfg->environment, env, e);
    if (rc == SU_OK && cfg->environment != NULL && sc_env_canon(cfg->environment) == NULL)
        rc = su_err(e, SU_EUSAGE, "environment '%.64s' is not dev, test or prod", cfg->environment);
    if (rc != SU_OK)
        p11_config_clear(cfg);
    return rc;
}

void p11_config_clear(p11_config *cfg) {
    free(cfg->daemon);
    free(cfg->keystore);
    free(cfg->environment);
    free(cfg->pin_source);
    memset(cfg, 0, sizeof(*cfg));
}
