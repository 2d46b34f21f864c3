/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: prints the secrets of a THROWAWAY test keystore, so the memory
 * tests know which bytes must not be resident in another process.
 *
 * usage: keyprobe DIR so|user PINFILE [LABEL]
 * prints   kek HEX      Argon2id(PIN) of the role's slot (the KEK)
 *          mk HEX       the master key it unwraps
 *          k_seal|k_mac|k_audit|k_backup HEX   the session subkeys
 *          pkcs8 HEX    LABEL's unsealed private key (PKCS#8 DER), if LABEL is given
 * It reads the files only: no login is recorded, no try is counted.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hexline(const char *name, const unsigned char *p, size_t n) {
    printf("%s ", name);
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

static int die(const char *what, const ss_error *e) {
    fprintf(stderr, "keyprobe: %s: %s\n", what, e ? e->msg : "");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4)
        return die("usage: keyprobe DIR so|user PINFILE [LABEL]", NULL);
    ss_role role = strcmp(argv[2], "so") == 0 ? SS_ROLE_SO : SS_ROLE_USER;
    char spec[4200];
    snprintf(spec, sizeof(spec), "file:%s", argv[3]);
    ss_error e = {0};
    su_pin *pin = NULL;
    ss_store *s = NULL;
    if (su_pin_from_source(spec, NULL, &pin, &e) != SU_OK)
        return die("PIN", &e);
    if (ss_open(argv[1], NULL, NULL, &s, &e) != SU_OK)
        return die(argv[1], &e);
    MDB_txn *txn;
    MDB_val v;
    st_slot slot;
    const char *key = role == SS_ROLE_SO ? "slot/so" : "slot/user";
    if (st_txn(s, 0, &txn, &e) != SU_OK ||
        st_get(s, txn, ST_DB_META, key, strlen(key), &v, &e) != SU_OK ||
        !st_slot_decode(v.mv_data, v.mv_size, &slot))
        return die("slot", &e);
    mdb_txn_abort(txn);
    unsigned char kek[ST_KEY_LEN], mk[ST_KEY_LEN];
    if (st_argon2id(pin, slot.salt, slot.m_kib, slot.t, slot.p, kek, &e) != SU_OK)
        return die("argon2id", &e);
    if (st_slot_open(s, &slot, pin, mk, &e) != SU_OK)
        return die("wrong PIN", &e);
    if (st_session_keys(s, mk, 1, &e) != SU_OK)
        return die("subkeys", &e);
    s->role = role;
    hexline("kek", kek, ST_KEY_LEN);
    hexline("mk", mk, ST_KEY_LEN);
    hexline("k_seal", s->k_seal, ST_KEY_LEN);
    hexline("k_mac", s->k_mac, ST_KEY_LEN);
    hexline("k_audit", s->k_audit, ST_KEY_LEN);
    hexline("k_backup", s->k_backup, ST_KEY_LEN);
    if (argc > 4) {
        st_keyrec r;
        unsigned char *der = NULL;
        size_t len = 0;
        if (st_txn(s, 0, &txn, &e) != SU_OK || st_key_load(s, txn, argv[4], NULL, &r, &e) != SU_OK)
            return die(argv[4], &e);
        mdb_txn_abort(txn);
        if (st_keyrec_unseal(s, &r, &der, &len, &e) != SU_OK)
            return die("unseal", &e);
        hexline("pkcs8", der, len);
        OPENSSL_secure_clear_free(der, len);
        st_keyrec_clear(&r);
    }
    su_pin_free(pin);
    ss_close(s);
    return 0;
}
