/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the keys are (docs/reference.md, PKCS#11 module): $SEALHSM_DAEMON (daemon
 * backend), else $SEALHSM_KEYSTORE (embedded backend), else the file named by
 * $SEALHSM_PKCS11_CONF, with lines `daemon = PATH`, `keystore = DIR`,
 * `environment = dev|test|prod` and `pin-source = SRC` ('#' starts a comment).
 * Nothing set at all: the default keystore of `sealhsm`. A program that loads
 * the module cannot pass it arguments, hence the file (its syntax: config_file.c).
 */
#include "p11.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_file(p11_config *cfg, const char *path, su_error *e) {
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return su_err(e, errno == ENOENT ? SU_ENOTFOUND : SU_EIO, "config %s: %s", path,
                      strerror(errno));
    int rc = p11_config_read(cfg, f, path, e);
    fclose(f);
    return rc;
}

int p11_config_load(p11_config *cfg, su_error *e) {
    const char *daemon = getenv("SEALHSM_DAEMON"), *ks = getenv("SEALHSM_KEYSTORE");
    const char *conf = getenv("SEALHSM_PKCS11_CONF"), *env = getenv("SEALHSM_ENVIRONMENT");
    int rc = SU_OK;

    memset(cfg, 0, sizeof(*cfg));
    if (daemon != NULL && *daemon != '\0')
        rc = p11_config_set(&cfg->daemon, daemon, e);
    else if (ks != NULL && *ks != '\0')
        rc = p11_config_set(&cfg->keystore, ks, e);
    else if (conf != NULL && *conf != '\0')
        rc = load_file(cfg, conf, e);
    if (rc == SU_OK && cfg->environment == NULL && env != NULL && *env != '\0')
        rc = p11_config_set(&cfg->environment, env, e);
    if (rc == SU_OK && cfg->environment != NULL && sc_env_canon(cfg->environment) == NULL)
        rc = su_err(e, SU_EUSAGE, "environment '%.64s' is not dev, test or prod", cfg->environment);
    if (rc != SU_OK)
        p11_config_clear(cfg);
    return rc;
}
