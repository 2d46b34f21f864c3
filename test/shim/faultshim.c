/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LD_PRELOAD fault injector for the hardening tests (test/py/test_hardening_*.py).
 *
 * It wraps the calls through which LMDB and the store reach the disk and, for the
 * calls whose file matches, makes the Nth and later ones fail or kills the process
 * right there. Configured by environment variables:
 *
 *   SHIM_MATCH   substring of the file's path that selects calls (default "data.mdb")
 *   SHIM_OPS     comma list of: write pwrite writev fsync fdatasync open (open = opening
 *                a matching path for writing) rename (renaming to a matching path);
 *                default "write,pwrite,writev,fsync,fdatasync"
 *   SHIM_AFTER   let this many matching calls through first (default 0)
 *   SHIM_ACTION  fail: return -1 with SHIM_ERRNO (default); kill: SIGKILL the process
 *                at the call, before it runs; short: write half the bytes (writes only)
 *   SHIM_ERRNO   ENOSPC (default) | EIO | EROFS | EDQUOT | EACCES
 *   SHIM_ARM     "rename" or "fsync": count nothing until the process has renamed a
 *                file or fsync'ed one (any path; data.mdb is synced with fdatasync), so
 *                the fault lands after that point (e.g. after a backup file is complete)
 *   SHIM_COUNT   a file to which the number of matching calls is appended at exit
 *                (to plan a sweep over every fault point)
 *
 * Without SHIM_OPS matching anything, the shim only forwards calls.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum {
    OP_WRITE = 1,
    OP_PWRITE = 2,
    OP_WRITEV = 4,
    OP_FSYNC = 8,
    OP_FDATASYNC = 16,
    OP_OPEN = 32,
    OP_RENAME = 64
};
enum { ACT_FAIL, ACT_KILL, ACT_SHORT };

static const char *match = "data.mdb";
static unsigned ops = OP_WRITE | OP_PWRITE | OP_WRITEV | OP_FSYNC | OP_FDATASYNC;
static long after;
static int action = ACT_FAIL, err = ENOSPC, armed = 1;
static unsigned arm_on;
static const char *count_file;
static long calls;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void report(void) {
    if (count_file == NULL)
        return;
    FILE *f = fopen(count_file, "a");
    if (f != NULL) {
        fprintf(f, "%ld\n", calls);
        fclose(f);
    }
}

__attribute__((constructor)) static void shim_init(void) {
    const char *v;
    if ((v = getenv("SHIM_MATCH")) != NULL && *v)
        match = v;
    if ((v = getenv("SHIM_OPS")) != NULL) {
        ops = 0;
        static const struct {
            const char *name;
            unsigned bit;
        } names[] = {{"write", OP_WRITE},  {"pwrite", OP_PWRITE},       {"writev", OP_WRITEV},
                     {"fsync", OP_FSYNC},  {"fdatasync", OP_FDATASYNC}, {"open", OP_OPEN},
                     {"rename", OP_RENAME}};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            const char *p = strstr(v, names[i].name);
            size_t n = strlen(names[i].name);
            /* whole words only: "write" must not match inside "pwrite" */
            while (p != NULL && ((p > v && p[-1] != ',') || (p[n] != ',' && p[n] != '\0')))
                p = strstr(p + 1, names[i].name);
            if (p != NULL)
                ops |= names[i].bit;
        }
    }
    if ((v = getenv("SHIM_AFTER")) != NULL)
        after = strtol(v, NULL, 10);
    if ((v = getenv("SHIM_ACTION")) != NULL)
        action = strcmp(v, "kill") == 0 ? ACT_KILL : strcmp(v, "short") == 0 ? ACT_SHORT : ACT_FAIL;
    if ((v = getenv("SHIM_ERRNO")) != NULL)
        err = strcmp(v, "EIO") == 0      ? EIO
              : strcmp(v, "EROFS") == 0  ? EROFS
              : strcmp(v, "EDQUOT") == 0 ? EDQUOT
              : strcmp(v, "EACCES") == 0 ? EACCES
                                         : ENOSPC;
    if ((v = getenv("SHIM_ARM")) != NULL && (strcmp(v, "rename") == 0 || strcmp(v, "fsync") == 0)) {
        arm_on = strcmp(v, "rename") == 0 ? OP_RENAME : OP_FSYNC;
        armed = 0;
    }
    count_file = getenv("SHIM_COUNT");
    if (count_file != NULL && *count_file == '\0')
        count_file = NULL;
    atexit(report);
}

