/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop and the worker pool.
 *
 * One thread (the loop) owns the listening socket and every connection that is
 * not being served: it accepts, reads frames without blocking into a buffer per
 * connection, and enforces the limits (frame size, idle time, time to complete
 * a frame, --max-clients). Only a complete frame is handed to a worker, so a
 * client that stalls, trickles or sends garbage costs one buffer and a slot in
 * poll, never a worker. Workers decode, call the store, send the response and
 * give the connection back to the loop.
 *
 * SIGTERM/SIGINT (through a signalfd): the loop stops accepting and removes the
 * socket file, waits for the requests in the workers, closes the rest, exits 0.
 */
#include "sealhsmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define SEND_TIMEOUT_S 10

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void d_log(const char *fmt, ...) {
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* one line per event, whatever the message holds */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    pthread_mutex_lock(&log_mu);
    fprintf(stderr, "sealhsmd: %s\n", line);
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
}

/* ---- the peer --------------------------------------------------------------------- */

static void read_groups(d_peer *p) {
    char path[64], line[4096];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%u/status", p->pid);
    if ((f = fopen(path, "re")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Groups:", 7) != 0)
            continue;
        char *s = line + 7, *end;
        while (p->ngroups < D_MAX_GROUPS) {
            unsigned long g = strtoul(s, &end, 10);
            if (end == s)
                break;
            p->groups[p->ngroups++] = (uint32_t)g;
            s = end;
        }
        break;
    }
    fclose(f);
}

static void read_comm(d_peer *p) {
    char path[64];
    FILE *f;
    size_t n = 0;

    snprintf(path, sizeof(path), "/proc/%u/comm", p->pid);
    if ((f = fopen(path, "re")) != NULL) {
        n = fread(p->program, 1, sizeof(p->program) - 1, f);
        fclose(f);
    }
    p->program[n] = '\0';
    while (n > 0 && p->program[n - 1] == '\n')
        p->program[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p->program[i] < 0x20)
            p->program[i] = '?';
    if (n == 0)
        snprintf(p->program, sizeof(p->program), "?");
}

/*
 * uid -> user name, remembered for a minute: the lookup may go to a directory
 * service (NSS), and it runs in the event loop, where a slow answer per
 * connection would hold up every client. Only the loop thread calls it.
 */
#define NAME_CACHE 64
#define NAME_TTL_S 60

static struct {
    uint32_t uid;
    int64_t until;
    char name[64];
} names[NAME_CACHE];

static void user_name(uint32_t uid, char *out, size_t n) {
    struct passwd pw, *res = NULL;
    char buf[1024];
    int64_t now = su_now();
    size_t slot = uid % NAME_CACHE;

    if (names[slot].until > now && names[slot].uid == uid) {
        snprintf(out, n, "%s", names[slot].name);
        return;
    }
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
        snprintf(out, n, "%s", pw.pw_name);
    else
        snprintf(out, n, "%u", uid);
    names[slot].uid = uid;
    names[slot].until = now + NAME_TTL_S;
    snprintf(names[slot].name, sizeof(names[slot].name), "%s", out);
}

int d_peer_read(int fd, d_peer *p, su_error *e) {
    struct ucred cred;
    socklen_t len = sizeof(cred);

    memset(p, 0, sizeof(*p));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof(cred))
        return su_err(e, SU_EIO, "SO_PEERCRED: %s", strerror(errno));
    p->uid = (uint32_t)cred.uid;
    p->gid = (uint32_t)cred.gid;
    p->pid = (uint32_t)cred.pid;
    /* The supplementary groups and the program name are read now, while the
     * connecting process is there; SO_PEERCRED itself is fixed at connect. */
    read_groups(p);
    read_comm(p);
    user_name(p->uid, p->user, sizeof(p->user));
    return SU_OK;
}

/* ---- connections -------------------------------------------------------------------- */

