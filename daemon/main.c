/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealhsmd: the signing daemon (README: "Production: the signing daemon";
 * docs/reference.md). Startup is all-or-nothing: the options, the socket's
 * directory, the keystore and the user PIN are checked and the keystore is
 * unlocked before the socket exists; any failure exits with the tool's codes
 * (1 usage, 3 no PIN, 4 wrong PIN or locked, 6 integrity, 7 I/O) and leaves no
 * socket behind.
 */
#include "sealhsmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SEALHSM_VERSION
#define SEALHSM_VERSION "unknown"
#endif

#define DEFAULT_SOCKET "/run/sealhsm/sealhsm.sock"

static const char usage_text[] =
    "usage: sealhsmd [--keystore DIR] [--socket PATH] [--socket-mode MODE]\n"
    "                [--socket-group GROUP] [--environment dev|test|prod]\n"
    "                [--pin-file FILE | --pin-fd N] [--max-clients N] [--workers N]\n"
    "                [--idle-timeout SECONDS] [--foreground] [--check]\n"
    "Unlocks the keystore once and signs for the clients of a UNIX socket.\n"
    "The user PIN: --pin-file, --pin-fd, $CREDENTIALS_DIRECTORY/pin, $SEALHSM_PIN, else a\n"
    "prompt. The socket: --socket, $SEALHSM_SOCKET, $RUNTIME_DIRECTORY/sealhsm.sock, "
    "else\n" DEFAULT_SOCKET ".\n";

enum {
    OPT_KEYSTORE = 256,
    OPT_SOCKET,
    OPT_SOCKET_MODE,
    OPT_SOCKET_GROUP,
    OPT_ENVIRONMENT,
    OPT_PIN_FILE,
    OPT_PIN_FD,
    OPT_MAX_CLIENTS,
    OPT_WORKERS,
    OPT_IDLE,
    OPT_FOREGROUND,
    OPT_CHECK,
    OPT_HELP,
    OPT_VERSION
};

