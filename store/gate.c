/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable commit behind every signature.
 *
 * One committer thread per store handle owns the write transactions of signing.
 * A signer submits its item (key, request, hash of what it signs) before it
 * computes the signature, computes it while the committer applies the item in
 * a write transaction (authoritative policy re-check, counters, audit record)
 * and commits, then waits for that commit and only then releases the signature.
 * So the private-key operation and the fsync overlap (RSA pays about the larger
 * of the two, not their sum), and concurrent signers share transactions: the
 * committer takes everything queued into one commit (group commit).
 *
 * Signers that loop fall out of step: with two of them each commit would carry
 * one signature while the other one signs, so two threads would sign no faster
 * than one. So when a commit is about to start with fewer signers queued than the
 * previous commit released, it waits for the missing ones to submit again, at
 * most half the previous commit's time (a lone signer, or one that does not
 * come back, costs nothing or that much latency; as PostgreSQL's commit_delay
 * with commit_siblings).
 *
 * Keys with `--audit batched` (TLS-server keys) do not wait: their records are
 * queued and committed with the next transaction, at the latest ST_BATCH_MS
 * later, so a crash loses at most that window. Such keys cannot have
 * max-signatures or rate limits, and once a commit of batched records fails
 * every later batched signature is refused.
 *
 * Fail closed: if a transaction cannot be committed, every item in it gets the
 * error and its signature is never released by ss_sign.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void st_gate_init(st_gate *g) {
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    pthread_cond_init(&g->bcv, NULL);
    g->pid = getpid();
}

void st_gate_destroy(st_gate *g) {
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    pthread_cond_destroy(&g->bcv);
}

/*
 * The key record of the last item, kept across the items of one transaction: a
 * group commit is usually many signatures with one key, whose record (unlike its
 * counters) does not change, so it is decoded and MAC-checked once while its
 * stored bytes stay the same.
 */
typedef struct last_key {
    int valid;
    unsigned char id[SS_KEY_ID_LEN];
    unsigned char *raw;
    size_t rawlen;
    st_keyrec r;
} last_key;

static void last_key_clear(last_key *lk) {
    if (lk->valid)
        st_keyrec_clear(&lk->r);
    free(lk->raw);
    memset(lk, 0, sizeof(*lk));
}

static int load_key(ss_store *s, MDB_txn *txn, const unsigned char *id, last_key *lk, ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_KEYS, id, SS_KEY_ID_LEN, &v, e);
    if (rc == SU_ENOTFOUND) {
        char name[2 * SS_KEY_ID_LEN + 8];
        st_key_name(name, sizeof(name), NULL, id);
        return su_err(e, SU_ENOTFOUND, "key %s not found in keystore %s", name, s->path);
    }
    if (rc != SU_OK)
        return rc;
    if (lk->valid && memcmp(lk->id, id, SS_KEY_ID_LEN) == 0 && lk->rawlen == v.mv_size &&
        memcmp(lk->raw, v.mv_data, v.mv_size) == 0)
        return SU_OK;
    last_key_clear(lk);
    if ((rc = st_key_load(s, txn, NULL, id, &lk->r, e)) != SU_OK)
        return rc;
    if ((lk->raw = malloc(v.mv_size)) == NULL) {
        st_keyrec_clear(&lk->r);
        return su_err(e, SU_EIO, "out of memory");
    }
    memcpy(lk->raw, v.mv_data, v.mv_size);
    lk->rawlen = v.mv_size;
    memcpy(lk->id, id, SS_KEY_ID_LEN);
    lk->valid = 1;
    return SU_OK;
}

/*
 * Applies one signature inside txn. The item's own outcome goes to it->rc;
 * the return value is nonzero only when txn itself failed and must be aborted.
 * floor_ms: the clock floor of the head txn started from (read once per commit;
 * the records of this commit only raise it to now).
 */
static int apply(ss_store *s, MDB_txn *txn, st_gate_item *it, int64_t now, int64_t floor_ms,
                 last_key *lk) {
    ss_error *e = &it->err;
    const ss_sign_req *req = it->req;
    st_usage u;
    it->rc = load_key(s, txn, it->id, lk, e);
    if (it->rc != SU_OK)
        return it->rc == SU_EIO ? it->rc : SU_OK;
    st_keyrec r = lk->r; /* borrowed: lk owns it */
    int rc = st_sign_eval(s, txn, ST_EVAL_COMMIT, floor_ms, &r.info, req, now, &u, e);
    it->rc = rc;
    int denied = rc == SU_EPOLICY || rc == SU_ENOTFOUND;
    int fatal = SU_OK;
    if (rc == SU_OK)
        fatal = st_usage_store(s, txn, r.info.id, &u, e);
    if (fatal == SU_OK && (rc == SU_OK || denied)) {
        char dbuf[32];
        st_audit_in in = {.op = SS_OP_SIGN,
                          .outcome = denied ? SS_OUT_DENIED : SS_OUT_OK,
                          .key_id = r.info.id,
                          .label = r.info.label,
                          .reason = denied ? e->msg : NULL,
                          .digest = ss_digest_canon(req->digest, dbuf, sizeof(dbuf)),
                          .tbs_hash = it->thlen ? it->th : NULL,
                          .tbs_hash_len = it->thlen,
                          .signer = req->signer};
        ss_error ae;
        fatal = st_audit_append(s, txn, &in, &ae);
        if (fatal != SU_OK)
            *e = ae;
    }
    return fatal;
}

