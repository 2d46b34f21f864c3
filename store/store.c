/* SPDX-License-Identifier: Apache-2.0 */
/* Creating, opening and closing keystores; path resolution; role checks. */
#include "attest.h"
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ss_init_params_default(ss_init_params *p) {
    p->kdf_mem_kib = 64 * 1024;
    p->kdf_iterations = 3;
    p->kdf_lanes = 1;
    p->max_pin_tries = 10;
    p->syslog = 0;
    p->label = NULL;
}

#define DEFAULT_LABEL "sealhsm"

/* Printable and short enough for a PKCS#11 token label (docs/reference.md, PKCS#11 module). */
static bool store_label_valid(const char *label) {
    size_t n = strlen(label);
    if (n < 1 || n > SS_STORE_LABEL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
            return false;
    return true;
}

int ss_resolve_path(const char *explicit_dir, char *out, size_t outlen, ss_error *e) {
    const char *env = getenv("SEALHSM_KEYSTORE"), *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;
    if (explicit_dir != NULL && *explicit_dir)
        n = snprintf(out, outlen, "%s", explicit_dir);
    else if (env != NULL && *env)
        n = snprintf(out, outlen, "%s", env);
    else if (xdg != NULL && *xdg == '/')
        n = snprintf(out, outlen, "%s/sealhsm", xdg);
    else if (home != NULL && *home)
        n = snprintf(out, outlen, "%s/.local/share/sealhsm", home);
    else
        return su_err(e, SU_EUSAGE, "no keystore given: use --keystore or set SEALHSM_KEYSTORE");
    if (n < 0 || (size_t)n >= outlen)
        return su_err(e, SU_EUSAGE, "keystore path is too long");
    /* trailing slashes would make two spellings of one keystore */
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    return SU_OK;
}

/* Undoes what st_store_new set up (a half-built store, or the last step of st_store_free). */
static void release(ss_store *s) {
    st_algs_free(s);
    pthread_mutex_destroy(&s->cache_mu);
    pthread_mutex_destroy(&s->mac_mu);
    pthread_mutex_destroy(&s->fresh_mu);
    st_gate_destroy(&s->gate);
    free(s->path);
    free(s->propq);
    free(s);
}

ss_store *st_store_new(const char *dir, OSSL_LIB_CTX *libctx, const char *propq) {
    ss_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->path = strdup(dir);
    s->propq = propq ? strdup(propq) : NULL;
    s->libctx = libctx;
    st_gate_init(&s->gate);
    pthread_mutex_init(&s->cache_mu, NULL);
    pthread_mutex_init(&s->mac_mu, NULL);
    pthread_mutex_init(&s->fresh_mu, NULL);
    st_who(s);
    /* now: servers rewrite their argv later (nginx: "nginx: worker process") */
    snprintf(s->program, sizeof(s->program), "%s", program_invocation_short_name);
    if (s->path == NULL || (propq != NULL && s->propq == NULL) || !st_algs_fetch(s)) {
        release(s);
        return NULL;
    }
    return s;
}

void st_store_free(ss_store *s) {
    ss_logout(s);
    st_env_close(s);
    release(s);
}

static int read_meta(ss_store *s, ss_error *e) {
    MDB_txn *txn;
    MDB_val v;
    int rc = st_txn(s, 0, &txn, e);
    if (rc != SU_OK)
        return rc;
    rc = st_get(s, txn, ST_DB_META, "format", 6, &v, e);
    if (rc == SU_OK && v.mv_size == 4) {
        uint32_t fmt = su_get_be32(v.mv_data);
        if (fmt > ST_FORMAT_VERSION)
            rc = su_err(e, SU_EIO,
                        "keystore %s has format version %u, newer than this sealhsm supports "
                        "(%u): upgrade sealhsm",
                        s->path, fmt, ST_FORMAT_VERSION);
        else if (fmt < 1)
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: bad format version", s->path);
        s->format = fmt;
    } else if (rc == SU_OK || rc == SU_ENOTFOUND) {
        rc = su_err(e, SU_EINTEGRITY, "keystore %s is not a sealhsm keystore (no format record)",
                    s->path);
    }
    if (rc == SU_OK) {
        rc = st_get(s, txn, ST_DB_META, "store_id", 8, &v, e);
        if (rc == SU_OK && v.mv_size == SS_STORE_ID_LEN)
            memcpy(s->store_id, v.mv_data, SS_STORE_ID_LEN);
        else if (rc == SU_OK || rc == SU_ENOTFOUND)
            rc = su_err(e, SU_EINTEGRITY, "keystore %s has no valid keystore id", s->path);
    }
    if (rc == SU_OK && st_get(s, txn, ST_DB_META, "syslog", 6, &v, e) == SU_OK && v.mv_size == 4)
        s->syslog = su_get_be32(v.mv_data) != 0;
    /* keystores made before labels have none: they carry the default */
    snprintf(s->label, sizeof(s->label), DEFAULT_LABEL);
    if (rc == SU_OK && st_get(s, txn, ST_DB_META, "label", 5, &v, e) == SU_OK) {
        if (v.mv_size <= SS_STORE_LABEL_MAX) {
            memcpy(s->label, v.mv_data, v.mv_size);
            s->label[v.mv_size] = '\0';
        }
        if (v.mv_size > SS_STORE_LABEL_MAX || !store_label_valid(s->label))
            rc = su_err(e, SU_EINTEGRITY, "keystore %s: the keystore label is corrupt", s->path);
    }
    if (rc == SU_OK) {
        rc = st_get(s, txn, ST_DB_META, "max_tries", 9, &v, e);
        if (rc == SU_OK && v.mv_size == 4) {
            const unsigned char *p = v.mv_data;
            s->max_tries = su_get_be32(p);
        } else if (rc == SU_OK || rc == SU_ENOTFOUND) {
            rc = su_err(e, SU_EINTEGRITY, "keystore %s has no PIN try limit", s->path);
        }
    }
    mdb_txn_abort(txn);
    return rc;
}

int ss_open(const char *dir, OSSL_LIB_CTX *libctx, const char *propq, ss_store **out, ss_error *e) {
    *out = NULL;
    ss_store *s = st_store_new(dir, libctx, propq);
    if (s == NULL)
        return su_err(e, SU_EIO, "out of memory");
    int rc = st_env_open(s, 0, e);
    if (rc == SU_OK)
        rc = read_meta(s, e);
    if (rc != SU_OK) {
        st_store_free(s);
        return rc;
    }
    *out = s;
    return SU_OK;
}

void ss_close(ss_store *s) {
    if (s != NULL)
        st_store_free(s);
}

void ss_set_syslog(ss_store *s, int on) {
    s->syslog = on;
}

const char *ss_store_path(const ss_store *s) {
    return s->path;
}

void ss_store_id(const ss_store *s, unsigned char out[SS_STORE_ID_LEN]) {
    memcpy(out, s->store_id, SS_STORE_ID_LEN);
}

const char *ss_store_label(const ss_store *s) {
    return s->label;
}

static int get_u32(ss_store *s, MDB_txn *txn, const char *key, uint32_t *out, int optional,
                   ss_error *e) {
    MDB_val v;
    int rc = st_get(s, txn, ST_DB_META, key, strlen(key), &v, e);
    if (rc == SU_ENOTFOUND && optional) {
        *out = 0;
        return SU_OK;
    }
    if (rc == SU_OK && v.mv_size != 4)
        rc = SU_ENOTFOUND;
    if (rc == SU_ENOTFOUND)
        return su_err(e, SU_EINTEGRITY, "keystore %s: setting '%s' is missing or corrupt", s->path,
                      key);
    if (rc == SU_OK)
        *out = su_get_be32(v.mv_data);
    return rc;
}

int ss_store_params_get(ss_store *s, ss_store_params *out, ss_error *e) {
    MDB_txn *txn;
    memset(out, 0, sizeof(*out));
    int rc = st_require_login(s, "reading the keystore settings", e);
    if (rc == SU_OK)
        rc = st_txn(s, 0, &txn, e);
    if (rc != SU_OK)
        return rc;
    rc = get_u32(s, txn, "format", &out->format, 0, e);
    if (rc == SU_OK)
        rc = st_user_kdf(s, txn, &out->kdf_mem_kib, &out->kdf_iterations, &out->kdf_lanes, e);
    if (rc == SU_OK)
        rc = get_u32(s, txn, "max_tries", &out->max_pin_tries, 0, e);
    if (rc == SU_OK)
        rc = get_u32(s, txn, "quorum", &out->quorum, 1, e);
    mdb_txn_abort(txn);
    return rc;
}

ss_role ss_logged_in(const ss_store *s) {
    return s->role;
}

void ss_logout(ss_store *s) {
    st_gate_flush_stop(s); /* batched records still need the session's audit key */
    st_keycache_clear(s);
    st_mac_templates_free(s);
    if (s->keys != NULL)
        OPENSSL_secure_clear_free(s->keys, ST_SESSION_KEYS * ST_KEY_LEN);
    s->keys = NULL;
    s->mk = s->k_seal = s->k_mac = s->k_audit = s->k_backup = NULL;
    s->role = SS_ROLE_NONE;
    free(s->officer);
    s->officer = NULL;
}

/* mkdir -p with 0700 for the directories we create. */
int st_make_dirs(const char *dir, ss_error *e) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
        return su_err(e, SU_EUSAGE, "keystore path is too long");
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return su_err(e, SU_EIO, "cannot create %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return su_err(e, SU_EIO, "cannot create keystore %s: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (d == NULL)
        return su_err(e, SU_EIO, "cannot open keystore %s: %s", dir, strerror(errno));
    struct dirent *de;
    int empty = 1;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, ".."))
            empty = 0;
    closedir(d);
    if (!empty)
        return su_err(e, SU_EUSAGE, "keystore %s already exists and is not empty", dir);
    /* an empty directory made beforehand (umask 022: 0755) becomes private; a
     * directory of another user stays as it is and is refused when opened */
    chmod(dir, 0700);
    return SU_OK;
}

