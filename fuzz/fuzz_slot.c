/* SPDX-License-Identifier: Apache-2.0 */
/*
 * st_slot_decode: the PIN slots (meta "slot/so", "slot/user", the officers table,
 * and the SO slot in backup headers), read before any PIN is checked. A slot that
 * decodes encodes back to the same bytes; its KDF parameters are then checked
 * by st_argon2id before any work, which is run here with a tiny PIN.
 */
#include "harness.h"

#include <string.h>

static ss_store *S;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    S = fz_store_keys(FZ_STORE_ID);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_slot slot;
    if (!st_slot_decode(data, size, &slot))
        return 0;
    FZ_CHECK(strlen(slot.name) <= SS_OFFICER_NAME_MAX);
    su_buf b;
    su_buf_init(&b, 0);
    st_slot_encode(&slot, &b);
    FZ_CHECK(!b.failed && b.len == size && memcmp(b.data, data, size) == 0);
    su_buf_free(&b);
    char key[128];
    st_slot_key(key, sizeof(key), "slot", (ss_role)slot.role, slot.name);
    fz_touch_str(key);
    /* Only parameters no init accepts are refused before the KDF; run the KDF
     * only when it is cheap, so the fuzzer does not spend its time in Argon2. */
    if (slot.m_kib <= 64 && slot.t <= 2 && slot.p <= 2) {
        su_pin *pin = su_pin_new("123456", 6);
        unsigned char mk[ST_KEY_LEN];
        ss_error e = {0};
        int rc = st_slot_open(S, &slot, pin, mk, &e);
        FZ_CHECK(rc == SU_EPIN || rc == SU_EINTEGRITY || rc == SU_EIO);
        su_pin_free(pin);
    }
    return 0;
}
