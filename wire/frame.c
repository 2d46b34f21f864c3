/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frames on a stream socket: a 4-byte big-endian payload length, then the
 * payload (docs/protocol.md). Reads are bounded in size and in time so that a
 * peer that announces too much, or stalls, costs its reader little.
 */
#include "sealwire.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int sw_frame_length(const unsigned char hdr[SW_FRAME_HDR], size_t *len, su_error *e) {
    uint32_t n = su_get_be32(hdr);

    if (n == 0 || n > SW_FRAME_MAX)
        return su_err(e, SU_EUSAGE, "frame of %u bytes (1 to %u allowed)", n, SW_FRAME_MAX);
    *len = n;
    return SU_OK;
}

static int send_all(int fd, const unsigned char *p, size_t n, su_error *e) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return su_err(e, SU_EIO, "send: %s", w < 0 ? strerror(errno) : "closed");
        p += w;
        n -= (size_t)w;
    }
    return SU_OK;
}

int sw_write_frame(int fd, const unsigned char *payload, size_t len, su_error *e) {
    unsigned char hdr[SW_FRAME_HDR];
    int rc;

    if (len == 0 || len > SW_FRAME_MAX)
        return su_err(e, SU_EUSAGE, "frame of %zu bytes (1 to %u allowed)", len, SW_FRAME_MAX);
    su_be32(hdr, (uint32_t)len);
    /* header and a small payload in one segment: one wakeup for the reader */
    if (len <= 4096) {
        unsigned char one[SW_FRAME_HDR + 4096];
        memcpy(one, hdr, SW_FRAME_HDR);
        memcpy(one + SW_FRAME_HDR, payload, len);
        rc = send_all(fd, one, SW_FRAME_HDR + len, e);
        /* a sign request may hold a key PIN */
        OPENSSL_cleanse(one, sizeof(one));
        return rc;
    }
    if ((rc = send_all(fd, hdr, SW_FRAME_HDR, e)) != SU_OK)
        return rc;
    return send_all(fd, payload, len, e);
}

static int64_t now_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is readable, at most until deadline (ms, monotonic; -1 = none). */
static int wait_readable(int fd, int64_t deadline, su_error *e) {
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return su_err(e, SU_EIO, "timed out");
            wait = left > 1000000 ? 1000000 : (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, wait);
        if (pr > 0)
            return SU_OK;
        if (pr < 0 && errno != EINTR)
            return su_err(e, SU_EIO, "poll: %s", strerror(errno));
    }
}

/*
 * Header and payload go into one buffer, read with as few calls as the data
 * allows: a response that arrives whole costs one poll and one recv (docs/bench.md
 * counted the syscalls of a signature). The header is parsed as soon as it is in.
 */
int sw_read_frame(int fd, su_buf *out, int idle_ms, int frame_ms, int *eof, su_error *e) {
    size_t want = SW_FRAME_HDR, flen = 0;
    int64_t deadline = idle_ms >= 0 ? now_ms() + idle_ms : -1;
    int rc;

    if (eof != NULL)
        *eof = 0;
    out->len = 0;
    if (!su_buf_reserve(out, SW_FRAME_HDR + 4096))
        return su_err(e, SU_EIO, "out of memory reading a frame");
    for (;;) {
        if (want == SW_FRAME_HDR && out->len >= SW_FRAME_HDR) {
            if ((rc = sw_frame_length(out->data, &flen, e)) != SU_OK)
                return rc;
            want = SW_FRAME_HDR + flen;
            /* the peer answers one request with one frame: anything after it is wrong */
            if (out->len > want)
                return su_err(e, SU_EUSAGE, "data after the end of a frame");
            if (!su_buf_reserve(out, want - out->len))
                return su_err(e, SU_EIO, "out of memory for a frame of %zu bytes", flen);
        }
        if (want > SW_FRAME_HDR && out->len == want)
            break;
        if ((rc = wait_readable(fd, deadline, e)) != SU_OK)
            return rc;
        size_t room = (want > SW_FRAME_HDR ? want : out->cap) - out->len;
        ssize_t r = recv(fd, out->data + out->len, room, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (r < 0)
            return su_err(e, SU_EIO, "recv: %s", strerror(errno));
        if (r == 0) {
            if (out->len == 0 && eof != NULL)
                *eof = 1;
            return su_err(e, SU_EIO, "connection closed");
        }
        /* the idle wait covers the first byte only; the rest of the frame has frame_ms */
        if (out->len == 0)
            deadline = frame_ms >= 0 ? now_ms() + frame_ms : -1;
        out->len += (size_t)r;
    }
    memmove(out->data, out->data + SW_FRAME_HDR, flen);
    out->len = flen;
    return SU_OK;
}
