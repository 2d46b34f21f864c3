/* SPDX-License-Identifier: Apache-2.0 */
/* Creating keys (keygen, import) and looking them up (info, list); keyadmin.c administers them. */
#include "internal.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A new key's label must not look like another name for a key (docs/security.md,
 * "Labels"): " k2" and "k2 " pass for "k2" on a screen, and "id=HEX", "object=k2"
 * or "k2;type=private" read as URI syntax (sealhsm:id=... names a key by id), as
 * does a %XX escape. Existing keys keep their labels: only new ones are checked.
 */
static int label_new_valid(const char *label, ss_error *e) {
    int rc = st_label_valid(label, e);
    if (rc != SU_OK)
        return rc;
    size_t n = strlen(label);
    if (label[0] == ' ' || label[n - 1] == ' ')
        return su_err(e, SU_EUSAGE, "key label '%s' has leading or trailing white space", label);
    if (strpbrk(label, "=;%") != NULL)
        return su_err(e, SU_EUSAGE,
                      "key label '%s' may not contain '=', ';' or '%%' (they read as URI syntax)",
                      label);
    return SU_OK;
}

/* Works out the ss_keytype of a key, refusing what sealhsm does not sign with. */
static int type_of(const EVP_PKEY *k, const char *label, ss_keytype *t, ss_error *e) {
    if (EVP_PKEY_is_a(k, "RSA")) {
        int bits = EVP_PKEY_get_bits(k);
        if (bits < 2048 || bits > 4096)
            return su_err(e, SU_EUSAGE,
                          "key %s: RSA keys must have 2048 to 4096 bits (this one has %d)", label,
                          bits);
        t->alg = SS_ALG_RSA;
        t->bits = (unsigned)bits;
        return SU_OK;
    }
    if (EVP_PKEY_is_a(k, "EC")) {
        char group[64] = "";
        size_t gl;
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &gl);
        static const struct {
            const char *a, *b;
            unsigned bits;
        } curves[] = {
            {"prime256v1", "P-256", 256}, {"secp384r1", "P-384", 384}, {"secp521r1", "P-521", 521}};
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(group, curves[i].a) == 0 || strcmp(group, curves[i].b) == 0) {
                t->alg = SS_ALG_EC;
                t->bits = curves[i].bits;
                return SU_OK;
            }
        }
        return su_err(e, SU_EUSAGE, "key %s: EC curve '%s' is not supported (P-256, P-384, P-521)",
                      label, group[0] ? group : "explicit parameters");
    }
    if (EVP_PKEY_is_a(k, "ED25519")) {
        *t = (ss_keytype){SS_ALG_ED25519, 255};
        return SU_OK;
    }
    if (EVP_PKEY_is_a(k, "ED448")) {
        *t = (ss_keytype){SS_ALG_ED448, 448};
        return SU_OK;
    }
    return su_err(e, SU_EUSAGE, "key %s: key type %s is not supported", label,
                  EVP_PKEY_get0_type_name(k));
}

static int generate(ss_store *s, ss_keytype t, EVP_PKEY **out, ss_error *e) {
    *out = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(s->libctx, ss_keytype_ossl_name(t), s->propq);
    int ok = ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1;
    if (ok && t.alg == SS_ALG_RSA)
        ok = EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)t.bits) == 1;
    if (ok && t.alg == SS_ALG_EC)
        ok = EVP_PKEY_CTX_set_group_name(ctx, ss_keytype_curve(t)) == 1;
    ok = ok && EVP_PKEY_generate(ctx, out) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        char name[16];
        ss_keytype_name(t, name);
        return su_err(e, SU_EIO, "key generation (%s) failed", name);
    }
    return SU_OK;
}

