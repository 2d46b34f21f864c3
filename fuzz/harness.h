/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared set-up of the fuzz targets. The targets are built with the store's own
 * sources (fuzz/CMakeLists.txt), so they may use store/internal.h to build what a
 * parser sits behind (session keys, MACs, a small keystore) without the store
 * exporting anything for them.
 */
#ifndef FUZZ_HARNESS_H
#define FUZZ_HARNESS_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* Fixed secrets of the harnesses. They protect nothing: every keystore the
 * harnesses make is a throwaway in a temporary directory. */
extern const unsigned char FZ_MASTER_KEY[ST_KEY_LEN];
extern const unsigned char FZ_STORE_ID[SS_STORE_ID_LEN];
#define FZ_SO_PIN "fuzz-so-pin-0000"
#define FZ_USER_PIN "fuzz-user-pin-1111"

/* A store handle with no LMDB environment whose session keys come from
 * FZ_MASTER_KEY (kept, as in an SO session) and the given store id. */
ss_store *fz_store_keys(const unsigned char store_id[SS_STORE_ID_LEN]);

/* A fresh temporary directory (under $FUZZ_TMPDIR, /dev/shm or /tmp), removed
 * with everything in it at exit. */
const char *fz_tmpdir(void);
/* Removes dir and everything under it. */
void fz_rmtree(const char *dir);

/* A keystore created with tiny Argon2id parameters in a temp dir, opened and
 * logged in as role (SS_ROLE_USER or SS_ROLE_SO); durable syncs are off, since
 * the file is thrown away. */
ss_store *fz_keystore(ss_role role);

/* data as a NUL-terminated string (stops at the first NUL); free() it. */
char *fz_cstr(const uint8_t *data, size_t size);

/* Reads every byte of a decoded string or buffer, so ASan sees a bad pointer or
 * length at once, not in some later use. */
void fz_touch(const void *p, size_t n);
void fz_touch_str(const char *s);

/* Both NULL, or equal strings. */
bool fz_same_str(const char *a, const char *b);

/* A parser's refusal as the error contract wants it: rc is SU_EUSAGE (or SU_EIO, out of
 * memory, when eio_ok), e carries the same code and a non-empty one-line message. */
void fz_check_refusal(int rc, const su_error *e, bool eio_ok);

/* Fails the run (abort: libFuzzer records the input) when cond does not hold. */
#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(__FILE__, __LINE__, #cond);                                                    \
    } while (0)
void fz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