typedef struct conn {
    int fd;
    d_peer peer;
    int hello_done;
    int busy;      /* with a worker: not polled */
    int close_now; /* the worker decided the connection ends */
    unsigned char hdr[SW_FRAME_HDR];
    size_t hdr_got;
    size_t want; /* payload length once the header is in */
    su_buf payload;
    int64_t last_ms;  /* last complete request (or accept) */
    int64_t frame_ms; /* first byte of the frame being read; 0 = none */
    struct conn *next_work;
} conn;

typedef struct loop {
    d_server *srv;
    conn **conns;
    size_t nconns;
    /* work queue (loop -> workers) and returns (workers -> loop) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    conn *work_head, *work_tail;
    conn **returned;
    size_t nreturned;
    int stopping;
    int wake[2]; /* workers write a byte when they return a connection */
} loop;

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_free(loop *l, conn *c, const char *why) {
    if (why != NULL)
        d_log("disconnected: uid=%u (%s) pid=%u program=%s: %s", c->peer.uid, c->peer.user,
              c->peer.pid, c->peer.program, why);
    close(c->fd);
    su_buf_free(&c->payload);
    free(c);
    atomic_fetch_sub(&l->srv->clients, 1);
}

/* Sends resp, all of it, within SEND_TIMEOUT_S (SO_SNDTIMEO on the socket). */
static int send_response(conn *c, const sw_response *resp) {
    su_buf out;
    su_error e = {0};
    int rc;

    su_buf_init(&out, 0);
    rc = sw_encode_response(resp, &out, &e);
    if (rc == SU_OK)
        rc = sw_write_frame(c->fd, out.data, out.len, &e);
    su_buf_free(&out);
    return rc;
}

static void serve_one(loop *l, conn *c) {
    sw_request req;
    sw_response resp;
    su_error e = {0};

    if (sw_decode_request(c->payload.data, c->payload.len, &req, &e) != SU_OK) {
        c->close_now = 1;
        d_log("protocol error from uid=%u pid=%u program=%s: %s", c->peer.uid, c->peer.pid,
              c->peer.program, e.msg);
        return;
    }
    int next = d_handle(l->srv, &c->peer, &c->hello_done, &req, &resp);
    sw_request_clear(&req);
    /* a request that is a protocol error gets no response */
    if (next != D_DROP && send_response(c, &resp) != SU_OK)
        next = D_DROP;
    sw_response_clear(&resp);
    if (next != D_KEEP)
        c->close_now = 1;
}

static void *worker(void *arg) {
    loop *l = arg;

    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (l->work_head == NULL && !l->stopping)
            pthread_cond_wait(&l->cv, &l->mu);
        conn *c = l->work_head;
        if (c == NULL) {
            pthread_mutex_unlock(&l->mu);
            return NULL;
        }
        l->work_head = c->next_work;
        if (l->work_head == NULL)
            l->work_tail = NULL;
        pthread_mutex_unlock(&l->mu);

        serve_one(l, c);
        c->payload.len = 0;
        su_buf_free(&c->payload); /* a big EdDSA message is not kept for an idle client */

        pthread_mutex_lock(&l->mu);
        l->returned[l->nreturned++] = c;
        pthread_mutex_unlock(&l->mu);
        ssize_t w;
        do
            w = write(l->wake[1], "r", 1);
        while (w < 0 && errno == EINTR);
    }
}

static void queue_work(loop *l, conn *c) {
    c->busy = 1;
    c->next_work = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->work_tail != NULL)
        l->work_tail->next_work = c;
    else
        l->work_head = c;
    l->work_tail = c;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void drop(loop *l, size_t i, const char *why) {
    conn *c = l->conns[i];
    l->conns[i] = l->conns[--l->nconns];
    conn_free(l, c, why);
}

/* What read_some found on a connection. */
typedef enum {
    READ_ENDED = -1, /* the connection ends (why set) */
    READ_MORE = 0,   /* the frame needs more bytes */
    READ_FRAME = 1,  /* a frame is complete in c->payload */
} read_state;

