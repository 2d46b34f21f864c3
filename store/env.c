/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The LMDB environment under a keystore handle.
 *
 * LMDB forbids opening one environment twice in a process (closing either copy
 * drops the other's locks), so environments are shared through a small
 * refcounted registry keyed by the directory's device and inode. This is the
 * store's only process-wide state; the API stays handle-based.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct st_env {
    dev_t dev;
    ino_t ino;
    MDB_env *env;
    MDB_dbi dbi[ST_DB_COUNT];
    int refs;
    int lockfd; /* flock: shared while open, exclusive for compaction */
    pid_t pid;  /* the process that opened env */
    /* syslog lines of the write transaction in progress; LMDB's writer lock is
     * what serializes access, since one environment has one writer at a time */
    su_buf syslog;
    st_env *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static st_env *registry;

static const char *const db_names[ST_DB_COUNT] = {
    "meta", "keys", "labels", "usage", "audit", "certs", "officers", "activations",
};

int st_mdb_err(ss_store *s, int rc, const char *what, ss_error *e) {
    const char *path = s ? s->path : "?";
    switch (rc) {
    case MDB_MAP_FULL:
        return su_err(e, SU_EIO, "keystore %s is full (map size reached) while %s", path, what);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_BAD_TXN:
        return su_err(e, SU_EINTEGRITY, "keystore %s is corrupt (%s) while %s", path,
                      mdb_strerror(rc), what);
    case EACCES:
    case EROFS:
    case EPERM:
        return su_err(e, SU_EIO, "keystore %s is read-only (%s) while %s", path, strerror(rc),
                      what);
    case ENOSPC:
    case EDQUOT:
        return su_err(e, SU_EIO, "keystore %s: no space left on device while %s", path, what);
    default:
        return su_err(e, SU_EIO, "keystore %s: %s while %s", path, mdb_strerror(rc), what);
    }
}

static size_t map_size(void) {
    /* A knob for fault-injection tests (map full); also lets big stores grow. */
    const char *v = getenv("SEALHSM_MAP_MIB");
    if (v != NULL) {
        char *end;
        unsigned long mib = strtoul(v, &end, 10);
        if (*end == '\0' && mib > 0 && mib <= (1ul << 20))
            return (size_t)mib << 20;
    }
    return (size_t)4096 << 20;
}

static int open_dbis(ss_store *s, st_env *se, int create, ss_error *e) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(se->env, NULL, create ? 0 : MDB_RDONLY, &txn);
    if (rc != 0)
        return st_mdb_err(s, rc, "opening", e);
    for (int i = 0; i < ST_DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, db_names[i], create ? MDB_CREATE : 0, &se->dbi[i]);
        if (rc == MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return su_err(e, SU_EINTEGRITY,
                          "keystore %s is not a sealhsm keystore or is damaged (no '%s' table)",
                          s->path, db_names[i]);
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            return st_mdb_err(s, rc, "opening tables", e);
        }
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? SU_OK : st_mdb_err(s, rc, "opening tables", e);
}

/* Checks data.mdb before LMDB sees it: LMDB would silently turn an empty file into
 * a new environment, and it follows symbolic links (docs/security.md, "File
 * modes"): a data.mdb linked to another keystore's would get a second lock file. */
static int check_data_file(ss_store *s, int create, ss_error *e) {
    char p[4096];
    snprintf(p, sizeof(p), "%s/data.mdb", s->path);
    struct stat st;
    if (lstat(p, &st) != 0) {
        if (errno == ENOENT && create)
            return SU_OK;
        if (errno == ENOENT)
            return su_err(e, SU_ENOTFOUND, "keystore %s is not initialized (no data.mdb)", s->path);
        return su_err(e, SU_EIO, "keystore %s: %s", p, strerror(errno));
    }
    if (create)
        return su_err(e, SU_EUSAGE, "keystore %s already exists", s->path);
    int rc = su_check_private_stat(p, &st, e);
    if (rc != SU_OK)
        return rc;
    if (st.st_size < 8192)
        return su_err(e, SU_EINTEGRITY, "keystore %s is corrupt (data.mdb is %lld bytes)", s->path,
                      (long long)st.st_size);
    return SU_OK;
}

