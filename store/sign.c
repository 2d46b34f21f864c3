/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signing gate. Every signature the store makes passes here:
 *
 *   1. read txn: the key record (MAC), counters, activation -> policy check
 *   2. key PIN, unseal, sign (no lock held)
 *   3. one write txn: re-check state and counters against the committed values,
 *      bump the counters, append the audit record, commit (fsync)
 *   4. only then copy the signature out.
 *
 * A refusal at 1 or 3 is audited in its own transaction. If 3 fails to commit
 * the caller gets an error and the signature is wiped.
 */
#include "internal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/* Audits a refusal; the refusal's own message is what the caller sees. */
static void audit_refusal(ss_store *s, const ss_keyinfo *k, const ss_sign_req *req, int code,
                          const char *msg) {
    char dbuf[32];
    st_audit_in in = {.op = SS_OP_SIGN,
                      .outcome = code == SU_EPOLICY || code == SU_ENOTFOUND || code == SU_EPIN
                                     ? SS_OUT_DENIED
                                     : SS_OUT_ERROR,
                      .key_id = k->id,
                      .label = k->label,
                      .reason = msg,
                      .digest = ss_digest_canon(req->digest, dbuf, sizeof(dbuf)),
                      .signer = req->signer};
    st_audit_log(s, &in, NULL);
}

static int check_kpin(ss_store *s, const st_keyrec *r, const ss_sign_req *req, ss_error *e) {
    if (!r->info.policy.key_pin)
        return SU_OK;
    if (!r->has_kpin)
        return su_err(e, SU_EINTEGRITY, "key %s: key PIN verifier missing", r->info.label);
    if (req->key_pin_cb == NULL)
        return su_err(e, SU_EPOLICY, "policy: key %s: key-pin: no way to ask for the key PIN",
                      r->info.label);
    su_pin *pin = NULL;
    int rc = req->key_pin_cb(req->key_pin_arg, r->info.label, &pin, e);
    if (rc != SU_OK || pin == NULL) {
        su_pin_free(pin);
        return su_err(e, SU_EPOLICY, "policy: key %s: key-pin: no key PIN given", r->info.label);
    }
    /* counted and locked like role PINs: a durable marker before the KDF */
    st_attempt at;
    rc = st_kpin_attempt_begin(s, &r->info, &at, e);
    unsigned char h[ST_KEY_LEN];
    if (rc == SU_OK)
        rc = st_argon2id(pin, r->kpin_salt, r->kpin_m, r->kpin_t, r->kpin_p, h, e);
    su_pin_free(pin);
    if (rc == SU_OK) {
        /* no verdict recorded (I/O error): the marker counts at the next attempt */
        int ok = CRYPTO_memcmp(h, r->kpin_hash, ST_KEY_LEN) == 0;
        uint32_t left = 0;
        rc = st_kpin_attempt_end(s, &at, ok, &left, e);
        if (rc == SU_OK && !ok)
            rc = su_err(e, SU_EPOLICY, "policy: key %s: key-pin: wrong key PIN (%u tries left%s)",
                        r->info.label, left, left == 0 ? ": now locked" : "");
    }
    OPENSSL_cleanse(h, sizeof(h));
    return rc;
}

static int raw_sign(ss_store *s, EVP_PKEY *pkey, const ss_keyinfo *k, const ss_sign_req *req,
                    unsigned char *sig, size_t *siglen, ss_error *e) {
    int ok;
    if (k->type.alg == SS_ALG_ED25519 || k->type.alg == SS_ALG_ED448) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        ok = c != NULL &&
             EVP_DigestSignInit_ex(c, NULL, NULL, s->libctx, s->propq, pkey, NULL) == 1 &&
             EVP_DigestSign(c, sig, siglen, req->tbs, req->tbslen) == 1;
        EVP_MD_CTX_free(c);
    } else {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(s->libctx, pkey, s->propq);
        OSSL_PARAM params[4], *p = params;
        *p++ =
            OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, (char *)req->digest, 0);
        ok = c != NULL && EVP_PKEY_sign_init(c) == 1;
        if (ok && k->type.alg == SS_ALG_RSA) {
            ok = EVP_PKEY_CTX_set_rsa_padding(c, req->padding == SS_PAD_PSS
                                                     ? RSA_PKCS1_PSS_PADDING
                                                     : RSA_PKCS1_PADDING) == 1;
            if (ok && req->padding == SS_PAD_PSS)
                *p++ = OSSL_PARAM_construct_utf8_string(
                    OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
                    (char *)(req->mgf1_digest ? req->mgf1_digest : req->digest), 0);
        }
        *p = OSSL_PARAM_construct_end();
        ok = ok && EVP_PKEY_CTX_set_params(c, params) == 1;
        if (ok && k->type.alg == SS_ALG_RSA && req->padding == SS_PAD_PSS)
            ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(c, req->pss_saltlen) == 1;
        ok = ok && EVP_PKEY_sign(c, sig, siglen, req->tbs, req->tbslen) == 1;
        EVP_PKEY_CTX_free(c);
    }
    if (!ok)
        return su_err(e, SU_EUSAGE, "key %s: the signing operation failed (bad parameters?)",
                      k->label);
    return SU_OK;
}