/* Records batched signatures (already released) inside txn: counters and audit
 * record, no re-check. Nonzero only when txn failed. */
static int apply_batched(ss_store *s, MDB_txn *txn, st_batched *b, int64_t now, ss_error *e) {
    int rc = SU_OK;
    for (; rc == SU_OK && b != NULL; b = b->next) {
        st_keyrec r;
        st_usage u;
        if ((rc = st_key_load(s, txn, NULL, b->id, &r, e)) != SU_OK)
            break;
        rc = st_usage_load(s, txn, &r.info, &u, e);
        if (rc == SU_OK) {
            u.signatures++;
            u.last_used = now;
            rc = st_usage_store(s, txn, r.info.id, &u, e);
        }
        if (rc == SU_OK) {
            st_audit_in in = {.op = SS_OP_SIGN,
                              .outcome = SS_OUT_OK,
                              .key_id = r.info.id,
                              .label = r.info.label,
                              .reason = "batched",
                              .digest = b->digest,
                              .tbs_hash = b->thlen ? b->th : NULL,
                              .tbs_hash_len = b->thlen,
                              .signer = b->has_signer ? &b->signer : NULL};
            rc = st_audit_append(s, txn, &in, e);
        }
        st_keyrec_clear(&r);
    }
    return rc;
}

static void free_list(st_batched *b) {
    while (b != NULL) {
        st_batched *n = b->next;
        free(b);
        b = n;
    }
}

/* In a forked child the parent's committer thread and queues are not ours: the parent
 * commits its own queues, our copies of its items are dropped. Every entry point that
 * uses the queues checks first, before taking the (possibly inherited, locked) mutex. */
static void own(st_gate *g) {
    if (g->pid != getpid()) {
        free_list(g->bhead);
        st_gate_init(g);
    }
}

/* One transaction for everything taken from the queues. */
static void run_batch(ss_store *s, st_gate_item *items, st_batched *batched, int *batch_failed,
                      ss_error *batch_err) {
    MDB_txn *txn;
    ss_error err;
    int rc = st_txn(s, 1, &txn, &err);
    int64_t now = su_now();
    st_gate_item *failed = NULL;
    last_key lk = {0};
    int64_t floor_ms = 0;
    if (rc == SU_OK)
        st_fresh_defer(s);
    if (rc == SU_OK && items != NULL && st_audit_head_state(s, txn, NULL, &floor_ms, NULL) != SU_OK)
        floor_ms = 0; /* a damaged head fails each signature's freshness check */
    for (st_gate_item *it = items; rc == SU_OK && it != NULL; it = it->next) {
        rc = apply(s, txn, it, now, floor_ms, &lk);
        if (rc != SU_OK)
            failed = it;
    }
    last_key_clear(&lk);
    if (rc == SU_OK && batched != NULL)
        rc = apply_batched(s, txn, batched, now, &err);
    if (rc == SU_OK)
        rc = st_fresh_settle(s, txn, &err);
    else
        st_fresh_discard(s);
    if (rc == SU_OK) {
        rc = st_commit(s, txn, &err);
    } else {
        if (failed != NULL)
            err = failed->err;
        mdb_txn_abort(txn);
    }
    if (rc == SU_OK)
        return;
    /* nothing of the transaction is durable: every signature in it is withheld */
    for (st_gate_item *it = items; it != NULL; it = it->next) {
        it->rc = rc;
        it->err = err;
    }
    if (batched != NULL) {
        *batch_failed = 1;
        *batch_err = err;
    }
}

