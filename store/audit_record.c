/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The audit record format (docs/reference.md, Audit log): its names, its hash and
 * its one decoder. Record i is
 *     content_i || authenticated (u8) || mac_i
 * where content_i carries seq, time, who, what, outcome and prev_hash and
 * h_i = SHA-256("sealhsm-audit-v1" || content_i). audit.c writes records, and
 * audit_verify.c walks them with st_audit_rec_peek, which copies nothing out.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

const char *ss_audit_op_name(ss_audit_op op) {
    static const char *const names[] = {"init",    "unlock",  "keygen", "import", "policy",
                                        "officer", "approve", "sign",   "state",  "cert",
                                        "backup",  "restore", "pin"};
    return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "unknown";
}

const char *ss_audit_outcome_name(ss_audit_outcome o) {
    return o == SS_OUT_OK ? "ok" : o == SS_OUT_DENIED ? "denied" : "error";
}

bool st_audit_rec_hash(ss_store *s, const unsigned char *content, size_t n, unsigned char out[32]) {
    return st_sha256(s, "sealhsm-audit-v1", 16, content, n, out);
}

/* A string field of a record: bounded, no NUL (what su_rd_str accepts). */
static bool peek_str(su_rd *r, const unsigned char **p, size_t *n, size_t max) {
    return su_rd_bytes(r, p, n, max) && memchr(*p, 0, *n) == NULL;
}

/*
 * The one walker over the record format: the structure of a record without
 * copying anything out, what `audit verify` needs for every one of possibly
 * millions of records; st_audit_rec_decode copies the strings out of it. v->seq is set
 * (for the error message) even when the record is refused.
 */
bool st_audit_rec_peek(const unsigned char *p, size_t n, st_audit_rec_view *v) {
    su_rd rd;
    v->version = 0;
    v->op = 0;
    v->outcome = 0;
    v->via = ST_AUDIT_VIA_DAEMON;
    if (n < 1 + ST_MAC_LEN)
        return false;
    su_rd_init(&rd, p, n - 1 - ST_MAC_LEN);
    su_rd_u8(&rd, &v->version);
    su_rd_u64(&rd, &v->seq);
    su_rd_u64(&rd, &v->time);
    su_rd_u32(&rd, &v->uid);
    int ok = peek_str(&rd, &v->user, &v->user_len, 256);
    su_rd_u32(&rd, &v->pid);
    ok = ok && peek_str(&rd, &v->program, &v->program_len, 256);
    if (v->version == ST_AUDIT_VERSION_VIA)
        su_rd_u8(&rd, &v->via);
    su_rd_u8(&rd, &v->op);
    su_rd_bytes(&rd, &v->kid, &v->kidlen, SS_KEY_ID_LEN);
    ok = ok && peek_str(&rd, &v->label, &v->label_len, SS_LABEL_MAX);
    su_rd_u8(&rd, &v->outcome);
    ok = ok && peek_str(&rd, &v->reason, &v->reason_len, SS_REASON_MAX + 512) &&
         peek_str(&rd, &v->digest, &v->digest_len, 64);
    su_rd_bytes(&rd, &v->tbs, &v->tbslen, 64);
    v->prev = rd.p;
    su_rd_raw(&rd, (unsigned char[32]){0}, 32);
    v->auth = p[n - 1 - ST_MAC_LEN];
    v->content_len = n - 1 - ST_MAC_LEN;
    v->failed_unlock = v->op == SS_OP_UNLOCK && v->outcome != SS_OUT_OK;
    return ok && su_rd_done(&rd) &&
           (v->version == ST_AUDIT_VERSION || v->version == ST_AUDIT_VERSION_VIA) &&
           v->via == ST_AUDIT_VIA_DAEMON && v->op <= SS_OP_PIN && v->outcome <= SS_OUT_ERROR &&
           (v->kidlen == 0 || v->kidlen == SS_KEY_ID_LEN) && v->auth <= 1;
}

static char *rec_str(const unsigned char *p, size_t n) {
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

void st_audit_rec_clear(st_audit_rec *r) {
    free(r->user);
    free(r->program);
    free(r->label);
    free(r->reason);
    free(r->digest);
    memset(r, 0, sizeof(*r));
}

/* A record with its strings copied out (malloc'd): accepts exactly what st_audit_rec_peek
 * accepts. */
bool st_audit_rec_decode(const unsigned char *p, size_t n, st_audit_rec *r) {
    st_audit_rec_view v;
    memset(r, 0, sizeof(*r));
    if (!st_audit_rec_peek(p, n, &v))
        return false;
    r->user = rec_str(v.user, v.user_len);
    r->program = rec_str(v.program, v.program_len);
    r->label = rec_str(v.label, v.label_len);
    r->reason = rec_str(v.reason, v.reason_len);
    r->digest = rec_str(v.digest, v.digest_len);
    if (r->user == NULL || r->program == NULL || r->label == NULL || r->reason == NULL ||
        r->digest == NULL) {
        st_audit_rec_clear(r);
        return false;
    }
    r->pub.seq = v.seq;
    r->pub.time_ms = (int64_t)v.time;
    r->pub.uid = v.uid;
    r->pub.pid = v.pid;
    r->pub.op = (ss_audit_op)v.op;
    r->pub.outcome = (ss_audit_outcome)v.outcome;
    r->pub.has_key = v.kidlen == SS_KEY_ID_LEN;
    if (r->pub.has_key)
        memcpy(r->pub.key_id, v.kid, SS_KEY_ID_LEN);
    memcpy(r->tbs, v.tbs, v.tbslen);
    r->pub.tbs_hash = v.tbslen ? r->tbs : NULL;
    r->pub.tbs_hash_len = v.tbslen;
    memcpy(r->pub.prev_hash, v.prev, 32);
    r->pub.user = r->user;
    r->pub.program = r->program;
    r->pub.via_daemon = v.version == ST_AUDIT_VERSION_VIA;
    r->pub.label = r->label[0] ? r->label : NULL;
    r->pub.reason = r->reason;
    r->pub.digest = r->digest;
    r->pub.authenticated = v.auth;
    memcpy(r->pub.mac, p + n - ST_MAC_LEN, ST_MAC_LEN);
    r->content_len = v.content_len;
    return true;
}
