/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key records. Layout (all integers big-endian, strings/blobs u32-length-prefixed):
 *
 *   attributes  version, id, label, alg, bits, origin, created, description,
 *               policy (canonical), spki, key-PIN verifier
 *   state       state, state_time, state_reason
 *   sealed      nonce, AES-256-GCM(PKCS#8) || tag       (empty once destroyed)
 *   mac         HMAC-SHA256(k_mac, "key" || everything above)
 *
 * The GCM AAD is the attribute section, so the sealed key cannot be moved to
 * another id, label, type or policy; the MAC covers the mutable state too and
 * lets list/show authenticate a record without unsealing it.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYREC_VERSION 1

void st_keyinfo_clear(ss_keyinfo *k) {
    free(k->label);
    free(k->description);
    free(k->state_reason);
    OPENSSL_free(k->spki);
    memset(k, 0, sizeof(*k));
}

void ss_keyinfo_free(ss_keyinfo *k) {
    if (k == NULL)
        return;
    st_keyinfo_clear(k);
    free(k);
}

void ss_keylist_free(ss_keyinfo **v, size_t n) {
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        ss_keyinfo_free(v[i]);
    free(v);
}

static char *dup_or_empty(const char *s) {
    return strdup(s ? s : "");
}

bool st_keyinfo_copy(const ss_keyinfo *src, ss_keyinfo **out) {
    ss_keyinfo *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return false;
    *k = *src;
    k->label = dup_or_empty(src->label);
    k->description = dup_or_empty(src->description);
    k->state_reason = dup_or_empty(src->state_reason);
    k->spki = NULL;
    if (src->spki != NULL && (k->spki = OPENSSL_memdup(src->spki, src->spki_len)) == NULL)
        k->spki_len = 0;
    if (k->label == NULL || k->description == NULL || k->state_reason == NULL ||
        (src->spki != NULL && k->spki == NULL)) {
        ss_keyinfo_free(k);
        return false;
    }
    *out = k;
    return true;
}

void st_keyrec_clear(st_keyrec *r) {
    st_keyinfo_clear(&r->info);
    OPENSSL_free(r->sealed);
    OPENSSL_cleanse(r, sizeof(*r));
}

static bool encode_attrs(const st_keyrec *r, su_buf *b) {
    const ss_keyinfo *k = &r->info;
    su_buf_u8(b, KEYREC_VERSION);
    su_buf_put(b, k->id, SS_KEY_ID_LEN);
    su_buf_str(b, k->label);
    su_buf_u8(b, (uint8_t)k->type.alg);
    su_buf_u32(b, k->type.bits);
    su_buf_u8(b, (uint8_t)k->origin);
    su_buf_u64(b, (uint64_t)k->created);
    su_buf_str(b, k->description);
    su_buf pol;
    su_buf_init(&pol, 0);
    int ok = ss_policy_encode(&k->policy, &pol, NULL) == SU_OK;
    su_buf_bytes(b, pol.data, pol.len);
    su_buf_free(&pol);
    su_buf_bytes(b, k->spki, k->spki_len);
    su_buf_u8(b, (uint8_t)r->has_kpin);
    if (r->has_kpin) {
        su_buf_u32(b, r->kpin_m);
        su_buf_u32(b, r->kpin_t);
        su_buf_u32(b, r->kpin_p);
        su_buf_put(b, r->kpin_salt, ST_SALT_LEN);
        su_buf_put(b, r->kpin_hash, ST_KEY_LEN);
    }
    return ok && !b->failed;
}

int st_keyrec_encode(ss_store *s, const st_keyrec *r, su_buf *out, ss_error *e) {
    const ss_keyinfo *k = &r->info;
    int ok = encode_attrs(r, out);
    su_buf_u8(out, (uint8_t)k->state);
    su_buf_u64(out, (uint64_t)k->state_time);
    su_buf_str(out, k->state_reason);
    su_buf_put(out, r->nonce, ST_NONCE_LEN);
    su_buf_bytes(out, r->sealed, r->sealed_len);
    unsigned char mac[ST_MAC_LEN];
    ok = ok && !out->failed && st_hmac(s, s->k_mac, "key", 3, out->data, out->len, mac);
    su_buf_put(out, mac, ST_MAC_LEN);
    if (!ok || out->failed)
        return su_err(e, SU_EIO, "cannot encode the record of key %s", k->label);
    return SU_OK;
}

static int corrupt(const char *name, ss_error *e, const char *why) {
    return su_err(e, SU_EINTEGRITY, "key %s: record fails its integrity check (%s)", name, why);
}

int st_keyrec_decode(ss_store *s, const unsigned char *p, size_t n, const char *name, st_keyrec *r,
                     ss_error *e) {
    memset(r, 0, sizeof(*r));
    if (n < ST_MAC_LEN + 1)
        return corrupt(name, e, "truncated");
    unsigned char mac[ST_MAC_LEN];
    if (!st_hmac(s, s->k_mac, "key", 3, p, n - ST_MAC_LEN, mac))
        return su_err(e, SU_EIO, "key %s: HMAC failed", name);
    if (CRYPTO_memcmp(mac, p + n - ST_MAC_LEN, ST_MAC_LEN) != 0)
        return corrupt(name, e, "bad MAC");

    /* Authentic from here on; the checks below guard against our own bugs and
     * records written by a newer version. */
    ss_keyinfo *k = &r->info;
    su_rd rd;
    uint8_t version, alg, origin, state, kpin;
    uint64_t created, state_time;
    const unsigned char *pol, *spki, *sealed;
    size_t pollen, spkilen, sealedlen;
    su_rd_init(&rd, p, n - ST_MAC_LEN);
    su_rd_u8(&rd, &version);
    if (rd.failed || version != KEYREC_VERSION)
        return corrupt(name, e, "unknown record version");
    su_rd_raw(&rd, k->id, SS_KEY_ID_LEN);
    su_rd_str(&rd, &k->label, SS_LABEL_MAX);
    su_rd_u8(&rd, &alg);
    su_rd_u32(&rd, &k->type.bits);
    su_rd_u8(&rd, &origin);
    su_rd_u64(&rd, &created);
    su_rd_str(&rd, &k->description, SS_DESC_MAX);
    su_rd_bytes(&rd, &pol, &pollen, 4096);
    su_rd_bytes(&rd, &spki, &spkilen, 16384);
    su_rd_u8(&rd, &kpin);
    if (!rd.failed && kpin) {
        r->has_kpin = 1;
        su_rd_u32(&rd, &r->kpin_m);
        su_rd_u32(&rd, &r->kpin_t);
        su_rd_u32(&rd, &r->kpin_p);
        su_rd_raw(&rd, r->kpin_salt, ST_SALT_LEN);
        su_rd_raw(&rd, r->kpin_hash, ST_KEY_LEN);
    }
    su_rd_u8(&rd, &state);
    su_rd_u64(&rd, &state_time);
    su_rd_str(&rd, &k->state_reason, SS_REASON_MAX);
    su_rd_raw(&rd, r->nonce, ST_NONCE_LEN);
    su_rd_bytes(&rd, &sealed, &sealedlen, 65536);
    if (!su_rd_done(&rd) || alg < SS_ALG_RSA || alg > SS_ALG_ED448 || origin > 1 ||
        state > SS_STATE_DESTROYED || kpin > 1 || !st_policy_decode(pol, pollen, &k->policy)) {
        st_keyrec_clear(r);
        return corrupt(name, e, "malformed");
    }
    k->type.alg = (ss_alg)alg;
    k->origin = (ss_origin)origin;
    k->created = (int64_t)created;
    k->state = (ss_state)state;
    k->state_time = (int64_t)state_time;
    if (spkilen > 0 && (k->spki = OPENSSL_memdup(spki, spkilen)) == NULL)
        goto oom;
    k->spki_len = spkilen;
    if (sealedlen > 0 && (r->sealed = OPENSSL_memdup(sealed, sealedlen)) == NULL)
        goto oom;
    r->sealed_len = sealedlen;
    return SU_OK;
oom:
    st_keyrec_clear(r);
    return su_err(e, SU_EIO, "out of memory reading key %s", name);
}

static bool make_aad(const st_keyrec *r, su_buf *aad) {
    su_buf_str(aad, "sealhsm-key-v1");
    return encode_attrs(r, aad);
}

int st_keyrec_seal(ss_store *s, st_keyrec *r, const unsigned char *der, size_t len, ss_error *e) {
    int rc = st_random(s, r->nonce, ST_NONCE_LEN, e);
    if (rc != SU_OK)
        return rc;
    su_buf aad;
    su_buf_init(&aad, 0);
    unsigned char *ct = OPENSSL_malloc(len + ST_TAG_LEN);
    int ok = ct != NULL && make_aad(r, &aad) &&
             st_gcm_seal(s, s->k_seal, r->nonce, aad.data, aad.len, der, len, ct);
    su_buf_free(&aad);
    if (!ok) {
        OPENSSL_free(ct);
        return su_err(e, SU_EIO, "cannot seal key %s", r->info.label);
    }
    OPENSSL_free(r->sealed);
    r->sealed = ct;
    r->sealed_len = len + ST_TAG_LEN;
    return SU_OK;
}

int st_keyrec_unseal(ss_store *s, const st_keyrec *r, unsigned char **der, size_t *len,
                     ss_error *e) {
    *der = NULL;
    if (r->sealed_len <= ST_TAG_LEN)
        return su_err(e, SU_ENOTFOUND, "key %s has no key material (destroyed)", r->info.label);
    size_t n = r->sealed_len - ST_TAG_LEN;
    unsigned char *out = OPENSSL_secure_malloc(n);
    if (out == NULL)
        return su_err(e, SU_EIO, "out of secure memory unsealing key %s", r->info.label);
    su_buf aad;
    su_buf_init(&aad, 0);
    int ok = make_aad(r, &aad) &&
             st_gcm_open(s, s->k_seal, r->nonce, aad.data, aad.len, r->sealed, r->sealed_len, out);
    su_buf_free(&aad);
    if (!ok) {
        OPENSSL_secure_clear_free(out, n);
        return su_err(e, SU_EINTEGRITY, "key %s: sealed key fails authentication", r->info.label);
    }
    *der = out;
    *len = n;
    return SU_OK;
}

int st_key_load(ss_store *s, MDB_txn *txn, const char *label, const unsigned char *id, st_keyrec *r,
                ss_error *e) {
    char name[SS_LABEL_MAX + 8];
    st_key_name(name, sizeof(name), label, id);
    MDB_val v;
    unsigned char idbuf[SS_KEY_ID_LEN];
    int rc;
    if (label != NULL) {
        rc = st_get(s, txn, ST_DB_LABELS, label, strlen(label), &v, e);
        if (rc == SU_ENOTFOUND)
            return su_err(e, SU_ENOTFOUND, "key %s not found in keystore %s", name, s->path);
        if (rc != SU_OK)
            return rc;
        if (v.mv_size != SS_KEY_ID_LEN)
            return su_err(e, SU_EINTEGRITY, "key %s: label index entry is corrupt", name);
        memcpy(idbuf, v.mv_data, SS_KEY_ID_LEN);
        id = idbuf;
    }
    rc = st_get(s, txn, ST_DB_KEYS, id, SS_KEY_ID_LEN, &v, e);
    if (rc == SU_ENOTFOUND)
        return su_err(e, label ? SU_EINTEGRITY : SU_ENOTFOUND,
                      label ? "key %s: label points to a missing record"
                            : "key %s not found in keystore %s",
                      name, s->path);
    if (rc != SU_OK)
        return rc;
    rc = st_keyrec_decode(s, v.mv_data, v.mv_size, name, r, e);
    if (rc != SU_OK)
        return rc;
    if (memcmp(r->info.id, id, SS_KEY_ID_LEN) != 0 ||
        (label != NULL && strcmp(r->info.label, label) != 0)) {
        st_keyrec_clear(r);
        return corrupt(name, e, "record does not belong to this label or id");
    }
    return SU_OK;
}

int st_key_open(ss_store *s, int write, const char *label, MDB_txn **txn, st_keyrec *r,
                ss_error *e) {
    int rc = st_txn(s, write, txn, e);
    if (rc == SU_OK && (rc = st_key_load(s, *txn, label, NULL, r, e)) != SU_OK)
        mdb_txn_abort(*txn);
    if (rc != SU_OK) {
        *txn = NULL;
        return rc;
    }
    if (r->info.state == SS_STATE_DESTROYED)
        return su_err(e, SU_ENOTFOUND, "key %s was destroyed", label);
    return SU_OK;
}

int st_key_store(ss_store *s, MDB_txn *txn, const st_keyrec *r, ss_error *e) {
    su_buf b;
    su_buf_init(&b, 0);
    int rc = st_keyrec_encode(s, r, &b, e);
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_KEYS, r->info.id, SS_KEY_ID_LEN, b.data, b.len, e);
    su_buf_free(&b);
    return rc == SU_OK ? st_fresh_update(s, txn, r->info.id, e) : rc;
}