static const struct option options[] = {{"keystore", required_argument, NULL, OPT_KEYSTORE},
                                        {"socket", required_argument, NULL, OPT_SOCKET},
                                        {"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
                                        {"socket-group", required_argument, NULL, OPT_SOCKET_GROUP},
                                        {"environment", required_argument, NULL, OPT_ENVIRONMENT},
                                        {"pin-file", required_argument, NULL, OPT_PIN_FILE},
                                        {"pin-fd", required_argument, NULL, OPT_PIN_FD},
                                        {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
                                        {"workers", required_argument, NULL, OPT_WORKERS},
                                        {"idle-timeout", required_argument, NULL, OPT_IDLE},
                                        {"foreground", no_argument, NULL, OPT_FOREGROUND},
                                        {"check", no_argument, NULL, OPT_CHECK},
                                        {"help", no_argument, NULL, OPT_HELP},
                                        {"version", no_argument, NULL, OPT_VERSION},
                                        {NULL, 0, NULL, 0}};

typedef struct opts {
    d_config cfg;
    const char *pin_file;
    int pin_fd;
    int foreground, check;
    char socket_buf[PATH_MAX];
} opts;

/* The one-line error of a failed start, as the tool prints it; returns code. */
static int die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int die(int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "sealhsm: %s\n", msg);
    return code;
}

static int number(const char *opt, const char *arg, unsigned long min, unsigned long max, int base,
                  unsigned long *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(arg, &end, base);
    if (*arg == '\0' || *arg == '-' || *end != '\0' || errno != 0 || v < min || v > max)
        return die(SU_EUSAGE, "sealhsmd: invalid value '%.32s' for %s", arg, opt);
    *out = v;
    return SU_OK;
}

static int parse(int argc, char **argv, opts *o) {
    unsigned long v;
    int c, rc;

    memset(o, 0, sizeof(*o));
    o->pin_fd = -1;
    o->cfg.socket_mode = 0660;
    o->cfg.socket_gid = -1;
    o->cfg.environment = "dev";
    o->cfg.max_clients = 256;
    o->cfg.workers = 32;
    o->cfg.idle_ms = 60000;
    o->cfg.frame_ms = 10000;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        rc = SU_OK;
        switch (c) {
        case OPT_KEYSTORE:
            o->cfg.keystore = optarg;
            break;
        case OPT_SOCKET:
            o->cfg.socket = optarg;
            break;
        case OPT_SOCKET_MODE:
            if ((rc = number("--socket-mode", optarg, 0, 0777, 8, &v)) == SU_OK)
                o->cfg.socket_mode = (unsigned)v;
            break;
        case OPT_SOCKET_GROUP: {
            struct group *g = getgrnam(optarg);
            if (g != NULL)
                o->cfg.socket_gid = (int)g->gr_gid;
            else if ((rc = number("--socket-group", optarg, 0, INT_MAX, 10, &v)) == SU_OK)
                o->cfg.socket_gid = (int)v;
            break;
        }
        case OPT_ENVIRONMENT: {
            ss_env env;
            if (ss_env_parse(optarg, &env, NULL) != SU_OK)
                return die(SU_EUSAGE,
                           "sealhsmd: invalid value '%.32s' for --environment (expected "
                           "dev|test|prod)",
                           optarg);
            o->cfg.environment = ss_env_name(env);
            break;
        }
        case OPT_PIN_FILE:
            o->pin_file = optarg;
            break;
        case OPT_PIN_FD:
            if ((rc = number("--pin-fd", optarg, 0, INT_MAX, 10, &v)) == SU_OK)
                o->pin_fd = (int)v;
            break;
        case OPT_MAX_CLIENTS:
            if ((rc = number("--max-clients", optarg, 1, 65536, 10, &v)) == SU_OK)
                o->cfg.max_clients = (unsigned)v;
            break;
        case OPT_WORKERS:
            if ((rc = number("--workers", optarg, 1, 1024, 10, &v)) == SU_OK)
                o->cfg.workers = (unsigned)v;
            break;
        case OPT_IDLE:
            if ((rc = number("--idle-timeout", optarg, 1, 86400, 10, &v)) == SU_OK)
                o->cfg.idle_ms = (int)v * 1000;
            break;
        case OPT_FOREGROUND:
            o->foreground = 1;
            break;
        case OPT_CHECK:
            o->check = 1;
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            exit(0);
        case OPT_VERSION:
            printf("sealhsmd %s\n", SEALHSM_VERSION);
            exit(0);
        default:
            return die(SU_EUSAGE, "sealhsmd: unknown option '%s' (see sealhsmd --help)",
                       argv[optind - 1]);
        }
        if (rc != SU_OK)
            return rc;
    }
    if (optind < argc)
        return die(SU_EUSAGE, "sealhsmd: unexpected argument '%.64s'", argv[optind]);
    if (o->pin_file != NULL && o->pin_fd >= 0)
        return die(SU_EUSAGE, "sealhsmd: --pin-file and --pin-fd exclude each other");
    if (o->cfg.socket == NULL && (o->cfg.socket = getenv("SEALHSM_SOCKET")) != NULL &&
        *o->cfg.socket == '\0')
        o->cfg.socket = NULL;
    if (o->cfg.socket == NULL) {
        const char *rt = getenv("RUNTIME_DIRECTORY");
        /* systemd may list several directories separated by ':': the first */
        if (rt != NULL && *rt != '\0') {
            snprintf(o->socket_buf, sizeof(o->socket_buf), "%.*s/sealhsm.sock",
                     (int)strcspn(rt, ":"), rt);
            o->cfg.socket = o->socket_buf;
        } else {
            o->cfg.socket = DEFAULT_SOCKET;
        }
    }
    if (strlen(o->cfg.socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return die(SU_EUSAGE, "sealhsmd: socket path %s is too long", o->cfg.socket);
    return SU_OK;
}

/* The user PIN from the first source that is there (README: the daemon's PIN). */
static int read_pin(const opts *o, su_pin **out, su_error *e) {
    char spec[PATH_MAX + 16];
    const char *cred = getenv("CREDENTIALS_DIRECTORY");
    int rc;

    if (o->pin_file != NULL) {
        snprintf(spec, sizeof(spec), "file:%s", o->pin_file);
        return su_pin_from_source(spec, NULL, out, e);
    }
    if (o->pin_fd >= 0) {
        snprintf(spec, sizeof(spec), "fd:%d", o->pin_fd);
        return su_pin_from_source(spec, NULL, out, e);
    }
    if (cred != NULL && *cred != '\0') {
        snprintf(spec, sizeof(spec), "file:%s/pin", cred);
        if ((rc = su_pin_from_source(spec, NULL, out, e)) != SU_ENOTFOUND)
            return rc;
        su_error_clear(e);
    }
    if ((rc = su_pin_from_source("env:SEALHSM_PIN", NULL, out, e)) != SU_ENOPIN)
        return rc;
    su_error_clear(e);
    rc = su_pin_from_source("prompt", "sealhsm user PIN: ", out, e);
    if (rc == SU_ENOPIN)
        return su_err(e, SU_ENOPIN,
                      "sealhsmd: no user PIN: give --pin-file, --pin-fd, a systemd credential "
                      "'pin', SEALHSM_PIN or a terminal");
    return rc;
}

/* The directory that holds path (for its permission check). */
static void parent_dir(const char *path, char *out, size_t n) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, n, ".");
    else if (slash == path)
        snprintf(out, n, "/");
    else
        snprintf(out, n, "%.*s", (int)(slash - path), path);
}

