/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key-reference files: ss_keyref_decode on the DER, and the PEM wrapper the
 * provider's decoder puts around it (PEM_read_bio, then the DER step). A reference
 * that decodes must re-encode to exactly the same bytes: the decoder accepts only
 * the one DER encoding ss_keyref_encode writes.
 */
#include "harness.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

static void decode(const unsigned char *der, size_t len) {
    unsigned char store_id[SS_STORE_ID_LEN], key_id[SS_KEY_ID_LEN];
    char *label = NULL;
    ss_error e = {0};
    int rc = ss_keyref_decode(der, len, store_id, key_id, &label, &e);
    if (rc != SU_OK) {
        FZ_CHECK(rc == SU_EINTEGRITY && label == NULL);
        return;
    }
    FZ_CHECK(label != NULL && label[0] != '\0' && strlen(label) <= SS_LABEL_MAX);
    ss_keyinfo k = {0};
    memcpy(k.id, key_id, SS_KEY_ID_LEN);
    k.label = label;
    unsigned char *again = NULL;
    size_t againlen = 0;
    FZ_CHECK(ss_keyref_encode(store_id, &k, &again, &againlen, &e) == SU_OK);
    FZ_CHECK(againlen == len && memcmp(again, der, len) == 0);
    OPENSSL_free(again);
    free(label); /* store/keyref.c allocates it with malloc */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decode(data, size);

    BIO *bio = BIO_new_mem_buf(data, (int)size);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long len = 0;
    if (bio != NULL && PEM_read_bio(bio, &name, &header, &der, &len) > 0) {
        if (strcmp(name, SS_KEYREF_PEM_NAME) == 0)
            decode(der, (size_t)len);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
    }
    BIO_free(bio);
    ERR_clear_error();
    return 0;
}