/* ---- usage counters ---------------------------------------------------------------- */

static bool usage_mac(ss_store *s, const unsigned char id[SS_KEY_ID_LEN], const st_usage *u,
                      unsigned char mac[ST_MAC_LEN]) {
    unsigned char b[SS_KEY_ID_LEN + 28];
    memcpy(b, id, SS_KEY_ID_LEN);
    su_be64(b + 16, u->signatures);
    su_be64(b + 24, (uint64_t)u->last_used);
    su_be64(b + 32, (uint64_t)u->window_start);
    su_be32(b + 40, u->window_count);
    return st_hmac(s, s->k_mac, "usage", 5, b, sizeof(b), mac);
}

int st_usage_load(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, st_usage *u, ss_error *e) {
    MDB_val v;
    memset(u, 0, sizeof(*u));
    int rc = st_get(s, txn, ST_DB_USAGE, k->id, SS_KEY_ID_LEN, &v, e);
    /* A missing counter record would reset max-signatures and rate: treat as tampering. */
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_EINTEGRITY, "key %s: usage counters are missing", k->label);
    if (rc != SU_OK)
        return rc;
    su_rd r;
    uint64_t last, start;
    unsigned char mac[ST_MAC_LEN];
    const unsigned char *p = v.mv_data;
    su_rd_init(&r, p, v.mv_size);
    su_rd_u64(&r, &u->signatures);
    su_rd_u64(&r, &last);
    su_rd_u64(&r, &start);
    su_rd_u32(&r, &u->window_count);
    u->last_used = (int64_t)last;
    u->window_start = (int64_t)start;
    if (r.left != ST_MAC_LEN || r.failed || !usage_mac(s, k->id, u, mac) ||
        CRYPTO_memcmp(mac, r.p, ST_MAC_LEN) != 0)
        return su_err(e, SU_EINTEGRITY, "key %s: usage counters fail their integrity check",
                      k->label);
    return SU_OK;
}

