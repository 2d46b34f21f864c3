/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backup-file reader, ss_restore, on a file the fuzzer writes. Each input is
 * restored twice:
 *   - as the whole file: the trailing SHA-256 refuses nearly everything, as it
 *     should, before any KDF work;
 *   - as the file's body behind a correct header slot, HMAC and checksum: the
 *     harness replaces the SO slot with one wrapping its fixed master key under
 *     its fixed SO PIN (tiny Argon2id), then appends the HMAC under the backup key
 *     derived from that master key and the SHA-256, so the table parser and the
 *     restore into a new keystore see arbitrary authentic-looking tables.
 * A restore that succeeds must leave a keystore that opens; a restore that fails
 * must leave no keystore behind ("nothing is written unless the file verifies").
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_LEN (16 + 4 + SS_STORE_ID_LEN) /* magic, version, store id */

static char in_path[4200], out_dir[4200];
static su_pin *PIN;
static ss_store *K; /* session keys for the current store id */
static su_buf SLOT; /* encoded SO slot for that id */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    snprintf(in_path, sizeof(in_path), "%s/in.backup", fz_tmpdir());
    snprintf(out_dir, sizeof(out_dir), "%s/restored", fz_tmpdir());
    PIN = su_pin_new(FZ_SO_PIN, strlen(FZ_SO_PIN));
    su_buf_init(&SLOT, 0);
    return 0;
}

static void keys_for(const unsigned char *store_id) {
    if (K != NULL && memcmp(K->store_id, store_id, SS_STORE_ID_LEN) == 0)
        return;
    ss_close(K);
    K = fz_store_keys(store_id);
    st_slot slot;
    ss_error e;
    FZ_CHECK(st_slot_make(K, SS_ROLE_SO, NULL, FZ_MASTER_KEY, PIN, 8, 1, 1, &slot, &e) == SU_OK);
    su_buf_free(&SLOT);
    su_buf_init(&SLOT, 0);
    st_slot_encode(&slot, &SLOT);
    FZ_CHECK(!SLOT.failed);
}

static void restore(const unsigned char *file, size_t n) {
    FILE *f = fopen(in_path, "wb");
    FZ_CHECK(f != NULL);
    FZ_CHECK(n == 0 || fwrite(file, 1, n, f) == n);
    FZ_CHECK(fclose(f) == 0);
    ss_error e = {0};
    int rc = ss_restore(in_path, out_dir, PIN, NULL, &e);
    char data[4300];
    snprintf(data, sizeof(data), "%s/data.mdb", out_dir);
    if (rc == SU_OK) {
        ss_store *s = NULL;
        rc = ss_open(out_dir, NULL, NULL, &s, &e);
        FZ_CHECK(rc == SU_OK || rc == SU_EINTEGRITY || rc == SU_EIO);
        ss_close(s);
    } else {
        FZ_CHECK(rc == SU_EINTEGRITY || rc == SU_EIO || rc == SU_EPIN);
        FZ_CHECK(access(data, F_OK) != 0);
    }
    fz_rmtree(out_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    restore(data, size);

    /* behind a valid slot, HMAC and checksum */
    if (size < HDR_LEN + 4)
        return 0;
    uint32_t slotlen = su_get_be32(data + HDR_LEN);
    size_t rest = HDR_LEN + 4 + (size_t)slotlen;
    if (slotlen > size || rest > size)
        rest = HDR_LEN + 4; /* no slot to replace: insert ours */
    keys_for(data + 16 + 4);
    su_buf f;
    su_buf_init(&f, 0);
    su_buf_put(&f, data, HDR_LEN);
    su_buf_bytes(&f, SLOT.data, SLOT.len);
    su_buf_put(&f, data + rest, size - rest);
    unsigned char mac[ST_MAC_LEN], sum[32];
    FZ_CHECK(!f.failed && st_hmac(K, K->k_backup, f.data, f.len, NULL, 0, mac));
    su_buf_put(&f, mac, ST_MAC_LEN);
    FZ_CHECK(!f.failed && st_sha256(K, f.data, f.len, NULL, 0, sum));
    su_buf_put(&f, sum, 32);
    FZ_CHECK(!f.failed);
    restore(f.data, f.len);
    su_buf_free(&f);
    return 0;
}