/* Reads what the socket has for the frame in progress. */
static read_state read_some(loop *l, conn *c, const char **why) {
    for (;;) {
        ssize_t r;
        if (c->hdr_got < SW_FRAME_HDR) {
            r = recv(c->fd, c->hdr + c->hdr_got, SW_FRAME_HDR - c->hdr_got, MSG_DONTWAIT);
        } else {
            size_t room = c->want - c->payload.len;
            if (room > READ_CHUNK)
                room = READ_CHUNK;
            /* grow with what arrives, not with what the header announced */
            if (!su_buf_reserve(&c->payload, room)) {
                *why = "out of memory";
                return READ_ENDED;
            }
            r = recv(c->fd, c->payload.data + c->payload.len, room, MSG_DONTWAIT);
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return READ_MORE;
        if (r < 0) {
            *why = strerror(errno);
            return READ_ENDED;
        }
        if (r == 0) {
            *why = c->hdr_got == 0 && c->frame_ms == 0 ? "closed by the client"
                                                       : "closed in the middle of a frame";
            return READ_ENDED;
        }
        if (c->frame_ms == 0)
            c->frame_ms = mono_ms();
        if (c->hdr_got < SW_FRAME_HDR) {
            c->hdr_got += (size_t)r;
            if (c->hdr_got == SW_FRAME_HDR) {
                su_error e = {0};
                if (sw_frame_length(c->hdr, &c->want, &e) != SU_OK) {
                    static char msg[600]; /* the loop thread's only */
                    snprintf(msg, sizeof(msg), "protocol error: %s", e.msg);
                    *why = msg;
                    return READ_ENDED;
                }
                c->payload.len = 0;
            }
            continue;
        }
        c->payload.len += (size_t)r;
        if (c->payload.len == c->want) {
            c->hdr_got = 0;
            c->frame_ms = 0;
            c->last_ms = mono_ms();
            return READ_FRAME;
        }
    }
}

static void accept_one(loop *l, int lfd) {
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    su_error e = {0};
    conn *c;

    if (fd < 0)
        return;
    if (l->nconns >= l->srv->cfg.max_clients) {
        close(fd);
        d_log("connection refused: %u clients already (--max-clients)", l->srv->cfg.max_clients);
        return;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        close(fd);
        return;
    }
    c->fd = fd;
    /* Not the secure heap: it is small, and an EdDSA message may be 64 MiB. A key PIN
     * in a request is cleansed with the buffer (su_buf_free) and kept, decoded, in
     * the secure heap only. */
    su_buf_init(&c->payload, 0);
    if (d_peer_read(fd, &c->peer, &e) != SU_OK) {
        d_log("connection refused: %s", e.msg);
        close(fd);
        free(c);
        return;
    }
    struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    c->last_ms = mono_ms();
    atomic_fetch_add(&l->srv->clients, 1);
    l->conns[l->nconns++] = c;
    d_log("connected: uid=%u (%s) gid=%u pid=%u program=%s", c->peer.uid, c->peer.user, c->peer.gid,
          c->peer.pid, c->peer.program);
}

/* Takes back the connections the workers are done with. */
static void take_returns(loop *l) {
    char drain[64];
    while (read(l->wake[0], drain, sizeof(drain)) > 0)
        ;
    pthread_mutex_lock(&l->mu);
    size_t n = l->nreturned;
    conn *back[n > 0 ? n : 1];
    memcpy(back, l->returned, n * sizeof(conn *));
    l->nreturned = 0;
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < n; i++) {
        conn *c = back[i];
        c->busy = 0;
        if (c->close_now)
            for (size_t j = 0; j < l->nconns; j++)
                if (l->conns[j] == c) {
                    drop(l, j, "closed after a protocol error");
                    break;
                }
    }
}

static size_t busy_count(const loop *l) {
    size_t n = 0;
    for (size_t i = 0; i < l->nconns; i++)
        n += l->conns[i]->busy;
    return n;
}

