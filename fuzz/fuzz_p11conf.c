/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PKCS#11 module's configuration file (pkcs11/config_file.c; docs/reference.md,
 * PKCS#11 module): the input is the file. What it accepts must be clean values (no
 * comment, newline, NUL or surrounding blanks left in them), read twice the same way;
 * what it refuses must be refused by the error contract.
 */
#include "harness.h"
#include "p11.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_value(const char *v) {
    if (v == NULL)
        return;
    size_t n = strlen(v);
    FZ_CHECK(n <= P11_CONFIG_LINE_MAX && strpbrk(v, "#\n") == NULL);
    FZ_CHECK(n == 0 || (!isspace((unsigned char)v[0]) && !isspace((unsigned char)v[n - 1])));
}

static int read_config(const uint8_t *data, size_t size, p11_config *cfg, su_error *e) {
    FILE *f = fmemopen((void *)data, size, "r");
    FZ_CHECK(f != NULL);
    memset(cfg, 0, sizeof(*cfg));
    int rc = p11_config_read(cfg, f, "fuzz.conf", e);
    fclose(f);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0; /* fmemopen wants a buffer */
    p11_config cfg, again;
    su_error e = {0};
    int rc = read_config(data, size, &cfg, &e);
    if (rc != SU_OK) {
        fz_check_refusal(rc, &e, true);
        FZ_CHECK(strncmp(e.msg, "config fuzz.conf", 16) == 0);
    } else {
        check_value(cfg.daemon);
        check_value(cfg.keystore);
        check_value(cfg.environment);
        check_value(cfg.pin_source);
        FZ_CHECK(read_config(data, size, &again, &e) == SU_OK);
        FZ_CHECK(fz_same_str(cfg.daemon, again.daemon) &&
                 fz_same_str(cfg.keystore, again.keystore) &&
                 fz_same_str(cfg.environment, again.environment) &&
                 fz_same_str(cfg.pin_source, again.pin_source));
        p11_config_clear(&again);
    }
    p11_config_clear(&cfg);
    FZ_CHECK(cfg.daemon == NULL && cfg.keystore == NULL && cfg.environment == NULL &&
             cfg.pin_source == NULL);
    return 0;
}