/* A directory anyone may write to lets anyone replace our socket or keystore files. */
static int check_dir_not_open(const char *what, const char *dir, int missing_code) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return die(errno == ENOENT ? missing_code : SU_EIO, "sealhsmd: %s directory %s: %s", what,
                   dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return die(SU_EIO, "sealhsmd: %s directory %s is not a directory", what, dir);
    if (st.st_mode & S_IWOTH)
        return die(SU_EIO, "sealhsmd: %s directory %s is writable by others", what, dir);
    return SU_OK;
}

/*
 * A socket file left at path: a running daemon answers (refused: exit 7), a dead
 * one's file is removed. Anything that is not a socket is not ours to remove.
 */
static int clear_stale_socket(const char *path) {
    struct stat st;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, rc;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? SU_OK
                               : die(SU_EIO, "sealhsmd: socket %s: %s", path, strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return die(SU_EIO, "sealhsmd: %s exists and is not a socket", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return die(SU_EIO, "sealhsmd: socket: %s", strerror(errno));
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    if (rc == 0)
        return die(SU_EIO, "sealhsmd: socket %s is served by a running daemon", path);
    return SU_OK;
}

static int make_socket(const d_config *cfg, int *out) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    mode_t old;
    int fd, rc;

    if ((rc = clear_stale_socket(cfg->socket)) != SU_OK)
        return rc;
    unlink(cfg->socket);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cfg->socket);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
        return die(SU_EIO, "sealhsmd: socket: %s", strerror(errno));
    /* created owner-only, opened up to the configured mode once its group is set */
    old = umask(0177);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0) {
        rc = die(SU_EIO, "sealhsmd: cannot bind %s: %s", cfg->socket, strerror(errno));
        close(fd);
        return rc;
    }
    if ((cfg->socket_gid >= 0 && chown(cfg->socket, (uid_t)-1, (gid_t)cfg->socket_gid) != 0) ||
        chmod(cfg->socket, cfg->socket_mode) != 0 || listen(fd, 128) != 0) {
        rc = die(SU_EIO, "sealhsmd: cannot set up %s: %s", cfg->socket, strerror(errno));
        close(fd);
        unlink(cfg->socket);
        return rc;
    }
    *out = fd;
    return SU_OK;
}

/* systemd's readiness notification, when started with Type=notify. */
static void notify_ready(void) {
    const char *ns = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (ns == NULL || (*ns != '/' && *ns != '@') || strlen(ns) >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, ns, strlen(ns));
    if (*ns == '@')
        sa.sun_path[0] = '\0';
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return;
    if (sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(ns))) < 0)
        d_log("NOTIFY_SOCKET: %s", strerror(errno));
    close(fd);
}

/* Without --foreground: the parent waits for the child's verdict and exits with it. */
static int background(int *report_fd) {
    int p[2];
    pid_t pid;
    unsigned char code = SU_EIO;

    if (pipe2(p, O_CLOEXEC) != 0 || (pid = fork()) < 0)
        return die(SU_EIO, "sealhsmd: cannot go to the background: %s", strerror(errno));
    if (pid > 0) {
        close(p[1]);
        if (read(p[0], &code, 1) != 1)
            code = SU_EIO;
        _exit(code);
    }
    close(p[0]);
    setsid();
    *report_fd = p[1];
    return SU_OK;
}

static void report(int *fd, int code) {
    unsigned char c = (unsigned char)code;
    if (*fd < 0)
        return;
    if (write(*fd, &c, 1) != 1)
        d_log("cannot report startup to the parent: %s", strerror(errno));
    close(*fd);
    *fd = -1;
}

