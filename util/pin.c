/* SPDX-License-Identifier: Apache-2.0 */
#include "sealutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

su_pin *su_pin_new(const void *data, size_t len) {
    su_pin *p = OPENSSL_secure_zalloc(sizeof(*p));
    if (p == NULL)
        return NULL;
    p->data = OPENSSL_secure_zalloc(len + 1);
    if (p->data == NULL) {
        OPENSSL_secure_free(p);
        return NULL;
    }
    memcpy(p->data, data, len);
    p->len = len;
    return p;
}

void su_pin_free(su_pin *p) {
    if (p == NULL)
        return;
    OPENSSL_secure_clear_free(p->data, p->len + 1);
    OPENSSL_secure_clear_free(p, sizeof(*p));
}

/* Reads fd to its end into buf (secure memory owned by the caller); more than cap
 * bytes cannot be a valid PIN. */
static int read_all(int fd, const char *what, char *buf, size_t cap, size_t *n, su_error *e) {
    size_t got = 0;
    for (;;) {
        if (got == cap)
            return su_err(e, SU_EUSAGE, "PIN from %s is longer than %d bytes", what, SU_PIN_MAX);
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return su_err(e, SU_EIO, "cannot read PIN from %s: %s", what, strerror(errno));
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *n = got;
    return SU_OK;
}

/* Validates the length, wraps the bytes; strips one trailing newline first. */
static int finish(const char *what, char *buf, size_t n, su_pin **out, su_error *e) {
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n < SU_PIN_MIN || n > SU_PIN_MAX)
        return su_err(e, SU_EUSAGE, "PIN from %s must be %d to %d bytes long", what, SU_PIN_MIN,
                      SU_PIN_MAX);
    *out = su_pin_new(buf, n);
    if (*out == NULL)
        return su_err(e, SU_EIO, "out of secure memory reading PIN from %s", what);
    return SU_OK;
}

#define PIN_CAP (SU_PIN_MAX + 2)

static int from_fd(int fd, const char *what, su_pin **out, su_error *e) {
    char *buf = OPENSSL_secure_zalloc(PIN_CAP);
    size_t n = 0;
    int rc;
    if (buf == NULL)
        return su_err(e, SU_EIO, "out of secure memory");
    rc = read_all(fd, what, buf, PIN_CAP, &n, e);
    if (rc == SU_OK)
        rc = finish(what, buf, n, out, e);
    OPENSSL_secure_clear_free(buf, PIN_CAP);
    return rc;
}

bool su_have_tty(void) {
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* One no-echo line from the terminal. */
static int prompt_once(const char *text, su_pin **out, su_error *e) {
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return su_err(e, SU_ENOPIN, "no PIN source given and no terminal to prompt on");
    struct termios old, quiet;
    int have_term = tcgetattr(fd, &old) == 0;
    if (have_term) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    if (write(fd, text, strlen(text)) < 0) {
        /* the prompt is cosmetic; reading is what matters */
    }
    char *buf = OPENSSL_secure_zalloc(PIN_CAP);
    size_t n = 0;
    int rc = SU_OK;
    if (buf == NULL) {
        rc = su_err(e, SU_EIO, "out of secure memory");
    } else {
        for (;;) {
            char c;
            ssize_t r = read(fd, &c, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0 || c == '\n')
                break;
            if (n < PIN_CAP - 1)
                buf[n++] = c;
            else
                rc = SU_EUSAGE;
        }
        if (rc == SU_EUSAGE)
            su_err(e, rc, "PIN from the terminal is longer than %d bytes", SU_PIN_MAX);
        else
            rc = finish("the terminal", buf, n, out, e);
        OPENSSL_secure_clear_free(buf, PIN_CAP);
    }
    if (have_term)
        tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
        /* as above */
    }
    close(fd);
    return rc;
}

/*
 * PINs taken out of the environment (docs/security.md, "PINs in the environment").
 * A variable's value lives in the process's initial environment block, which
 * /proc/PID/environ shows and core dumps hold. Once read, a PIN variable is moved
 * here (secure heap: locked, not dumped), its value overwritten in place and the
 * variable removed; later reads (a key PIN at every signature, a second keystore's
 * login) are served from here.
 */
#define STASH_MAX 16
#define STASH_NAME_MAX 128

/* Static slots, not heap: the provider's module may be unloaded before exit, and what
 * it held must not then look like leaked memory. */
typedef struct stashed {
    char name[STASH_NAME_MAX];
    su_pin *value; /* NULL: free slot. Raw value, checked by finish() on each read */
} stashed;

static pthread_mutex_t stash_mu = PTHREAD_MUTEX_INITIALIZER;
static stashed stash[STASH_MAX];

static stashed *stash_find(const char *name) {
    for (size_t i = 0; i < STASH_MAX; i++)
        if (stash[i].value != NULL && strcmp(stash[i].name, name) == 0)
            return &stash[i];
    return NULL;
}

static void stash_drop(stashed *p) {
    if (p == NULL)
        return;
    su_pin_free(p->value);
    p->value = NULL;
    p->name[0] = '\0';
}

/* Moves variable name (value v, inside environ) into the stash, replacing what it
 * held (the application set the variable again), and overwrites and unsets it;
 * caller holds stash_mu. Returns 0 (variable left as it is) when there is no room. */
