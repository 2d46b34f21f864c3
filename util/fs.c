/* SPDX-License-Identifier: Apache-2.0 */
#include "sealutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The words for the group/other bits of mode that a private file must not have. */
static const char *open_bits(mode_t mode) {
    if (mode & (S_IWGRP | S_IWOTH))
        return "writable";
    if (mode & (S_IRGRP | S_IROTH))
        return "readable";
    return "searchable";
}

int su_check_private_dir(const char *path, su_error *e) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return su_err(e, SU_ENOTFOUND, "keystore %s does not exist (run 'sealhsm init')", path);
        return su_err(e, SU_EIO, "keystore %s: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return su_err(e, SU_EIO, "keystore %s is not a directory", path);
    if (st.st_uid != geteuid())
        return su_err(e, SU_EIO,
                      "keystore %s is owned by uid %u, not by this user (uid %u): refused", path,
                      (unsigned)st.st_uid, (unsigned)geteuid());
    /* Read or search access is enough to copy the keystore for an offline PIN
     * guessing attack (docs/security.md, "File modes"). */
    if (st.st_mode & 077)
        return su_err(e, SU_EIO,
                      "keystore %s is %s by group or others (mode %03o): refused (chmod 700 it)",
                      path, open_bits(st.st_mode), (unsigned)(st.st_mode & 0777));
    return SU_OK;
}

int su_check_private_file(const char *path, su_error *e) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return su_err(e, SU_ENOTFOUND, "%s does not exist", path);
        return su_err(e, SU_EIO, "%s: %s", path, strerror(errno));
    }
    return su_check_private_stat(path, &st, e);
}

int su_check_private_stat(const char *path, const struct stat *st, su_error *e) {
    if (S_ISLNK(st->st_mode))
        return su_err(e, SU_EIO, "keystore file %s is a symbolic link: refused", path);
    if (!S_ISREG(st->st_mode))
        return su_err(e, SU_EIO, "keystore file %s is not a regular file: refused", path);
    if (st->st_uid != geteuid())
        return su_err(e, SU_EIO, "keystore file %s is owned by uid %u, not by this user: refused",
                      path, (unsigned)st->st_uid);
    if (st->st_mode & 077)
        return su_err(e, SU_EIO,
                      "keystore file %s is %s by group or others (mode %03o): refused (chmod 600 "
                      "it)",
                      path, open_bits(st->st_mode), (unsigned)(st->st_mode & 0777));
    return SU_OK;
}

int su_open_private(const char *path, int flags, su_error *e) {
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == ELOOP)
            return -su_err(e, SU_EIO, "keystore file %s is a symbolic link: refused", path);
        return -su_err(e, errno == ENOENT ? SU_ENOTFOUND : SU_EIO, "cannot open %s: %s", path,
                       strerror(errno));
    }
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? su_err(e, SU_EIO, "%s: %s", path, strerror(errno))
                                 : su_check_private_stat(path, &st, e);
    if (rc != SU_OK) {
        close(fd);
        return -rc;
    }
    return fd;
}

int su_read_file(const char *path, size_t max, unsigned char **out, size_t *outlen, su_error *e) {
    *out = NULL;
    *outlen = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return su_err(e, errno == ENOENT ? SU_ENOTFOUND : SU_EIO, "cannot open %s: %s", path,
                      strerror(errno));
    /* read at most max + 1 bytes: one more than allowed tells "too large" apart */
    size_t cap = 0, n = 0;
    unsigned char *buf = NULL;
    int rc = SU_OK;
    for (;;) {
        if (n == cap) {
            if (cap > max)
                break;
            size_t ncap = cap ? cap * 2 : 4096;
            if (ncap > max + 1 || ncap < cap)
                ncap = max + 1;
            unsigned char *nb = realloc(buf, ncap ? ncap : 1);
            if (nb == NULL) {
                rc = su_err(e, SU_EIO, "out of memory reading %s", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                rc = su_err(e, SU_EIO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc == SU_OK && n > max)
        rc = su_err(e, SU_EUSAGE, "%s is larger than %zu bytes", path, max);
    if (rc != SU_OK) {
        free(buf);
        return rc;
    }
    if (buf == NULL && (buf = malloc(1)) == NULL)
        return su_err(e, SU_EIO, "out of memory reading %s", path);
    *out = buf;
    *outlen = n;
    return SU_OK;
}

int su_write_file_atomic(const char *path, const void *data, size_t n, int mode, su_error *e) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return su_err(e, SU_EUSAGE, "path too long: %s", path);
    unlink(tmp); /* left by a crashed process that had our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return su_err(e, SU_EIO, "cannot write %s: %s", path, strerror(errno));
    const unsigned char *p = data;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = errno;
            close(fd);
            unlink(tmp);
            return su_err(e, SU_EIO, "cannot write %s: %s", path, strerror(err));
        }
        p += w;
        left -= (size_t)w;
    }
    int synced = fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && synced) {
        synced = 0;
        err = errno;
    }
    if (!synced) {
        unlink(tmp);
        return su_err(e, SU_EIO, "cannot write %s: %s", path, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        return su_err(e, SU_EIO, "cannot write %s: %s", path, strerror(err));
    }
    /* the rename is durable only once the directory is */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        strcpy(dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return SU_OK;
}
