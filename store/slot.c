/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PIN slots: each role's slot holds the master key wrapped with AES-256-GCM under
 * KEK = Argon2id(PIN, salt, m, t, p). The AAD binds the keystore id, the role, the
 * officer name and the KDF parameters, so a slot cannot be moved to another role
 * or have its parameters lowered.
 */
#include "internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#define SLOT_VERSION 1

static const char *role_word(ss_role role) {
    switch (role) {
    case SS_ROLE_SO:
        return "so";
    case SS_ROLE_USER:
        return "user";
    case SS_ROLE_OFFICER:
        return "officer";
    default:
        return "none";
    }
}

void st_slot_key(char *out, size_t outlen, const char *kind, ss_role role, const char *name) {
    if (role == SS_ROLE_OFFICER)
        snprintf(out, outlen, "%s/officer/%s", kind, name ? name : "");
    else
        snprintf(out, outlen, "%s/%s", kind, role_word(role));
}

static void slot_aad(const ss_store *s, const st_slot *slot, su_buf *aad) {
    su_buf_str(aad, "sealhsm-slot-v1");
    su_buf_put(aad, s->store_id, SS_STORE_ID_LEN);
    su_buf_u8(aad, slot->role);
    su_buf_str(aad, slot->name);
    su_buf_u32(aad, slot->m_kib);
    su_buf_u32(aad, slot->t);
    su_buf_u32(aad, slot->p);
}

int st_slot_make(ss_store *s, ss_role role, const char *name, const unsigned char *mk,
                 const su_pin *pin, uint32_t m_kib, uint32_t t, uint32_t p, st_slot *out,
                 ss_error *e) {
    memset(out, 0, sizeof(*out));
    out->role = (uint8_t)role;
    if (name != NULL)
        snprintf(out->name, sizeof(out->name), "%s", name);
    out->m_kib = m_kib;
    out->t = t;
    out->p = p;
    int rc = st_random(s, out->salt, ST_SALT_LEN, e);
    if (rc == SU_OK)
        rc = st_random(s, out->nonce, ST_NONCE_LEN, e);
    if (rc != SU_OK)
        return rc;
    unsigned char *kek = OPENSSL_secure_malloc(ST_KEY_LEN);
    if (kek == NULL)
        return su_err(e, SU_EIO, "out of secure memory");
    rc = st_argon2id(pin, out->salt, m_kib, t, p, kek, e);
    if (rc == SU_OK) {
        su_buf aad;
        su_buf_init(&aad, 0);
        slot_aad(s, out, &aad);
        if (aad.failed ||
            !st_gcm_seal(s, kek, out->nonce, aad.data, aad.len, mk, ST_KEY_LEN, out->wrapped))
            rc = su_err(e, SU_EIO, "cannot wrap the master key for role %s", role_word(role));
        su_buf_free(&aad);
    }
    OPENSSL_secure_clear_free(kek, ST_KEY_LEN);
    return rc;
}

int st_slot_open(ss_store *s, const st_slot *slot, const su_pin *pin, unsigned char *mk,
                 ss_error *e) {
    unsigned char *kek = OPENSSL_secure_malloc(ST_KEY_LEN);
    if (kek == NULL)
        return su_err(e, SU_EIO, "out of secure memory");
    int rc = st_argon2id(pin, slot->salt, slot->m_kib, slot->t, slot->p, kek, e);
    if (rc == SU_OK) {
        su_buf aad;
        su_buf_init(&aad, 0);
        slot_aad(s, slot, &aad);
        /* the tag is the only verdict on the PIN: a slot altered on disk fails it too */
        if (aad.failed)
            rc = su_err(e, SU_EIO, "out of memory");
        else if (!st_gcm_open(s, kek, slot->nonce, aad.data, aad.len, slot->wrapped,
                              sizeof(slot->wrapped), mk))
            rc = SU_EPIN;
        su_buf_free(&aad);
    }
    OPENSSL_secure_clear_free(kek, ST_KEY_LEN);
    return rc;
}

void st_slot_encode(const st_slot *slot, su_buf *out) {
    su_buf_u8(out, SLOT_VERSION);
    su_buf_u8(out, slot->role);
    su_buf_str(out, slot->name);
    su_buf_u32(out, slot->m_kib);
    su_buf_u32(out, slot->t);
    su_buf_u32(out, slot->p);
    su_buf_put(out, slot->salt, ST_SALT_LEN);
    su_buf_put(out, slot->nonce, ST_NONCE_LEN);
    su_buf_put(out, slot->wrapped, sizeof(slot->wrapped));
}