static int put_u32(ss_store *s, MDB_txn *txn, const char *key, uint32_t v, ss_error *e) {
    unsigned char b[4];
    su_be32(b, v);
    return st_put(s, txn, ST_DB_META, key, strlen(key), b, 4, e);
}

static int init_contents(ss_store *s, const ss_init_params *p, const su_pin *so_pin,
                         const su_pin *user_pin, unsigned char *mk, ss_error *e) {
    st_slot so, user;
    EVP_PKEY *ca = NULL;
    unsigned char *cert = NULL;
    size_t certlen = 0;
    MDB_txn *txn = NULL;
    int rc = st_random(s, s->store_id, SS_STORE_ID_LEN, e);
    if (rc == SU_OK)
        rc = st_random(s, mk, ST_KEY_LEN, e);
    if (rc == SU_OK)
        rc = st_slot_make(s, SS_ROLE_SO, NULL, mk, so_pin, p->kdf_mem_kib, p->kdf_iterations,
                          p->kdf_lanes, &so, e);
    if (rc == SU_OK)
        rc = st_slot_make(s, SS_ROLE_USER, NULL, mk, user_pin, p->kdf_mem_kib, p->kdf_iterations,
                          p->kdf_lanes, &user, e);
    if (rc == SU_OK)
        rc = st_session_keys(s, mk, 1, e);
    if (rc == SU_OK)
        rc = st_attest_ca_create(s->libctx, s->propq, s->store_id, su_now(), &ca, &cert, &certlen,
                                 e);
    if (rc == SU_OK)
        rc = st_txn(s, 1, &txn, e);
    if (rc == SU_OK)
        rc = put_u32(s, txn, "format", ST_FORMAT_VERSION, e);
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_META, "store_id", 8, s->store_id, SS_STORE_ID_LEN, e);
    if (rc == SU_OK)
        rc = put_u32(s, txn, "max_tries", p->max_pin_tries, e);
    if (rc == SU_OK)
        rc = put_u32(s, txn, "syslog", p->syslog != 0, e);
    snprintf(s->label, sizeof(s->label), "%s", p->label != NULL ? p->label : DEFAULT_LABEL);
    if (rc == SU_OK)
        rc = st_put(s, txn, ST_DB_META, "label", 5, s->label, strlen(s->label), e);
    s->syslog = p->syslog != 0;
    if (rc == SU_OK)
        rc = st_put_slot(s, txn, &so, e);
    if (rc == SU_OK)
        rc = st_put_slot(s, txn, &user, e);
    if (rc == SU_OK)
        rc = st_attest_key_store(s, txn, ca, cert, certlen, e);
    if (rc == SU_OK)
        rc = st_fresh_global_update(s, txn, e);
    if (rc == SU_OK) {
        s->role = SS_ROLE_SO;
        char reason[96];
        snprintf(reason, sizeof(reason), "argon2id m=%uKiB t=%u p=%u, max PIN tries %u",
                 p->kdf_mem_kib, p->kdf_iterations, p->kdf_lanes, p->max_pin_tries);
        st_audit_in in = {.op = SS_OP_INIT, .outcome = SS_OUT_OK, .reason = reason};
        rc = st_audit_append(s, txn, &in, e);
    }
    if (rc == SU_OK) {
        rc = st_commit(s, txn, e);
        txn = NULL;
    }
    if (txn != NULL)
        mdb_txn_abort(txn);
    EVP_PKEY_free(ca);
    OPENSSL_free(cert);
    OPENSSL_cleanse(&so, sizeof(so));
    OPENSSL_cleanse(&user, sizeof(user));
    return rc;
}

