/* SPDX-License-Identifier: Apache-2.0 */
/* PINs taken out of the environment (util/pin.c su_pin_env_scrub): after the scrub
 * the variables are gone, their bytes overwritten where they were, and "env:NAME"
 * still gives the PIN, as often as asked. */
#include "check.h"
#include "sealutil.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int environ_holds(const char *needle) {
    for (char **p = environ; *p != NULL; p++)
        if (strstr(*p, needle) != NULL)
            return 1;
    return 0;
}

int main(void) {
    CRYPTO_secure_malloc_init(1 << 16, 32);
    static char entry[] = "SEALHSM_SO_PIN=scrub-me-so-pin";
    static char other[] = "SEALHSM_KEYSTORE=/not/a/pin";
    putenv(entry); /* the string itself is the environment entry, as at exec */
    putenv(other);
    setenv("SEALHSM_KEY_PIN", "scrub-me-key-pin", 1);
    setenv("SEALHSM_PINX", "scrub-me-pinx", 1);
    su_pin_env_scrub();

    CHECK(getenv("SEALHSM_SO_PIN") == NULL);
    CHECK(getenv("SEALHSM_KEY_PIN") == NULL);
    CHECK(getenv("SEALHSM_PINX") == NULL);
    CHECK(getenv("SEALHSM_KEYSTORE") != NULL); /* not a PIN: left alone */
    CHECK(!environ_holds("scrub-me"));
    /* overwritten in place: the old entry's bytes hold no PIN any more */
    CHECK(memmem(entry, sizeof(entry), "scrub-me-so-pin", 15) == NULL);
    CHECK(memmem(entry, sizeof(entry), "SEALHSM_SO_PIN", 14) == NULL);

    for (int i = 0; i < 3; i++) {
        su_pin *p = NULL;
        su_error e = {0};
        CHECK_EQ_INT(su_pin_from_source("env:SEALHSM_SO_PIN", NULL, &p, &e), SU_OK);
        CHECK(p != NULL && p->len == 15 && memcmp(p->data, "scrub-me-so-pin", 15) == 0);
        su_pin_free(p);
    }
    CHECK(su_pin_env_has("SEALHSM_KEY_PIN"));
    CHECK(!su_pin_env_has("SEALHSM_NEW_PIN"));

    /* any variable read as a PIN source is taken out on first read */
    setenv("MY_CI_SECRET", "scrub-me-ci-pin", 1);
    su_pin *p = NULL;
    su_error e = {0};
    CHECK_EQ_INT(su_pin_from_source("env:MY_CI_SECRET", NULL, &p, &e), SU_OK);
    su_pin_free(p);
    CHECK(getenv("MY_CI_SECRET") == NULL);
    CHECK_EQ_INT(su_pin_from_source("env:MY_CI_SECRET", NULL, &p, &e), SU_OK);
    CHECK(p != NULL && strcmp(p->data, "scrub-me-ci-pin") == 0);
    su_pin_free(p);

    /* set again by the application: the new value wins; set empty: no PIN */
    setenv("SEALHSM_SO_PIN", "second-so-pin", 1);
    CHECK_EQ_INT(su_pin_from_source("env:SEALHSM_SO_PIN", NULL, &p, &e), SU_OK);
    CHECK(p != NULL && strcmp(p->data, "second-so-pin") == 0);
    su_pin_free(p);
    CHECK(getenv("SEALHSM_SO_PIN") == NULL);
    setenv("SEALHSM_SO_PIN", "", 1);
    CHECK_EQ_INT(su_pin_from_source("env:SEALHSM_SO_PIN", NULL, &p, &e), SU_ENOPIN);
    CHECK_DONE();
}
