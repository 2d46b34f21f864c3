/* SPDX-License-Identifier: Apache-2.0 */
/* su_uri_parse: the sealhsm: URIs every OpenSSL program hands the provider's loader. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *in = fz_cstr(data, size);
    su_uri u;
    su_error e = {0};
    int rc = su_uri_parse(in, &u, &e);
    if (rc == SU_OK) {
        /* what the loader relies on: a label or an id, a bounded label, a known type */
        FZ_CHECK((u.label != NULL) != (u.has_id != 0));
        FZ_CHECK(u.label == NULL || (u.label[0] != '\0' && strlen(u.label) <= SU_URI_MAX_LABEL));
        FZ_CHECK(u.type >= SU_URI_ANY && u.type <= SU_URI_CERT);
        fz_touch_str(u.label);
        fz_touch_str(u.keystore);
        su_uri_clear(&u);
        FZ_CHECK(u.label == NULL && u.keystore == NULL);
    } else {
        fz_check_refusal(rc, &e, false);
        FZ_CHECK(u.label == NULL && u.keystore == NULL);
    }
    /* the escape decoder on its own, over the raw bytes (NULs included) */
    char *dec = su_pct_decode((const char *)data, size);
    if (dec != NULL) {
        FZ_CHECK(strlen(dec) <= size);
        free(dec);
    }
    free(in);
    return 0;
}