/* LMDB opens lock.mdb and data.mdb itself, following symlinks: both are checked
 * with lstat before it does, and after it did the file it maps must still be the
 * one checked (same device and inode), so a link swapped in between is refused. */
static int check_lmdb_files(ss_store *s, MDB_env *env, ss_error *e) {
    char p[4096];
    struct stat st, fst;
    snprintf(p, sizeof(p), "%s/lock.mdb", s->path);
    int rc = su_check_private_file(p, e);
    if (rc == SU_ENOTFOUND && env == NULL)
        rc = SU_OK; /* LMDB creates it, mode 0600 */
    if (rc != SU_OK || env == NULL)
        return rc;
    snprintf(p, sizeof(p), "%s/data.mdb", s->path);
    mdb_filehandle_t fd;
    if (lstat(p, &st) != 0 || mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &fst) != 0)
        return su_err(e, SU_EIO, "keystore %s: cannot check %s", s->path, p);
    if ((rc = su_check_private_stat(p, &st, e)) != SU_OK)
        return rc;
    if (st.st_dev != fst.st_dev || st.st_ino != fst.st_ino)
        return su_err(e, SU_EIO, "keystore file %s changed while it was opened: refused", p);
    return SU_OK;
}

/* LMDB maps the file and trusts its meta page: a page past the end of a truncated
 * file would fault (SIGBUS) when touched. Without MDB_WRITEMAP every page up to
 * the last one in use has been written, so a healthy file is never shorter. */
static int check_length(ss_store *s, MDB_env *env, ss_error *e) {
    MDB_envinfo info;
    MDB_stat st;
    struct stat fst;
    char p[4096];
    snprintf(p, sizeof(p), "%s/data.mdb", s->path);
    if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0 || stat(p, &fst) != 0)
        return su_err(e, SU_EIO, "keystore %s: cannot check data.mdb", s->path);
    unsigned long long need = ((unsigned long long)info.me_last_pgno + 1) * st.ms_psize;
    if ((unsigned long long)fst.st_size < need)
        return su_err(e, SU_EINTEGRITY,
                      "keystore %s is corrupt (data.mdb is %lld bytes, its pages need %llu)",
                      s->path, (long long)fst.st_size, need);
    return SU_OK;
}

static int env_start(ss_store *s, st_env *se, int create, ss_error *e) {
    int rc = mdb_env_create(&se->env);
    if (rc != 0)
        return st_mdb_err(s, rc, "opening", e);
    mdb_env_set_maxdbs(se->env, ST_DB_COUNT + 8);
    mdb_env_set_mapsize(se->env, map_size());
    if ((rc = check_lmdb_files(s, NULL, e)) != SU_OK) {
        mdb_env_close(se->env);
        se->env = NULL;
        return rc;
    }
    rc = mdb_env_open(se->env, s->path, MDB_NOTLS, 0600);
    if (rc != 0) {
        mdb_env_close(se->env);
        se->env = NULL;
        return st_mdb_err(s, rc, "opening", e);
    }
    if ((rc = check_lmdb_files(s, se->env, e)) != SU_OK ||
        (rc = check_length(s, se->env, e)) != SU_OK) {
        mdb_env_close(se->env);
        se->env = NULL;
        return rc;
    }
    rc = open_dbis(s, se, create, e);
    if (rc != SU_OK) {
        mdb_env_close(se->env);
        se->env = NULL;
    }
    return rc;
}