static void deadline(struct timespec *t, long us) {
    clock_gettime(CLOCK_REALTIME, t);
    t->tv_sec += us / 1000000L;
    t->tv_nsec += (us % 1000000L) * 1000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static long elapsed_us(const struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (long)(b.tv_sec - a->tv_sec) * 1000000L + (b.tv_nsec - a->tv_nsec) / 1000L;
}

#define LINGER_MAX_US 2000L

static void *committer(void *arg) {
    ss_store *s = arg;
    st_gate *g = &s->gate;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (g->head == NULL && g->bhead == NULL && !g->committer_stop)
            pthread_cond_wait(&g->bcv, &g->mu);
        if (g->head == NULL && g->bhead == NULL)
            break; /* stopping, and nothing left */
        if (g->head == NULL && !g->committer_stop) {
            /* only batched records: let the window fill, unless a signer arrives */
            struct timespec until;
            deadline(&until, ST_BATCH_MS * 1000L);
            while (g->head == NULL && !g->committer_stop &&
                   pthread_cond_timedwait(&g->bcv, &g->mu, &until) == 0)
                ;
        }
        if (g->head != NULL && g->returning > 0 && !g->committer_stop) {
            /* the signers the last commit released are likely to be back at once */
            struct timespec until;
            deadline(&until, g->linger_us);
            while (g->returning > 0 && !g->committer_stop &&
                   pthread_cond_timedwait(&g->bcv, &g->mu, &until) == 0)
                ;
        }
        g->returning = 0;
        st_gate_item *items = g->head;
        st_batched *batched = g->bhead;
        g->head = g->tail = NULL;
        g->bhead = g->btail = NULL;
        pthread_mutex_unlock(&g->mu);
        int failed = 0;
        ss_error err;
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        run_batch(s, items, batched, &failed, &err);
        free_list(batched);
        long took = elapsed_us(&start);
        pthread_mutex_lock(&g->mu);
        g->linger_us = took / 2 < LINGER_MAX_US ? took / 2 : LINGER_MAX_US;
        for (st_gate_item *it = items, *next; it != NULL; it = next) {
            next = it->next;
            it->done = 1;
            g->returning++;
        }
        if (failed && !g->batch_failed) {
            g->batch_failed = 1;
            g->batch_err = err;
        }
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Under g->mu: the committer thread runs (started at the first signature). */
static int start_committer(ss_store *s, ss_error *e) {
    st_gate *g = &s->gate;
    if (g->committer_running)
        return SU_OK;
    g->committer_stop = 0;
    if (pthread_create(&g->committer, NULL, committer, s) != 0)
        return su_err(e, SU_EIO, "cannot start the audit committer thread");
    g->committer_running = 1;
    return SU_OK;
}

int st_gate_submit(ss_store *s, st_gate_item *it, ss_error *e) {
    st_gate *g = &s->gate;
    own(g);
    su_error_clear(&it->err);
    it->rc = SU_OK;
    it->done = 0;
    it->next = NULL;
    pthread_mutex_lock(&g->mu);
    int rc = start_committer(s, e);
    if (rc == SU_OK) {
        if (g->tail != NULL)
            g->tail->next = it;
        else
            g->head = it;
        g->tail = it;
        if (g->returning > 0)
            g->returning--;
        pthread_cond_signal(&g->bcv);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

int st_gate_wait(ss_store *s, st_gate_item *it, ss_error *e) {
    st_gate *g = &s->gate;
    own(g);
    pthread_mutex_lock(&g->mu);
    while (!it->done)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    if (it->rc != SU_OK && e != NULL)
        *e = it->err;
    return it->rc;
}

int st_gate_batched_ok(ss_store *s, ss_error *e) {
    st_gate *g = &s->gate;
    own(g);
    pthread_mutex_lock(&g->mu);
    int failed = g->batch_failed;
    if (failed && e != NULL)
        su_err(e, g->batch_err.code ? g->batch_err.code : SU_EIO,
               "batched audit records could not be committed (%s): batched keys are stopped",
               g->batch_err.msg);
    pthread_mutex_unlock(&g->mu);
    return failed ? (e ? e->code : SU_EIO) : SU_OK;
}

int st_gate_batch(ss_store *s, const st_gate_item *it, ss_error *e) {
    st_gate *g = &s->gate;
    own(g);
    st_batched *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return su_err(e, SU_EIO, "out of memory");
    memcpy(b->id, it->id, SS_KEY_ID_LEN);
    char dbuf[32];
    snprintf(b->digest, sizeof(b->digest), "%s",
             ss_digest_canon(it->req->digest, dbuf, sizeof(dbuf)));
    memcpy(b->th, it->th, it->thlen);
    b->thlen = it->thlen;
    /* the record is written after ss_sign returned: keep the signer's identity (its
     * supplementary groups only mattered for the policy check, done already) */
    if (it->req->signer != NULL) {
        const ss_signer *w = it->req->signer;
        b->has_signer = 1;
        snprintf(b->user, sizeof(b->user), "%s", w->user != NULL ? w->user : "");
        snprintf(b->program, sizeof(b->program), "%s", w->program != NULL ? w->program : "");
        b->signer = (ss_signer){
            .uid = w->uid, .gid = w->gid, .pid = w->pid, .user = b->user, .program = b->program};
    }
    pthread_mutex_lock(&g->mu);
    int rc = start_committer(s, e);
    if (rc == SU_OK) {
        if (g->btail != NULL)
            g->btail->next = b;
        else
            g->bhead = b;
        g->btail = b;
        pthread_cond_signal(&g->bcv);
    }
    pthread_mutex_unlock(&g->mu);
    if (rc != SU_OK)
        free(b);
    return rc;
}

void st_gate_flush_stop(ss_store *s) {
    st_gate *g = &s->gate;
    own(g);
    pthread_mutex_lock(&g->mu);
    int running = g->committer_running;
    g->committer_stop = 1;
    pthread_cond_signal(&g->bcv);
    pthread_mutex_unlock(&g->mu);
    if (running)
        pthread_join(g->committer, NULL);
    pthread_mutex_lock(&g->mu);
    g->committer_running = 0;
    pthread_mutex_unlock(&g->mu);
}