/* FIPS-style pairwise consistency test: sign and verify before the key is kept. */
static int pairwise(ss_store *s, EVP_PKEY *k, const char *label, ss_error *e) {
    static const unsigned char msg[] = "sealhsm pairwise consistency test";
    int eddsa = EVP_PKEY_is_a(k, "ED25519") || EVP_PKEY_is_a(k, "ED448");
    const char *md = eddsa ? NULL : "SHA256";
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && EVP_DigestSignInit_ex(c, NULL, md, s->libctx, s->propq, k, NULL) == 1 &&
             EVP_DigestSign(c, sig, &siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(c);
    c = ok ? EVP_MD_CTX_new() : NULL;
    ok = c != NULL && EVP_DigestVerifyInit_ex(c, NULL, md, s->libctx, s->propq, k, NULL) == 1 &&
         EVP_DigestVerify(c, sig, siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(c);
    if (!ok)
        return su_err(e, SU_EINTEGRITY, "key %s: pairwise consistency test failed", label);
    return SU_OK;
}

int st_kpin_make(ss_store *s, MDB_txn *txn, st_keyrec *r, const su_pin *pin, ss_error *e) {
    if (pin == NULL)
        return su_err(e, SU_ENOPIN, "key %s: --key-pin needs a key PIN", r->info.label);
    if (pin->len < SU_PIN_MIN || pin->len > SU_PIN_MAX)
        return su_err(e, SU_EUSAGE, "key %s: key PIN must be %d to %d bytes", r->info.label,
                      SU_PIN_MIN, SU_PIN_MAX);
    int rc = st_user_kdf(s, txn, &r->kpin_m, &r->kpin_t, &r->kpin_p, e);
    if (rc == SU_OK)
        rc = st_random(s, r->kpin_salt, ST_SALT_LEN, e);
    if (rc == SU_OK)
        rc = st_argon2id(pin, r->kpin_salt, r->kpin_m, r->kpin_t, r->kpin_p, r->kpin_hash, e);
    r->has_kpin = rc == SU_OK;
    return rc;
}

int st_key_audit(ss_store *s, MDB_txn *txn, ss_audit_op op, ss_audit_outcome out,
                 const ss_keyinfo *k, const char *reason, ss_error *e) {
    st_audit_in in = {
        .op = op, .outcome = out, .key_id = k->id, .label = k->label, .reason = reason};
    return st_audit_append(s, txn, &in, e);
}

/* Stores a new key: label index, sealed record, zero counters, audit, one commit. */
static int add_key(ss_store *s, const ss_keyspec *spec, ss_keytype t, ss_origin origin,
                   EVP_PKEY *pkey, ss_keyinfo **out, ss_error *e) {
    st_keyrec r;
    memset(&r, 0, sizeof(r));
    ss_keyinfo *k = &r.info;
    unsigned char *der = NULL, *spki = NULL;
    size_t derlen = 0;
    MDB_txn *txn = NULL;
    MDB_val v;
    int rc = st_random(s, k->id, SS_KEY_ID_LEN, e);
    k->label = strdup(spec->label);
    k->description = strdup(spec->description ? spec->description : "");
    k->state_reason = strdup("");
    if (rc == SU_OK && (k->label == NULL || k->description == NULL || k->state_reason == NULL))
        rc = su_err(e, SU_EIO, "out of memory");
    k->type = t;
    k->origin = origin;
    k->created = k->state_time = su_now();
    k->state = SS_STATE_ACTIVE;
    k->policy = spec->policy;
    int n = i2d_PUBKEY(pkey, &spki);
    if (rc == SU_OK && n <= 0)
        rc = su_err(e, SU_EIO, "key %s: cannot encode the public key", spec->label);
    k->spki = spki;
    k->spki_len = n > 0 ? (size_t)n : 0;
    if (rc == SU_OK)
        rc = st_pkcs8(pkey, &der, &derlen, e);
    if (rc == SU_OK) {
        /* what will be sealed must be what the signing path can load (e.g. no
         * multi-prime RSA) */
        EVP_PKEY *back = NULL;
        rc = st_pkey_unsealed(s, k, der, derlen, &back, e);
        if (rc != SU_OK)
            su_err(e, SU_EUSAGE, "key %s: this form of %s key is not supported", spec->label,
                   ss_keytype_ossl_name(t));
        rc = rc == SU_OK ? SU_OK : SU_EUSAGE;
        EVP_PKEY_free(back);
    }
    if (rc == SU_OK)
        rc = st_txn(s, 1, &txn, e);
    if (rc == SU_OK) {
        rc = st_get(s, txn, ST_DB_LABELS, spec->label, strlen(spec->label), &v, e);
        if (rc == SU_OK)
            rc = su_err(e, SU_EUSAGE,
                        "key label %s already exists in keystore %s (labels are "
                        "never reused, even after destroy)",
                        spec->label, s->path);
        else if (rc == SU_ENOTFOUND)
            rc = SU_OK;
    }
    if (rc == SU_OK && spec->policy.key_pin)
        rc = st_kpin_make(s, txn, &r, spec->key_pin, e);
    if (rc == SU_OK)
        rc = st_keyrec_seal(s, &r, der, derlen, e);
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_LABELS, k->label, strlen(k->label), k->id, SS_KEY_ID_LEN, e);
    if (rc == SU_OK)
        rc = st_key_store(s, txn, &r, e);
    if (rc == SU_OK) {
        st_usage u = {0};
        rc = st_usage_store(s, txn, k->id, &u, e);
    }
    if (rc == SU_OK) {
        char reason[64];
        ss_keytype_name(t, reason);
        rc = st_key_audit(s, txn, origin == SS_ORIGIN_IMPORTED ? SS_OP_IMPORT : SS_OP_KEYGEN,
                          SS_OUT_OK, k, reason, e);
    }
    if (txn != NULL) /* NULL only when the txn never began (rc is then an error) */
        rc = st_finish(s, txn, rc, e);
    if (der != NULL)
        OPENSSL_secure_clear_free(der, derlen);
    if (rc == SU_OK && out != NULL && !st_keyinfo_copy(k, out))
        rc = su_err(e, SU_EIO, "out of memory");
    st_keyrec_clear(&r);
    return rc;
}

int st_keyspec_check(ss_store *s, const ss_keyspec *spec, const char *what, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_SO, what, e);
    if (rc == SU_OK)
        rc = st_label_valid(spec->label, e);
    if (rc == SU_OK && spec->description && strlen(spec->description) > SS_DESC_MAX)
        rc = su_err(e, SU_EUSAGE, "key %s: description longer than %d bytes", spec->label,
                    SS_DESC_MAX);
    if (rc == SU_OK && spec->policy.nusers > SS_MAX_USERS)
        rc = su_err(e, SU_EUSAGE, "key %s: at most %d users", spec->label, SS_MAX_USERS);
    if (rc == SU_OK && (spec->policy.digests & ~0x3ffu))
        rc = su_err(e, SU_EUSAGE, "key %s: unknown digest in policy", spec->label);
    if (rc == SU_OK && spec->policy.audit_batched &&
        (spec->policy.max_signatures != 0 || spec->policy.rate_count != 0))
        rc = su_err(e, SU_EUSAGE,
                    "key %s: --audit batched cannot be combined with --max-signatures or --rate "
                    "(their counts must be exact)",
                    spec->label);
    /* a window that can never be open is a typo, not a policy (README, "Policy") */
    char t1[32], t2[32];
    if (rc == SU_OK && spec->policy.not_before != 0 && spec->policy.not_after != 0 &&
        spec->policy.not_before > spec->policy.not_after) {
        su_format_time(spec->policy.not_before, t1);
        su_format_time(spec->policy.not_after, t2);
        rc = su_err(e, SU_EUSAGE, "key %s: --not-before %s is after --not-after %s", spec->label,
                    t1, t2);
    }
    if (rc == SU_OK && spec->policy.not_after != 0 && spec->policy.not_after < su_now()) {
        su_format_time(spec->policy.not_after, t2);
        rc = su_err(e, SU_EUSAGE, "key %s: --not-after %s is already past (%s would never sign)",
                    spec->label, t2, what);
    }
    if (rc == SU_OK && spec->policy.approvals > 0 && spec->policy.activation_ttl == 0)
        rc = su_err(e, SU_EUSAGE, "key %s: --approvals needs an activation TTL", spec->label);
    return rc;
}