static int fd_matches(int fd) {
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    return strstr(path, match) != NULL;
}

/* 0: let the call through; 1: inject (errno set, or the process is gone). */
static int inject(unsigned op, int matches) {
    if (!(ops & op) || !matches)
        return 0;
    pthread_mutex_lock(&mu);
    int fire = armed && calls++ >= after;
    pthread_mutex_unlock(&mu);
    if (!fire)
        return 0;
    if (action == ACT_KILL) {
        report();
        raise(SIGKILL);
    }
    errno = err;
    return 1;
}

#define REAL(ret, name, ...)                                                                       \
    static ret (*real_##name)(__VA_ARGS__);                                                        \
    if (real_##name == NULL)                                                                       \
        real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);

ssize_t write(int fd, const void *buf, size_t n) {
    REAL(ssize_t, write, int, const void *, size_t);
    if (inject(OP_WRITE, fd_matches(fd))) {
        if (action == ACT_SHORT && n > 1)
            return real_write(fd, buf, n / 2);
        return -1;
    }
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
    if (inject(OP_PWRITE, fd_matches(fd))) {
        if (action == ACT_SHORT && n > 1)
            return real_pwrite(fd, buf, n / 2, off);
        return -1;
    }
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
    REAL(ssize_t, pwrite64, int, const void *, size_t, off_t);
    if (inject(OP_PWRITE, fd_matches(fd))) {
        if (action == ACT_SHORT && n > 1)
            return real_pwrite64(fd, buf, n / 2, off);
        return -1;
    }
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    REAL(ssize_t, writev, int, const struct iovec *, int);
    if (inject(OP_WRITEV, fd_matches(fd))) {
        if (action == ACT_SHORT && cnt > 1)
            return real_writev(fd, iov, cnt / 2);
        return -1;
    }
    return real_writev(fd, iov, cnt);
}

static void arm(unsigned op) {
    if (arm_on == op) {
        pthread_mutex_lock(&mu);
        armed = 1;
        pthread_mutex_unlock(&mu);
    }
}

int fsync(int fd) {
    REAL(int, fsync, int);
    if (inject(OP_FSYNC, fd_matches(fd)))
        return -1;
    int rc = real_fsync(fd);
    if (rc == 0)
        arm(OP_FSYNC);
    return rc;
}

int fdatasync(int fd) {
    REAL(int, fdatasync, int);
    return inject(OP_FDATASYNC, fd_matches(fd)) ? -1 : real_fdatasync(fd);
}

static int opens_for_writing(const char *path, int flags) {
    return (flags & O_ACCMODE) != O_RDONLY && path != NULL && strstr(path, match) != NULL;
}

/* open and open64 alike: fail opens for writing of the matched path, else pass on. */
static int open_with(int (*real)(const char *, int, ...), const char *path, int flags, va_list ap) {
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
    if (inject(OP_OPEN, opens_for_writing(path, flags)))
        return -1;
    return real(path, flags, mode);
}

int open(const char *path, int flags, ...) {
    REAL(int, open, const char *, int, ...);
    va_list ap;
    va_start(ap, flags);
    int rc = open_with(real_open, path, flags, ap);
    va_end(ap);
    return rc;
}

int open64(const char *path, int flags, ...) {
    REAL(int, open64, const char *, int, ...);
    va_list ap;
    va_start(ap, flags);
    int rc = open_with(real_open64, path, flags, ap);
    va_end(ap);
    return rc;
}

int rename(const char *from, const char *to) {
    REAL(int, rename, const char *, const char *);
    if (inject(OP_RENAME, to != NULL && strstr(to, match) != NULL))
        return -1;
    int rc = real_rename(from, to);
    if (rc == 0)
        arm(OP_RENAME);
    return rc;
}
