/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unsealed signing keys kept per store handle (per provider context), so a busy
 * signer does not decrypt and parse its key for every signature. Only used when
 * the OpenSSL secure heap is on: OpenSSL then decodes private components (RSA
 * CBIGNUMs, EC scalars, EdDSA keys) into it, so cached keys sit in locked memory
 * and are cleansed when freed at logout or close. An entry is tied to the sealed
 * record's nonce: re-sealing (a policy change) retires it. The key's state and
 * policy are still read from its authenticated record for every signature.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 64

struct st_cached_key {
    unsigned char id[SS_KEY_ID_LEN];
    unsigned char nonce[ST_NONCE_LEN];
    EVP_PKEY *pkey;
    struct st_cached_key *next;
};

EVP_PKEY *st_keycache_get(ss_store *s, const st_keyrec *r) {
    EVP_PKEY *pkey = NULL;
    pthread_mutex_lock(&s->cache_mu);
    for (st_cached_key *c = s->cache; c != NULL; c = c->next) {
        if (memcmp(c->id, r->info.id, SS_KEY_ID_LEN) == 0 &&
            memcmp(c->nonce, r->nonce, ST_NONCE_LEN) == 0) {
            if (EVP_PKEY_up_ref(c->pkey))
                pkey = c->pkey;
            break;
        }
    }
    pthread_mutex_unlock(&s->cache_mu);
    return pkey;
}

void st_keycache_put(ss_store *s, const st_keyrec *r, EVP_PKEY *pkey) {
    if (!CRYPTO_secure_malloc_initialized())
        return;
    st_cached_key *n = calloc(1, sizeof(*n));
    if (n == NULL || !EVP_PKEY_up_ref(pkey)) {
        free(n);
        return;
    }
    memcpy(n->id, r->info.id, SS_KEY_ID_LEN);
    memcpy(n->nonce, r->nonce, ST_NONCE_LEN);
    n->pkey = pkey;
    pthread_mutex_lock(&s->cache_mu);
    /* drop older entries of the same key and anything past the cap */
    size_t count = 0;
    for (st_cached_key **pp = &s->cache; *pp != NULL;) {
        st_cached_key *c = *pp;
        if (memcmp(c->id, n->id, SS_KEY_ID_LEN) == 0 || ++count >= CACHE_MAX) {
            *pp = c->next;
            EVP_PKEY_free(c->pkey);
            free(c);
        } else {
            pp = &c->next;
        }
    }
    n->next = s->cache;
    s->cache = n;
    pthread_mutex_unlock(&s->cache_mu);
}

void st_keycache_clear(ss_store *s) {
    pthread_mutex_lock(&s->cache_mu);
    st_cached_key *c = s->cache;
    s->cache = NULL;
    pthread_mutex_unlock(&s->cache_mu);
    while (c != NULL) {
        st_cached_key *next = c->next;
        EVP_PKEY_free(c->pkey);
        free(c);
        c = next;
    }
}
