/* SPDX-License-Identifier: Apache-2.0 */
/* The keystore tests' shared fixture (store_fixture.c): throwaway keystores under one
 * temporary directory, the three PINs, small Argon2 parameters, and direct LMDB access to
 * the raw records, as an attacker with the file would have. */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H
#include "../../store/internal.h"

#include <lmdb.h>

extern su_pin *so_pin, *user_pin, *bad_pin;
extern char base[256]; /* the temporary directory every keystore of the process lives in */
extern const ss_init_params fast;

/* A fresh initialized keystore in a new directory written to dir (300 bytes), opened and
 * logged in as role (SS_ROLE_NONE: not logged in). */
ss_store *fresh(char *dir, ss_role role);
/* Generates a key of type ("ec-p256", ...) with the default policy. */
ss_keyinfo *keygen(ss_store *s, const char *label, const char *type);
/* Signs a SHA-256 digest with the key and verifies it with the stored public key;
 * returns SU_OK, the SU_* code of ss_sign, or -1 when the signature does not verify. */
int sign_verify(ss_store *s, const ss_keyinfo *k, ss_error *e);

typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
} raw;
/* Opens db of the keystore at dir in a write transaction; returns 1, or 0 on failure. */
int raw_open(raw *r, const char *dir, const char *db);
void raw_close(raw *r, int commit);
/* Replaces the value stored under key in db with val (a tampering step). */
void raw_put(const char *dir, const char *db, const void *key, size_t klen, const void *val,
             size_t vlen);
/* A malloc'd copy of the value under key (its length in *vlen), or NULL. */
unsigned char *raw_get(const char *dir, const char *db, const void *key, size_t klen, size_t *vlen);
void raw_del(const char *dir, const char *db, const void *key, size_t klen);

/* CHECK_MAIN's setup and teardown for the keystore tests. */
int store_fixture_setup(void);
void store_fixture_teardown(void);

#endif