int d_serve(d_server *srv, int lfd) {
    const d_config *cfg = &srv->cfg;
    loop l = {.srv = srv};
    pthread_t *threads = NULL;
    struct pollfd *pfd = NULL;
    size_t *map = NULL;
    size_t nthreads = 0;
    sigset_t sigs;
    int sfd = -1, rc = SU_EIO;

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_mutex_init(&l.mu, NULL);
    pthread_cond_init(&l.cv, NULL);
    l.wake[0] = l.wake[1] = -1;
    l.conns = calloc(cfg->max_clients + 1, sizeof(*l.conns));
    l.returned = calloc(cfg->max_clients + 1, sizeof(*l.returned));
    pfd = calloc(cfg->max_clients + 3, sizeof(*pfd));
    map = calloc(cfg->max_clients + 1, sizeof(*map));
    threads = calloc(cfg->workers, sizeof(*threads));
    if (l.conns == NULL || l.returned == NULL || pfd == NULL || map == NULL || threads == NULL ||
        pipe2(l.wake, O_CLOEXEC | O_NONBLOCK) != 0 ||
        (sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        d_log("cannot start the event loop: %s", strerror(errno));
        goto out;
    }
    for (; nthreads < cfg->workers; nthreads++)
        if (pthread_create(&threads[nthreads], NULL, worker, &l) != 0) {
            d_log("cannot start worker threads: %s", strerror(errno));
            goto out;
        }

    int listening = 1;
    for (;;) {
        size_t n = 0;
        int64_t now = mono_ms(), next = now + 60000;

        /* stopping: only the requests already with a worker are finished */
        if (!listening && busy_count(&l) == 0)
            break;
        pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = l.wake[0], .events = POLLIN};
        if (listening)
            pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        size_t first = n;
        for (size_t i = 0; listening && i < l.nconns; i++) {
            conn *c = l.conns[i];
            if (c->busy)
                continue;
            int64_t deadline =
                c->frame_ms != 0 ? c->frame_ms + cfg->frame_ms : c->last_ms + cfg->idle_ms;
            if (deadline < next)
                next = deadline;
            map[n - first] = i;
            pfd[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN};
        }
        int wait = next > now ? (int)(next - now) : 0;
        int pr = poll(pfd, n, listening ? wait : 100);
        if (pr < 0 && errno != EINTR) {
            d_log("poll: %s", strerror(errno));
            goto out;
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == sizeof(si))
                if (listening) {
                    d_log("signal %u: no new connections, finishing requests in progress",
                          si.ssi_signo);
                    listening = 0;
                    close(lfd);
                    unlink(cfg->socket);
                }
        }
        /* connections, walked backwards so that dropping one moves only checked ones;
         * accepting and taking back served ones come after: they change the list */
        now = mono_ms();
        for (size_t k = n; k-- > first;) {
            size_t i = map[k - first];
            conn *c = l.conns[i];
            const char *why = NULL;
            if (c->busy)
                continue;
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                read_state got = read_some(&l, c, &why);
                if (got == READ_FRAME)
                    queue_work(&l, c);
                else if (got == READ_ENDED)
                    drop(&l, i, why);
                continue;
            }
            if (c->frame_ms != 0 && now >= c->frame_ms + cfg->frame_ms)
                drop(&l, i, "frame not completed in time");
            else if (c->frame_ms == 0 && now >= c->last_ms + cfg->idle_ms)
                drop(&l, i, "idle");
        }
        if (listening && (pfd[2].revents & POLLIN))
            accept_one(&l, lfd);
        if (pfd[1].revents & POLLIN)
            take_returns(&l);
    }
    rc = SU_OK;

out:
    pthread_mutex_lock(&l.mu);
    l.stopping = 1;
    pthread_cond_broadcast(&l.cv);
    pthread_mutex_unlock(&l.mu);
    for (size_t i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    take_returns(&l);
    while (l.nconns > 0)
        drop(&l, l.nconns - 1, NULL);
    if (sfd >= 0)
        close(sfd);
    if (l.wake[0] >= 0) {
        close(l.wake[0]);
        close(l.wake[1]);
    }
    free(l.conns);
    free(l.returned);
    free(pfd);
    free(map);
    free(threads);
    pthread_mutex_destroy(&l.mu);
    pthread_cond_destroy(&l.cv);
    return rc;
}