/* What every new key is checked for before its material exists (keygen, import): a valid
 * spec, a label not yet taken, approvals the officers can give. */
static int new_key_check(ss_store *s, const ss_keyspec *spec, const char *what, ss_keyinfo **out,
                         ss_error *e) {
    if (out != NULL)
        *out = NULL;
    int rc = st_keyspec_check(s, spec, what, e);
    if (rc == SU_OK)
        rc = label_new_valid(spec->label, e);
    if (rc == SU_OK)
        rc = st_quorum_check_approvals(s, spec->policy.approvals, spec->label, e);
    return rc;
}

/* Stores new key material after its pairwise test; frees pkey whatever happens. */
static int new_key_add(ss_store *s, const ss_keyspec *spec, ss_keytype t, ss_origin origin, int rc,
                       EVP_PKEY *pkey, ss_keyinfo **out, ss_error *e) {
    if (rc == SU_OK)
        rc = pairwise(s, pkey, spec->label, e);
    if (rc == SU_OK)
        rc = add_key(s, spec, t, origin, pkey, out, e);
    EVP_PKEY_free(pkey);
    return rc;
}

int ss_keygen(ss_store *s, const ss_keyspec *spec, ss_keyinfo **out, ss_error *e) {
    int rc = new_key_check(s, spec, "key generation", out, e);
    if (rc != SU_OK)
        return rc;
    char tn[16];
    ss_keytype_name(spec->type, tn);
    ss_keytype check;
    if (ss_keytype_parse(tn, &check, e) != SU_OK)
        return SU_EUSAGE;
    EVP_PKEY *pkey = NULL;
    rc = generate(s, spec->type, &pkey, e);
    return new_key_add(s, spec, spec->type, SS_ORIGIN_GENERATED, rc, pkey, out, e);
}

