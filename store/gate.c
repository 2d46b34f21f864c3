/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable commit behind every signature, with group commit.
 *
 * A signer enqueues its item and waits. Whichever waiting thread finds no
 * commit in progress becomes the leader: it takes every queued item, applies
 * them all in one LMDB write transaction (authoritative policy re-check,
 * counters, audit record), commits once, and wakes the others. One thread
 * signing alone pays one commit per signature; N threads share commits.
 *
 * Fail closed: if the transaction cannot be committed, every item in it gets
 * the error and its signature is never released by ss_sign.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void st_gate_init(st_gate *g)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

void st_gate_destroy(st_gate *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

/*
 * Applies one signature inside txn. The item's own outcome goes to it->rc;
 * the return value is nonzero only when txn itself failed and must be aborted.
 */
static int apply(ss_store *s, MDB_txn *txn, st_gate_item *it, int64_t now)
{
    ss_error *e = &it->err;
    const ss_sign_req *req = it->req;
    st_keyrec r;
    st_usage u;
    st_activation a;
    it->rc = st_key_load(s, txn, NULL, it->id, &r, e);
    if (it->rc != SU_OK)
        return it->rc == SU_EIO ? it->rc : SU_OK;
    int rc = st_usage_load(s, txn, &r.info, &u, e);
    if (rc == SU_OK)
        rc = st_activation_load(s, txn, &r.info, &a, e);
    if (rc == SU_OK)
        rc = st_policy_check_static(s, &r.info, req, now, e);
    if (rc == SU_OK)
        rc = st_policy_check_activation(&r.info, &a, now, e);
    if (rc == SU_OK)
        rc = st_policy_check_counters(&r.info, &u, now, e);
    it->rc = rc;
    int denied = rc == SU_EPOLICY || rc == SU_ENOTFOUND;
    int fatal = SU_OK;
    if (rc == SU_OK)
        fatal = st_usage_store(s, txn, r.info.id, &u, e);
    if (fatal == SU_OK && (rc == SU_OK || denied)) {
        unsigned md = ss_digest_flag(req->digest, NULL);
        st_audit_in in = {.op = SS_OP_SIGN,
                          .outcome = denied ? SS_OUT_DENIED : SS_OUT_OK,
                          .key_id = r.info.id,
                          .label = r.info.label,
                          .reason = denied ? e->msg : NULL,
                          .digest = md ? ss_digest_name(md) : req->digest,
                          .tbs_hash = it->thlen ? it->th : NULL,
                          .tbs_hash_len = it->thlen};
        ss_error ae;
        fatal = st_audit_append(s, txn, &in, &ae);
        if (fatal != SU_OK)
            *e = ae;
    }
    st_keyrec_clear(&r);
    return fatal;
}

static void run_batch(ss_store *s, st_gate_item *batch)
{
    MDB_txn *txn;
    ss_error err;
    int rc = st_txn(s, 1, &txn, &err);
    int64_t now = su_now();
    st_gate_item *failed = NULL;
    for (st_gate_item *it = batch; rc == SU_OK && it != NULL; it = it->next) {
        rc = apply(s, txn, it, now);
        if (rc != SU_OK)
            failed = it;
    }
    if (rc == SU_OK) {
        rc = st_commit(s, txn, &err);
    } else {
        if (failed != NULL)
            err = failed->err;
        mdb_txn_abort(txn);
    }
    if (rc == SU_OK)
        return;
    /* nothing of the batch is durable: every signature in it is withheld */
    for (st_gate_item *it = batch; it != NULL; it = it->next) {
        it->rc = rc;
        it->err = err;
    }
}

int st_gate_commit(ss_store *s, st_gate_item *it, ss_error *e)
{
    st_gate *g = &s->gate;
    su_error_clear(&it->err);
    it->done = 0;
    it->next = NULL;
    pthread_mutex_lock(&g->mu);
    if (g->tail != NULL)
        g->tail->next = it;
    else
        g->head = it;
    g->tail = it;
    while (!it->done) {
        if (g->leader) {
            pthread_cond_wait(&g->cv, &g->mu);
            continue;
        }
        g->leader = 1;
        st_gate_item *batch = g->head;
        g->head = g->tail = NULL;
        pthread_mutex_unlock(&g->mu);
        run_batch(s, batch);
        pthread_mutex_lock(&g->mu);
        for (st_gate_item *b = batch, *next; b != NULL; b = next) {
            next = b->next;
            b->done = 1;
        }
        g->leader = 0;
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
    if (it->rc != SU_OK && e != NULL)
        *e = it->err;
    return it->rc;
}