static bool stash_take(const char *name, char *v) {
    size_t n = strlen(v), namelen = strlen(name);
    stash_drop(stash_find(name));
    if (n > 0) {
        stashed *p = NULL;
        for (size_t i = 0; p == NULL && i < STASH_MAX; i++)
            if (stash[i].value == NULL)
                p = &stash[i];
        /* longer than any valid PIN: keep enough to report the length error */
        if (p == NULL || namelen >= STASH_NAME_MAX ||
            (p->value = su_pin_new(v, n > PIN_CAP ? PIN_CAP : n)) == NULL)
            return false;
        memcpy(p->name, name, namelen + 1);
    }
    /* the whole "NAME=value" entry is overwritten, after unsetenv found it by name */
    char *entry = v - namelen - 1;
    int whole = strncmp(entry, name, namelen) == 0 && entry[namelen] == '=';
    unsetenv(name);
    OPENSSL_cleanse(whole ? entry : v, whole ? namelen + 1 + n : n);
    return true;
}

static bool is_pin_var(const char *entry, size_t namelen) {
    if (namelen < 8 || strncmp(entry, "SEALHSM_", 8) != 0)
        return false;
    for (size_t i = 8; i + 3 <= namelen; i++)
        if (memcmp(entry + i, "PIN", 3) == 0)
            return true;
    return false;
}

void su_pin_env_scrub(void) {
    char name[256];
    pthread_mutex_lock(&stash_mu);
    for (size_t i = 0; environ != NULL && environ[i] != NULL;) {
        char *eq = strchr(environ[i], '=');
        size_t namelen = eq ? (size_t)(eq - environ[i]) : 0;
        if (eq == NULL || namelen >= sizeof(name) || !is_pin_var(environ[i], namelen)) {
            i++;
            continue;
        }
        memcpy(name, environ[i], namelen);
        name[namelen] = '\0';
        if (!stash_take(name, eq + 1))
            i++; /* left in place; else unsetenv shifted environ: look at index i again */
    }
    pthread_mutex_unlock(&stash_mu);
}

/* A copy of variable name's PIN value, NULL when unset or empty. A variable present
 * in the environment (set again since it was taken) wins and is taken in its turn;
 * an absent one is served from the stash. */
static su_pin *env_value(const char *name) {
    pthread_mutex_lock(&stash_mu);
    char *v = getenv(name);
    su_pin *copy = NULL;
    if (v != NULL && !stash_take(name, v))
        copy = su_pin_new(v, strlen(v)); /* no room to take it: read it in place */
    stashed *p = copy == NULL ? stash_find(name) : NULL;
    if (p != NULL)
        copy = su_pin_new(p->value->data, p->value->len);
    pthread_mutex_unlock(&stash_mu);
    return copy;
}

void su_pin_env_forget(void) {
    pthread_mutex_lock(&stash_mu);
    for (size_t i = 0; i < STASH_MAX; i++)
        stash_drop(&stash[i]);
    pthread_mutex_unlock(&stash_mu);
}

bool su_pin_env_has(const char *name) {
    su_pin *v = name ? env_value(name) : NULL;
    su_pin_free(v);
    return v != NULL;
}

int su_pin_from_source(const char *spec, const char *prompt_text, su_pin **out, su_error *e) {
    *out = NULL;
    if (spec == NULL)
        return su_err(e, SU_ENOPIN, "no PIN source");
    if (strncmp(spec, "env:", 4) == 0) {
        su_pin *v = env_value(spec + 4);
        if (v == NULL)
            return su_err(e, SU_ENOPIN, "PIN variable %s is not set", spec + 4);
        char what[128];
        snprintf(what, sizeof(what), "variable %.100s", spec + 4);
        int rc = v->len > SU_PIN_MAX + 1
                     ? su_err(e, SU_EUSAGE, "PIN from %s is longer than %d bytes", what, SU_PIN_MAX)
                     : finish(what, v->data, v->len, out, e); /* may strip a newline: a copy */
        su_pin_free(v);
        return rc;
    }
    if (strncmp(spec, "file:", 5) == 0) {
        const char *path = spec + 5;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return su_err(e, errno == ENOENT ? SU_ENOTFOUND : SU_EIO, "cannot open PIN file %s: %s",
                          path, strerror(errno));
        char what[PATH_MAX + 16];
        snprintf(what, sizeof(what), "file %s", path);
        int rc = from_fd(fd, what, out, e);
        close(fd);
        return rc;
    }
    if (strncmp(spec, "fd:", 3) == 0) {
        char *end;
        errno = 0;
        long fd = strtol(spec + 3, &end, 10);
        if (spec[3] == '\0' || *end != '\0' || errno != 0 || fd < 0 || fd > INT_MAX)
            return su_err(e, SU_EUSAGE, "bad PIN source '%s': fd must be a number", spec);
        char what[32];
        snprintf(what, sizeof(what), "fd %ld", fd);
        return from_fd((int)fd, what, out, e);
    }
    if (strcmp(spec, "prompt") == 0)
        return prompt_once(prompt_text ? prompt_text : "PIN: ", out, e);
    return su_err(e, SU_EUSAGE,
                  "bad PIN source '%.64s' (expected env:NAME, file:PATH, fd:N or prompt)", spec);
}

int su_pin_prompt_new(const char *prompt_text, su_pin **out, su_error *e) {
    su_pin *a = NULL, *b = NULL;
    *out = NULL;
    int rc = prompt_once(prompt_text, &a, e);
    if (rc != SU_OK)
        return rc;
    rc = prompt_once("Repeat: ", &b, e);
    if (rc == SU_OK && (a->len != b->len || CRYPTO_memcmp(a->data, b->data, a->len) != 0))
        rc = su_err(e, SU_EUSAGE, "the two PIN entries differ");
    su_pin_free(b);
    if (rc != SU_OK) {
        su_pin_free(a);
        return rc;
    }
    *out = a;
    return SU_OK;
}