int st_usage_store(ss_store *s, MDB_txn *txn, const unsigned char id[SS_KEY_ID_LEN],
                   const st_usage *u, ss_error *e) {
    unsigned char v[28 + ST_MAC_LEN];
    su_be64(v, u->signatures);
    su_be64(v + 8, (uint64_t)u->last_used);
    su_be64(v + 16, (uint64_t)u->window_start);
    su_be32(v + 24, u->window_count);
    if (!usage_mac(s, id, u, v + 28))
        return su_err(e, SU_EIO, "HMAC failed");
    int rc = st_put(s, txn, ST_DB_USAGE, id, SS_KEY_ID_LEN, v, sizeof(v), e);
    return rc == SU_OK ? st_fresh_update(s, txn, id, e) : rc;
}

/* The approvals and activation record of a key (dual control, officer.c): MACed and bound
 * to the key id, so editing it or copying it between keys is detected. */
static bool activation_encode(ss_store *s, const unsigned char id[SS_KEY_ID_LEN],
                              const st_activation *a, su_buf *b) {
    su_buf_u64(b, (uint64_t)a->expires);
    su_buf_u32(b, a->napprovals);
    for (uint32_t i = 0; i < a->napprovals; i++) {
        su_buf_str(b, a->approvals[i].name);
        su_buf_u64(b, (uint64_t)a->approvals[i].time);
    }
    unsigned char mac[ST_MAC_LEN];
    if (b->failed || !st_hmac(s, s->k_mac, id, SS_KEY_ID_LEN, b->data, b->len, mac))
        return false;
    su_buf_put(b, mac, ST_MAC_LEN);
    return !b->failed;
}