int ss_import(ss_store *s, const ss_keyspec *spec, const unsigned char *pkcs8, size_t len,
              ss_keyinfo **out, ss_error *e) {
    int rc = new_key_check(s, spec, "key import", out, e);
    if (rc != SU_OK)
        return rc;
    EVP_PKEY *pkey = NULL;
    ss_keytype t;
    rc = st_pkey_from_pkcs8(s, pkcs8, len, &pkey, e);
    if (rc != SU_OK)
        return su_err(e, SU_EUSAGE, "key %s: import needs an unencrypted PKCS#8 private key",
                      spec->label);
    rc = type_of(pkey, spec->label, &t, e);
    return new_key_add(s, spec, t, SS_ORIGIN_IMPORTED, rc, pkey, out, e);
}

/* Fills the derived parts of a key's public view: counters, activation, certs. */
static int fill_info(ss_store *s, MDB_txn *txn, ss_keyinfo *k, ss_error *e) {
    st_usage u;
    st_activation a;
    MDB_val v;
    int rc = st_usage_load(s, txn, k, &u, e);
    if (rc != SU_OK)
        return rc;
    k->signatures = u.signatures;
    k->last_used = u.last_used;
    rc = st_activation_load(s, txn, k, &a, e);
    if (rc != SU_OK)
        return rc;
    k->activation_expires = a.expires > su_now() ? a.expires : 0;
    rc = st_get(s, txn, ST_DB_CERTS, k->id, SS_KEY_ID_LEN, &v, e);
    if (rc == SU_OK && v.mv_size >= 4)
        k->ncerts = su_get_be32(v.mv_data);
    return rc == SU_ENOTFOUND ? SU_OK : rc;
}

int ss_key_get(ss_store *s, const char *label, const unsigned char *id, ss_keyinfo **out,
               ss_error *e) {
    *out = NULL;
    int rc = st_require_login(s, "reading keys", e);
    if (rc != SU_OK)
        return rc;
    if ((label == NULL) == (id == NULL))
        return su_err(e, SU_EUSAGE, "name a key by label or by id");
    MDB_txn *txn;
    st_keyrec r;
    if ((rc = st_txn(s, 0, &txn, e)) != SU_OK)
        return rc;
    rc = st_key_load(s, txn, label, id, &r, e);
    if (rc == SU_OK) {
        rc = st_fresh_check(s, txn, &r.info, e);
        if (rc == SU_OK)
            rc = fill_info(s, txn, &r.info, e);
        if (rc == SU_OK && !st_keyinfo_copy(&r.info, out))
            rc = su_err(e, SU_EIO, "out of memory");
        st_keyrec_clear(&r);
    }
    mdb_txn_abort(txn);
    return rc;
}

int ss_key_use(ss_store *s, const char *label, const unsigned char *id, ss_keyinfo **out,
               ss_error *e) {
    return ss_key_use_by(s, NULL, label, id, out, e);
}

