/* SPDX-License-Identifier: Apache-2.0 */
/* The client's side of a connection: connect, and one request for one response. */
#include "sealwire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int sw_connect(const char *path, int *fd, su_error *e) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s;

    if (strlen(path) >= sizeof(sa.sun_path))
        return su_err(e, SU_EUSAGE, "socket path is too long");
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return su_err(e, SU_EIO, "%s", strerror(errno));
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;
        close(s);
        return su_err(e, SU_EIO, "%s", strerror(err));
    }
    *fd = s;
    return SU_OK;
}

int sw_call(int fd, const sw_request *q, sw_response *resp, int timeout_ms, su_error *e) {
    su_buf buf;
    int rc;

    memset(resp, 0, sizeof(*resp));
    /* not the secure heap (an EdDSA message may be 64 MiB); su_buf cleanses its
     * storage wherever it moves and when freed, for a key PIN in the request */
    su_buf_init(&buf, 0);
    rc = sw_encode_request(q, &buf, e);
    if (rc == SU_OK)
        rc = sw_write_frame(fd, buf.data, buf.len, e);
    if (rc == SU_OK)
        rc = sw_read_frame(fd, &buf, timeout_ms, timeout_ms, NULL, e);
    if (rc == SU_OK && sw_decode_response(buf.data, buf.len, resp, e) != SU_OK)
        rc = SU_EIO; /* a peer that sends garbage is as good as gone */
    su_buf_free(&buf);
    return rc;
}