int st_activation_load(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, st_activation *a,
                       ss_error *e) {
    memset(a, 0, sizeof(*a));
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_ACTIVATIONS, k->id, SS_KEY_ID_LEN, &v, e);
    if (rc == SU_ENOTFOUND)
        return SU_OK; /* never approved: deleting the record only takes approvals away */
    if (rc != SU_OK)
        return rc;
    su_rd r;
    uint64_t exp;
    const unsigned char *p = v.mv_data;
    su_rd_init(&r, p, v.mv_size);
    su_rd_u64(&r, &exp);
    su_rd_u32(&r, &a->napprovals);
    if (a->napprovals > ST_MAX_APPROVALS)
        r.failed = 1;
    for (uint32_t i = 0; i < a->napprovals && !r.failed; i++) {
        const unsigned char *name;
        size_t n;
        uint64_t t;
        if (su_rd_bytes(&r, &name, &n, SS_OFFICER_NAME_MAX) && su_rd_u64(&r, &t)) {
            memcpy(a->approvals[i].name, name, n);
            a->approvals[i].name[n] = '\0';
            a->approvals[i].time = (int64_t)t;
        }
    }
    unsigned char mac[ST_MAC_LEN];
    size_t body = v.mv_size - r.left;
    if (r.failed || r.left != ST_MAC_LEN ||
        !st_hmac(s, s->k_mac, k->id, SS_KEY_ID_LEN, p, body, mac) ||
        CRYPTO_memcmp(mac, p + body, ST_MAC_LEN) != 0) {
        memset(a, 0, sizeof(*a));
        return su_err(e, SU_EINTEGRITY, "key %s: approvals record fails its integrity check",
                      k->label);
    }
    a->expires = (int64_t)exp;
    return SU_OK;
}

uint32_t st_approvals_renew(ss_store *s, MDB_txn *txn, st_approval *v, uint32_t n, int64_t ttl,
                            int64_t now, int (*still)(ss_store *, MDB_txn *, const char *)) {
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (v[i].time <= now - ttl || strcmp(v[i].name, s->officer) == 0 ||
            (still != NULL && !still(s, txn, v[i].name)))
            continue;
        v[kept++] = v[i];
    }
    if (kept < ST_MAX_APPROVALS) {
        snprintf(v[kept].name, sizeof(v[kept].name), "%s", s->officer);
        v[kept].time = now;
        kept++;
    }
    return kept;
}

int st_activation_store(ss_store *s, MDB_txn *txn, const unsigned char id[SS_KEY_ID_LEN],
                        const st_activation *a, ss_error *e) {
    su_buf b;
    su_buf_init(&b, 0);
    int rc = activation_encode(s, id, a, &b)
                 ? st_put(s, txn, ST_DB_ACTIVATIONS, id, SS_KEY_ID_LEN, b.data, b.len, e)
                 : su_err(e, SU_EIO, "cannot encode approvals");
    su_buf_free(&b);
    return rc == SU_OK ? st_fresh_update(s, txn, id, e) : rc;
}