int ss_key_use_by(ss_store *s, const ss_signer *signer, const char *label, const unsigned char *id,
                  ss_keyinfo **out, ss_error *e) {
    int rc = ss_key_get(s, label, id, out, e);
    if (rc != SU_OK || (*out)->state != SS_STATE_DESTROYED)
        return rc;
    char reason[SS_LABEL_MAX + 64];
    snprintf(reason, sizeof(reason), "key %s was destroyed: use refused", (*out)->label);
    st_audit_in in = {.op = SS_OP_SIGN,
                      .outcome = SS_OUT_DENIED,
                      .key_id = (*out)->id,
                      .label = (*out)->label,
                      .reason = reason,
                      .signer = signer};
    st_audit_log(s, &in, NULL);
    su_err(e, SU_ENOTFOUND, "%s", reason);
    ss_keyinfo_free(*out);
    *out = NULL;
    return SU_ENOTFOUND;
}

static int by_label(const void *a, const void *b) {
    return strcmp((*(ss_keyinfo *const *)a)->label, (*(ss_keyinfo *const *)b)->label);
}

int st_label_points_here(ss_store *s, MDB_txn *txn, const ss_keyinfo *k, ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_LABELS, k->label, strlen(k->label), &v, e);
    if (rc == SU_ENOTFOUND ||
        (rc == SU_OK && (v.mv_size != SS_KEY_ID_LEN || memcmp(v.mv_data, k->id, SS_KEY_ID_LEN))))
        return su_err(e, SU_EINTEGRITY,
                      "key %s: its label index entry is missing or names another key (a key "
                      "hidden from list)",
                      k->label);
    return rc;
}

/* A record that fails to load is reported by its label when the index still names
 * it: loading it by label again gives the same error naming the label. */
static void name_by_label(ss_store *s, MDB_txn *txn, const void *id, ss_error *e) {
    MDB_cursor *cur;
    MDB_val k, v;
    if (e == NULL || st_cursor(s, txn, ST_DB_LABELS, &cur, "listing keys", NULL) != SU_OK)
        return;
    int mrc;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (v.mv_size == SS_KEY_ID_LEN && memcmp(v.mv_data, id, SS_KEY_ID_LEN) == 0 &&
            k.mv_size > 0 && k.mv_size <= SS_LABEL_MAX)
            break;
    if (mrc == 0) {
        char label[SS_LABEL_MAX + 1];
        st_keyrec r;
        ss_error again;
        memcpy(label, k.mv_data, k.mv_size);
        label[k.mv_size] = '\0';
        if (st_key_load(s, txn, label, NULL, &r, &again) == SU_OK)
            st_keyrec_clear(&r);
        else
            *e = again;
    }
    mdb_cursor_close(cur);
}

/* Walks the key records, not the label index: a key whose index entry was deleted
 * is reported, not skipped. */
int ss_key_list(ss_store *s, ss_keyinfo ***out, size_t *n, ss_error *e) {
    *out = NULL;
    *n = 0;
    int rc = st_require_login(s, "listing keys", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    MDB_cursor *cur;
    if ((rc = st_read_cursor(s, ST_DB_KEYS, &txn, &cur, "listing keys", e)) != SU_OK)
        return rc;
    int mrc;
    ss_keyinfo **v = NULL;
    size_t cnt = 0, cap = 0;
    MDB_val key, val;
    for (mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); mrc == 0 && rc == SU_OK;
         mrc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        st_keyrec r;
        if (key.mv_size != SS_KEY_ID_LEN) {
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: malformed key id", s->path);
            break;
        }
        rc = st_key_load(s, txn, NULL, key.mv_data, &r, e);
        if (rc != SU_OK) {
            name_by_label(s, txn, key.mv_data, e);
            break;
        }
        rc = st_label_points_here(s, txn, &r.info, e);
        if (rc == SU_OK)
            rc = fill_info(s, txn, &r.info, e);
        if (rc == SU_OK && cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            ss_keyinfo **g = realloc(v, ncap * sizeof(*v));
            if (g == NULL)
                rc = su_err(e, SU_EIO, "out of memory");
            else
                v = g, cap = ncap;
        }
        if (rc == SU_OK && !st_keyinfo_copy(&r.info, &v[cnt]))
            rc = su_err(e, SU_EIO, "out of memory");
        if (rc == SU_OK)
            cnt++;
        st_keyrec_clear(&r);
    }
    if (rc == SU_OK && mrc != MDB_NOTFOUND)
        rc = st_mdb_err(s, mrc, "listing keys", e);
    st_read_end(txn, cur);
    if (rc != SU_OK) {
        ss_keylist_free(v, cnt);
        return rc;
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof(*v), by_label);
    *out = v;
    *n = cnt;
    return SU_OK;
}