int st_env_open(ss_store *s, int create, ss_error *e) {
    int rc = su_check_private_dir(s->path, e);
    if (rc != SU_OK)
        return rc;
    struct stat st;
    if (stat(s->path, &st) != 0)
        return su_err(e, SU_EIO, "keystore %s: %s", s->path, strerror(errno));

    pthread_mutex_lock(&registry_lock);
    st_env *se;
    for (se = registry; se != NULL; se = se->next)
        if (se->dev == st.st_dev && se->ino == st.st_ino)
            break;
    if (se != NULL) {
        se->refs++;
        rc = SU_OK;
    } else {
        rc = check_data_file(s, create, e);
        if (rc == SU_OK && (se = calloc(1, sizeof(*se))) == NULL)
            rc = su_err(e, SU_EIO, "out of memory");
        if (rc == SU_OK) {
            se->dev = st.st_dev;
            se->ino = st.st_ino;
            se->refs = 1;
            se->pid = getpid();
            char lp[4096];
            snprintf(lp, sizeof(lp), "%s/sealhsm.lock", s->path);
            se->lockfd = su_open_private(lp, O_RDWR | O_CREAT, e);
            if (se->lockfd < 0)
                rc = -se->lockfd;
            else if (flock(se->lockfd, LOCK_SH) != 0)
                rc = su_err(e, SU_EIO, "keystore %s: cannot lock %s: %s", s->path, lp,
                            strerror(errno));
            if (rc == SU_OK)
                rc = env_start(s, se, create, e);
            if (rc != SU_OK) {
                if (se->lockfd >= 0)
                    close(se->lockfd);
                free(se);
                se = NULL;
            } else {
                se->next = registry;
                registry = se;
            }
        }
    }
    if (se != NULL) {
        s->shared = se;
        s->env = se->env;
        memcpy(s->dbi, se->dbi, sizeof(s->dbi));
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

void st_env_close(ss_store *s) {
    st_env *se = s->shared;
    if (se == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--se->refs == 0) {
        for (st_env **pp = &registry; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == se) {
                *pp = se->next;
                break;
            }
        }
        if (se->env != NULL)
            mdb_env_close(se->env);
        su_buf_free(&se->syslog);
        close(se->lockfd);
        free(se);
    }
    pthread_mutex_unlock(&registry_lock);
    s->shared = NULL;
    s->env = NULL;
}

int st_env_exclusive(ss_store *s, ss_error *e) {
    st_env *se = s->shared;
    pthread_mutex_lock(&registry_lock);
    int refs = se->refs;
    pthread_mutex_unlock(&registry_lock);
    if (refs != 1 || flock(se->lockfd, LOCK_EX | LOCK_NB) != 0)
        return su_err(e, SU_EIO,
                      "keystore %s is in use by another process: stop the programs using it "
                      "and retry",
                      s->path);
    return SU_OK;
}

int st_env_reopen(ss_store *s, ss_error *e) {
    st_env *se = s->shared;
    mdb_env_close(se->env);
    se->env = NULL;
    s->env = NULL;
    int rc = env_start(s, se, 0, e);
    struct stat st;
    if (rc == SU_OK && stat(s->path, &st) == 0) {
        se->dev = st.st_dev;
        se->ino = st.st_ino;
    }
    flock(se->lockfd, LOCK_SH);
    if (rc == SU_OK) {
        s->env = se->env;
        memcpy(s->dbi, se->dbi, sizeof(s->dbi));
    }
    return rc;
}

/*
 * LMDB environments are not meant to be used across fork(): the child's reader
 * slots would carry the parent's pid, and if the parent died while the child
 * read, its slots could be reclaimed under it. A forked child (nginx workers sign
 * through a keystore their master opened) therefore opens an environment of its
 * own. The parent's is abandoned, not closed: closing it here would clear the
 * parent's reader slots in the shared lock file. A child that can no longer open
 * the files (it dropped privileges, as nginx workers do) keeps the inherited one:
 * that works while the parent lives, which is how such servers run.
 */
static int after_fork(ss_store *s, ss_error *e) {
    pthread_mutex_lock(&registry_lock);
    st_env *se = s->shared;
    if (se->pid != getpid()) {
        MDB_env *inherited = se->env;
        MDB_dbi dbi[ST_DB_COUNT];
        memcpy(dbi, se->dbi, sizeof(dbi));
        se->syslog.len = 0;
        se->pid = getpid();
        if (env_start(s, se, 0, e) != SU_OK) {
            se->env = inherited;
            memcpy(se->dbi, dbi, sizeof(dbi));
            su_error_clear(e);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return SU_OK;
}

int st_txn(ss_store *s, int write, MDB_txn **txn, ss_error *e) {
    int rc;
    if (s->shared->pid != getpid())
        after_fork(s, e);
    if (s->env != s->shared->env) {
        s->env = s->shared->env;
        memcpy(s->dbi, s->shared->dbi, sizeof(s->dbi));
    }
    rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn);
    if (rc == 0 && write) {
        s->shared->syslog.len = 0; /* lines of an aborted transaction never happened */
        s->global_dirty = s->clock_rebase = s->fresh_moved =
            0; /* nor its changes (fresh_global.c) */
    }
    return rc == 0 ? SU_OK : st_mdb_err(s, rc, write ? "starting a write" : "reading", e);
}

void st_syslog_add(ss_store *s, int denied, const char *line) {
    su_buf *b = &s->shared->syslog;
    su_buf_u8(b, (uint8_t)denied);
    su_buf_put(b, line, strlen(line) + 1);
}

/* RFC 3164 datagrams to the local syslog socket; no openlog(), whose state belongs
 * to the application hosting the provider. */
static void syslog_send(const unsigned char *lines, size_t n) {
    const char *path = getenv("SEALHSM_SYSLOG_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path && *path ? path : "/dev/log");
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32], msg[2048];
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    for (size_t off = 0; off + 1 < n;) {
        int denied = lines[off];
        const char *line = (const char *)lines + off + 1;
        /* facility authpriv (10); notice for ok, warning for refusals */
        int len = snprintf(msg, sizeof(msg), "<%d>%s sealhsm[%ld]: %s", 10 * 8 + (denied ? 4 : 5),
                           stamp, (long)getpid(), line);
        if (len > 0)
            sendto(fd, msg, (size_t)len < sizeof(msg) ? (size_t)len : sizeof(msg) - 1, 0,
                   (struct sockaddr *)&sa, sizeof(sa));
        off += 2 + strlen(line);
    }
    close(fd);
}

int st_cursor(ss_store *s, MDB_txn *txn, int db, MDB_cursor **cur, const char *what, ss_error *e) {
    int rc = mdb_cursor_open(txn, s->dbi[db], cur);
    return rc == 0 ? SU_OK : st_mdb_err(s, rc, what, e);
}

int st_cursor_end(ss_store *s, MDB_cursor *cur, int rc, int mrc, const char *what, ss_error *e) {
    mdb_cursor_close(cur);
    if (rc == SU_OK && mrc != MDB_NOTFOUND)
        rc = st_mdb_err(s, mrc, what, e);
    return rc;
}

int st_read_cursor(ss_store *s, int db, MDB_txn **txn, MDB_cursor **cur, const char *what,
                   ss_error *e) {
    int rc = st_txn(s, 0, txn, e);
    if (rc == SU_OK && (rc = st_cursor(s, *txn, db, cur, what, e)) != SU_OK)
        mdb_txn_abort(*txn);
    return rc;
}

void st_read_end(MDB_txn *txn, MDB_cursor *cur) {
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
}

int st_commit(ss_store *s, MDB_txn *txn, ss_error *e) {
    su_buf lines = s->shared->syslog;
    su_buf_init(&s->shared->syslog, 0);
    int rc = mdb_txn_commit(txn);
    if (rc == 0 && lines.len > 0)
        syslog_send(lines.data, lines.len);
    su_buf_free(&lines);
    return rc == 0 ? SU_OK : st_mdb_err(s, rc, "committing", e);
}

int st_get(ss_store *s, MDB_txn *txn, int db, const void *k, size_t klen, MDB_val *v, ss_error *e) {
    MDB_val key = {klen, (void *)k};
    int rc = mdb_get(txn, s->dbi[db], &key, v);
    if (rc == MDB_NOTFOUND)
        return SU_ENOTFOUND;
    return rc == 0 ? SU_OK : st_mdb_err(s, rc, "reading", e);
}

int st_put(ss_store *s, MDB_txn *txn, int db, const void *k, size_t klen, const void *v,
           size_t vlen, ss_error *e) {
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    int rc = mdb_put(txn, s->dbi[db], &key, &val, 0);
    return rc == 0 ? SU_OK : st_mdb_err(s, rc, "writing", e);
}

int st_del(ss_store *s, MDB_txn *txn, int db, const void *k, size_t klen, ss_error *e) {
    MDB_val key = {klen, (void *)k};
    int rc = mdb_del(txn, s->dbi[db], &key, NULL);
    if (rc == MDB_NOTFOUND)
        return SU_OK;
    return rc == 0 ? SU_OK : st_mdb_err(s, rc, "deleting", e);
}