static int run(opts *o, int *report_fd) {
    d_server srv = {0};
    sigset_t sigs;
    char path[PATH_MAX], sockdir[PATH_MAX];
    su_pin *pin = NULL;
    su_error e = {0};
    int rc, lfd = -1;
    size_t nkeys = 0;
    ss_keyinfo **keys = NULL;

    srv.cfg = o->cfg;
    /* the keystore's algorithms run here: their known-answer tests first (exit 6) */
    if ((rc = ss_selftest(NULL, NULL, NULL, NULL, &e)) != SU_OK)
        return die(rc, "sealhsmd: %s", e.msg);
    parent_dir(o->cfg.socket, sockdir, sizeof(sockdir));
    if ((rc = check_dir_not_open("socket", sockdir, SU_EIO)) != SU_OK)
        return rc;
    if ((rc = ss_resolve_path(o->cfg.keystore, path, sizeof(path), &e)) != SU_OK)
        return die(rc, "%s", e.msg);
    if ((rc = check_dir_not_open("keystore", path, SU_ENOTFOUND)) != SU_OK)
        return rc;
    if ((rc = read_pin(o, &pin, &e)) != SU_OK)
        return die(rc, "%s", e.msg);
    if (!o->foreground && !o->check && (rc = background(report_fd)) != SU_OK) {
        su_pin_free(pin);
        return rc;
    }
    rc = ss_open(path, NULL, NULL, &srv.store, &e);
    if (rc == SU_OK)
        rc = ss_login(srv.store, SS_ROLE_USER, NULL, pin, &e);
    su_pin_free(pin);
    if (rc == SU_OK && o->check)
        rc = ss_key_list(srv.store, &keys, &nkeys, &e);
    if (rc != SU_OK) {
        ss_close(srv.store);
        return die(rc, "%s", e.msg);
    }
    ss_store_id(srv.store, srv.store_id);
    /* named as clients will compare it with their ;keystore= (docs/protocol.md) */
    if (realpath(ss_store_path(srv.store), srv.keystore) == NULL)
        snprintf(srv.keystore, sizeof(srv.keystore), "%s", ss_store_path(srv.store));
    if (o->check) {
        char id[2 * SS_STORE_ID_LEN + 1];
        size_t active = 0;
        for (size_t i = 0; i < nkeys; i++)
            active += keys[i]->state == SS_STATE_ACTIVE;
        ss_keylist_free(keys, nkeys);
        su_hex(id, srv.store_id, sizeof(srv.store_id));
        rc = clear_stale_socket(o->cfg.socket);
        if (rc == SU_OK)
            printf("sealhsmd: would serve keystore %s (id %s, %zu keys, %zu active) on %s for "
                   "environment %s\n",
                   srv.keystore, id, nkeys, active, o->cfg.socket, o->cfg.environment);
        ss_close(srv.store);
        return rc;
    }
    /* From here SIGTERM/SIGINT are read from a signalfd by the event loop: blocked
     * before the socket exists and before any thread, so that every thread inherits
     * the mask. Until now they simply ended the start (nothing was created). */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    if ((rc = make_socket(&o->cfg, &lfd)) != SU_OK) {
        ss_close(srv.store);
        return rc;
    }
    srv.started = su_now();
    d_log("pid %ld serving keystore %s on %s (environment %s, %u workers, at most %u clients)",
          (long)getpid(), srv.keystore, o->cfg.socket, o->cfg.environment, o->cfg.workers,
          o->cfg.max_clients);
    report(report_fd, SU_OK);
    notify_ready();
    rc = d_serve(&srv, lfd);
    if (rc == SU_OK)
        d_log("stopped after %llu signatures", (unsigned long long)atomic_load(&srv.signatures));
    else
        unlink(o->cfg.socket);
    ss_close(srv.store);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    int rc, report_fd = -1;

    /* no core file and no ptrace by other processes of this user: the memory holds
     * the unlocked keystore's keys */
    prctl(PR_SET_DUMPABLE, 0);
    signal(SIGPIPE, SIG_IGN);
    if ((rc = parse(argc, argv, &o)) != SU_OK)
        return rc;
    /* unsealed keys are cached only in the secure heap (locked, cleansed on free) */
    if (!CRYPTO_secure_malloc_initialized())
        CRYPTO_secure_malloc_init(1 << 22, 16);
    /* as the tool and the provider do: SEALHSM_*PIN* out of the environment at once */
    su_pin_env_scrub();
    rc = run(&o, &report_fd);
    report(&report_fd, rc);
    CRYPTO_secure_malloc_done();
    return rc;
}
