/* SPDX-License-Identifier: Apache-2.0 */
/*
 * st_keyrec_decode: the sealed key records of the keystore file, which anyone who
 * can write the file controls. Each input is decoded twice: as a whole record (the
 * MAC check almost always refuses it, which is the first line of defence), and as
 * a record body behind a valid MAC that the harness computes with the session key,
 * so that the parser itself sees arbitrary authentic-looking bytes. A record that
 * decodes must encode again and decode to the same attributes, and unsealing it
 * must fail cleanly (the harness's keys did not seal it).
 */
#include "harness.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static ss_store *S;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    S = fz_store_keys(FZ_STORE_ID);
    return 0;
}

static void same_info(const ss_keyinfo *a, const ss_keyinfo *b) {
    FZ_CHECK(memcmp(a->id, b->id, SS_KEY_ID_LEN) == 0);
    FZ_CHECK(strcmp(a->label, b->label) == 0);
    FZ_CHECK(strcmp(a->description, b->description) == 0);
    FZ_CHECK(strcmp(a->state_reason, b->state_reason) == 0);
    FZ_CHECK(a->type.alg == b->type.alg && a->type.bits == b->type.bits);
    FZ_CHECK(a->origin == b->origin && a->state == b->state);
    FZ_CHECK(a->created == b->created && a->state_time == b->state_time);
    FZ_CHECK(a->spki_len == b->spki_len &&
             (a->spki_len == 0 || memcmp(a->spki, b->spki, a->spki_len) == 0));
    su_buf pa, pb;
    su_buf_init(&pa, 0);
    su_buf_init(&pb, 0);
    FZ_CHECK(ss_policy_encode(&a->policy, &pa, NULL) == SU_OK &&
             ss_policy_encode(&b->policy, &pb, NULL) == SU_OK);
    FZ_CHECK(pa.len == pb.len && memcmp(pa.data, pb.data, pa.len) == 0);
    su_buf_free(&pa);
    su_buf_free(&pb);
}

static void exercise(st_keyrec *r) {
    ss_keyinfo *k = &r->info;
    fz_touch_str(k->label);
    fz_touch_str(k->description);
    fz_touch_str(k->state_reason);
    fz_touch(k->spki, k->spki_len);
    fz_touch(r->sealed, r->sealed_len);
    char name[16];
    ss_keytype_name(k->type, name);
    fz_touch_str(ss_keytype_ossl_name(k->type));
    fz_touch_str(ss_state_name(k->state));

    /* encode again: the record must survive a rewrite (a policy or state change) */
    su_buf b;
    su_buf_init(&b, 0);
    ss_error e = {0};
    FZ_CHECK(st_keyrec_encode(S, r, &b, &e) == SU_OK);
    st_keyrec r2;
    FZ_CHECK(st_keyrec_decode(S, b.data, b.len, "again", &r2, &e) == SU_OK);
    same_info(&r->info, &r2.info);
    FZ_CHECK(r->sealed_len == r2.sealed_len && r->has_kpin == r2.has_kpin);
    st_keyrec_clear(&r2);
    su_buf_free(&b);

    ss_keyinfo *copy = NULL;
    FZ_CHECK(st_keyinfo_copy(k, &copy));
    same_info(k, copy);
    ss_keyinfo_free(copy);

    unsigned char *der = NULL;
    size_t len = 0;
    int rc = st_keyrec_unseal(S, r, &der, &len, &e);
    FZ_CHECK(rc != SU_OK && der == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_keyrec r;
    ss_error e = {0};
    if (st_keyrec_decode(S, data, size, "fuzz", &r, &e) == SU_OK) {
        exercise(&r);
        st_keyrec_clear(&r);
    } else {
        FZ_CHECK(e.code == SU_EINTEGRITY && r.info.label == NULL && r.sealed == NULL);
    }

    /* the same bytes as a body behind a valid MAC */
    unsigned char *rec = malloc(size + ST_MAC_LEN + 1);
    FZ_CHECK(rec != NULL);
    if (size)
        memcpy(rec, data, size);
    FZ_CHECK(st_hmac(S, S->k_mac, "key", 3, rec, size, rec + size));
    if (st_keyrec_decode(S, rec, size + ST_MAC_LEN, "fuzz", &r, &e) == SU_OK) {
        exercise(&r);
        st_keyrec_clear(&r);
    } else {
        FZ_CHECK(e.code == SU_EINTEGRITY && r.info.label == NULL && r.sealed == NULL);
    }
    free(rec);
    return 0;
}