static int max_size(ss_store *s, const ss_keyinfo *k, size_t *siglen, ss_error *e) {
    const unsigned char *p = k->spki;
    EVP_PKEY *pub =
        k->spki ? d2i_PUBKEY_ex(NULL, &p, (long)k->spki_len, s->libctx, s->propq) : NULL;
    int n = pub ? EVP_PKEY_get_size(pub) : 0;
    EVP_PKEY_free(pub);
    if (n <= 0)
        return su_err(e, SU_EINTEGRITY, "key %s: public key is unreadable", k->label);
    *siglen = (size_t)n;
    return SU_OK;
}

/* The to-be-signed hash recorded in the audit log: the digest itself, or for
 * EdDSA (which signs the whole message) SHA-256 of the message. */
static bool tbs_hash(ss_store *s, const ss_keyinfo *k, const ss_sign_req *req,
                     unsigned char out[64], size_t *len) {
    if (k->type.alg == SS_ALG_ED25519 || k->type.alg == SS_ALG_ED448) {
        *len = 32;
        return st_sha256(s, req->tbs, req->tbslen, NULL, 0, out);
    }
    if (req->tbslen > 64)
        return false;
    memcpy(out, req->tbs, req->tbslen);
    *len = req->tbslen;
    return true;
}

int ss_sign(ss_store *s, const unsigned char id[SS_KEY_ID_LEN], const ss_sign_req *req,
            unsigned char *sig, size_t *siglen, ss_error *e) {
    int rc = st_require_role(s, SS_ROLE_USER, "signing", e);
    if (rc != SU_OK)
        return rc;
    MDB_txn *txn;
    st_keyrec r;
    st_usage u;
    if ((rc = st_txn(s, 0, &txn, e)) != SU_OK)
        return rc;
    rc = st_key_load(s, txn, NULL, id, &r, e);
    if (rc != SU_OK) {
        mdb_txn_abort(txn);
        return rc;
    }
    if (sig == NULL) {
        mdb_txn_abort(txn);
        rc = r.info.state == SS_STATE_DESTROYED
                 ? su_err(e, SU_ENOTFOUND, "key %s was destroyed", r.info.label)
                 : max_size(s, &r.info, siglen, e);
        st_keyrec_clear(&r);
        return rc;
    }
    /* A first look, to refuse before signing; the authoritative checks (freshness
     * included) run again in the commit transaction before anything is released. */
    int64_t now = su_now();
    rc = st_sign_eval(s, txn, ST_EVAL_PRECHECK, 0, &r.info, req, now, &u, e);
    mdb_txn_abort(txn);
    if (rc == SU_OK)
        rc = check_kpin(s, &r, req, e);
    if (rc == SU_OK && r.info.policy.audit_batched)
        rc = st_gate_batched_ok(s, e);
    if (rc == SU_OK && req->digest != NULL &&
        ss_digest_size(ss_digest_flag(req->digest, NULL)) != req->tbslen)
        rc = su_err(e, SU_EUSAGE, "key %s: %zu bytes is not a %s digest", r.info.label, req->tbslen,
                    req->digest);
    if (rc != SU_OK) {
        if (rc != SU_EINTEGRITY && rc != SU_EIO)
            audit_refusal(s, &r.info, req, rc, e ? e->msg : "refused");
        st_keyrec_clear(&r);
        return rc;
    }

    unsigned char *der = NULL, buf[1024];
    size_t derlen = 0, len = sizeof(buf);
    EVP_PKEY *pkey = st_keycache_get(s, &r);
    if (pkey == NULL) {
        rc = st_keyrec_unseal(s, &r, &der, &derlen, e);
        if (rc == SU_OK)
            rc = st_pkey_unsealed(s, &r.info, der, derlen, &pkey, e);
        if (der != NULL)
            OPENSSL_secure_clear_free(der, derlen);
        if (rc == SU_OK)
            st_keycache_put(s, &r, pkey);
    }
    if (rc == SU_OK && (size_t)EVP_PKEY_get_size(pkey) > *siglen)
        rc = su_err(e, SU_EUSAGE, "key %s: signature buffer too small (%zu < %d)", r.info.label,
                    *siglen, EVP_PKEY_get_size(pkey));
    st_gate_item item = {.id = r.info.id, .req = req};
    if (rc == SU_OK && !tbs_hash(s, &r.info, req, item.th, &item.thlen))
        rc = su_err(e, SU_EIO, "key %s: hashing the signed data failed", r.info.label);
    if (rc == SU_OK && r.info.policy.audit_batched) {
        rc = raw_sign(s, pkey, &r.info, req, buf, &len, e);
        if (rc == SU_OK)
            rc = st_gate_batch(s, &item, e);
    } else if (rc == SU_OK && (rc = st_gate_submit(s, &item, e)) == SU_OK) {
        /* the commit runs while we sign; nothing is released before it is durable */
        ss_error serr;
        int src = raw_sign(s, pkey, &r.info, req, buf, &len, &serr);
        rc = st_gate_wait(s, &item, e);
        if (rc == SU_OK && src != SU_OK) {
            rc = src;
            if (e != NULL)
                *e = serr;
            audit_refusal(s, &r.info, req, SU_EIO,
                          "the signature failed after its record "
                          "was committed");
        }
    } else if (rc != SU_OK && rc != SU_EINTEGRITY) {
        audit_refusal(s, &r.info, req, rc, e ? e->msg : "error");
    }
    EVP_PKEY_free(pkey);
    if (rc == SU_OK) {
        memcpy(sig, buf, len);
        *siglen = len;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    st_keyrec_clear(&r);
    return rc;
}