bool st_slot_decode(const unsigned char *p, size_t n, st_slot *out) {
    su_rd r;
    uint8_t version;
    const unsigned char *name;
    size_t namelen;
    memset(out, 0, sizeof(*out));
    su_rd_init(&r, p, n);
    su_rd_u8(&r, &version);
    su_rd_u8(&r, &out->role);
    su_rd_bytes(&r, &name, &namelen, SS_OFFICER_NAME_MAX);
    if (r.failed || version != SLOT_VERSION || memchr(name, 0, namelen) != NULL)
        return false;
    memcpy(out->name, name, namelen);
    su_rd_u32(&r, &out->m_kib);
    su_rd_u32(&r, &out->t);
    su_rd_u32(&r, &out->p);
    su_rd_raw(&r, out->salt, ST_SALT_LEN);
    su_rd_raw(&r, out->nonce, ST_NONCE_LEN);
    su_rd_raw(&r, out->wrapped, sizeof(out->wrapped));
    return su_rd_done(&r);
}

int st_session_keys(ss_store *s, const unsigned char *mk, int keep_mk, ss_error *e) {
    static const char *const infos[] = {"sealhsm v1 seal", "sealhsm v1 mac", "sealhsm v1 audit",
                                        "sealhsm v1 backup"};
    const size_t total = ST_SESSION_KEYS * ST_KEY_LEN;
    unsigned char *keys = OPENSSL_secure_zalloc(total);
    if (keys == NULL)
        return su_err(e, SU_EIO, "out of secure memory");
    for (size_t i = 0; i < ST_SESSION_KEYS - 1; i++) {
        if (!st_hkdf(s, mk, s->store_id, SS_STORE_ID_LEN, infos[i], keys + (i + 1) * ST_KEY_LEN)) {
            OPENSSL_secure_clear_free(keys, total);
            return su_err(e, SU_EIO, "key derivation failed");
        }
    }
    if (keep_mk)
        memcpy(keys, mk, ST_KEY_LEN);
    if (s->keys != NULL)
        OPENSSL_secure_clear_free(s->keys, total);
    s->keys = keys;
    s->mk = keep_mk ? keys : NULL;
    s->k_seal = keys + ST_KEY_LEN;
    s->k_mac = keys + 2 * ST_KEY_LEN;
    s->k_audit = keys + 3 * ST_KEY_LEN;
    s->k_backup = keys + 4 * ST_KEY_LEN;
    if (!st_mac_templates(s))
        return su_err(e, SU_EIO, "cannot set up HMAC");
    return SU_OK;
}

int st_user_kdf(ss_store *s, MDB_txn *txn, uint32_t *m_kib, uint32_t *t, uint32_t *p, ss_error *e) {
    MDB_val v;
    st_slot slot;
    int rc = st_get(s, txn, ST_DB_META, "slot/user", 9, &v, e);
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_EINTEGRITY, "keystore %s has no user PIN slot", s->path);
    if (rc != SU_OK)
        return rc;
    if (!st_slot_decode(v.mv_data, v.mv_size, &slot))
        return su_err(e, SU_EINTEGRITY, "keystore %s: the user PIN slot is corrupt", s->path);
    *m_kib = slot.m_kib;
    *t = slot.t;
    *p = slot.p;
    return SU_OK;
}

int st_put_slot(ss_store *s, MDB_txn *txn, const st_slot *slot, ss_error *e) {
    su_buf b;
    su_buf_init(&b, 0);
    st_slot_encode(slot, &b);
    char key[128];
    st_slot_key(key, sizeof(key), "slot", (ss_role)slot->role, slot->name);
    int rc = b.failed ? su_err(e, SU_EIO, "out of memory")
             : slot->role == SS_ROLE_OFFICER
                 ? st_put(s, txn, ST_DB_OFFICERS, slot->name, strlen(slot->name), b.data, b.len, e)
                 : st_put(s, txn, ST_DB_META, key, strlen(key), b.data, b.len, e);
    su_buf_free(&b);
    return rc;
}