int ss_init(const char *dir, const ss_init_params *p, const su_pin *so_pin, const su_pin *user_pin,
            ss_error *e) {
    ss_init_params def;
    if (p == NULL) {
        ss_init_params_default(&def);
        p = &def;
    }
    if (p->kdf_mem_kib < 8 * p->kdf_lanes || p->kdf_mem_kib > 4u * 1024 * 1024 ||
        p->kdf_iterations < 1 || p->kdf_iterations > 100 || p->kdf_lanes < 1 || p->kdf_lanes > 16 ||
        p->max_pin_tries < 1 || p->max_pin_tries > 1000)
        return su_err(e, SU_EUSAGE, "keystore %s: Argon2id or PIN-try parameters out of range",
                      dir);
    if (p->label != NULL && !store_label_valid(p->label))
        return su_err(e, SU_EUSAGE, "keystore %s: the label must be 1 to %d printable bytes", dir,
                      SS_STORE_LABEL_MAX);
    if (so_pin == NULL || user_pin == NULL)
        return su_err(e, SU_ENOPIN, "keystore %s: init needs an SO PIN and a user PIN", dir);
    int rc = st_make_dirs(dir, e);
    if (rc != SU_OK)
        return rc;
    ss_store *s = st_store_new(dir, NULL, NULL);
    if (s == NULL)
        return su_err(e, SU_EIO, "out of memory");
    s->max_tries = p->max_pin_tries;
    s->format = ST_FORMAT_VERSION;
    unsigned char *mk = OPENSSL_secure_zalloc(ST_KEY_LEN);
    rc = mk == NULL ? su_err(e, SU_EIO, "out of secure memory") : st_env_open(s, 1, e);
    int opened = rc == SU_OK;
    if (rc == SU_OK)
        rc = init_contents(s, p, so_pin, user_pin, mk, e);
    OPENSSL_secure_clear_free(mk, ST_KEY_LEN);
    st_store_free(s);
    if (rc != SU_OK && opened)
        st_remove_store_files(dir); /* so that init can simply be run again */
    return rc;
}

void st_remove_store_files(const char *dir) {
    static const char *const files[] = {"data.mdb", "lock.mdb", "sealhsm.lock"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (snprintf(path, sizeof(path), "%s/%s", dir, files[i]) < (int)sizeof(path))
            unlink(path);
}

int st_check_restore_target(const char *dir, ss_error *e) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    if (access(p, F_OK) == 0)
        return su_err(e, SU_EUSAGE, "restore target %s already holds a keystore", dir);
    return SU_OK;
}
