/* SPDX-License-Identifier: Apache-2.0 */
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const unsigned char FZ_MASTER_KEY[ST_KEY_LEN] = {
    0x6d, 0x6b, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x6f, 0x6e, 0x6c, 0x79, 0x2d, 0x6e, 0x6f, 0x74,
    0x2d, 0x61, 0x2d, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35};
const unsigned char FZ_STORE_ID[SS_STORE_ID_LEN] = {'f', 'u', 'z', 'z', '-', 's', 't', 'o',
                                                    'r', 'e', '-', 'i', 'd', '-', '0', '1'};

void fz_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "fuzz check failed at %s:%d: %s\n", file, line, what);
    abort();
}

bool fz_same_str(const char *a, const char *b) {
    return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0);
}

void fz_check_refusal(int rc, const su_error *e, bool eio_ok) {
    FZ_CHECK(rc == SU_EUSAGE || (eio_ok && rc == SU_EIO));
    FZ_CHECK(e->code == rc && e->msg[0] != '\0');
    FZ_CHECK(memchr(e->msg, '\0', sizeof(e->msg)) != NULL && strchr(e->msg, '\n') == NULL);
}

ss_store *fz_store_keys(const unsigned char store_id[SS_STORE_ID_LEN]) {
    ss_store *s = st_store_new("/nonexistent/fuzz-keystore", NULL, NULL);
    ss_error e;
    FZ_CHECK(s != NULL);
    memcpy(s->store_id, store_id, SS_STORE_ID_LEN);
    FZ_CHECK(st_session_keys(s, FZ_MASTER_KEY, 1, &e) == SU_OK);
    s->role = SS_ROLE_SO;
    return s;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void fz_rmtree(const char *dir) {
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char tmp_root[4096];

static void tmp_cleanup(void) {
    if (tmp_root[0])
        fz_rmtree(tmp_root);
}

const char *fz_tmpdir(void) {
    if (tmp_root[0])
        return tmp_root;
    const char *base = getenv("FUZZ_TMPDIR");
    struct stat st;
    if (base == NULL || *base == '\0')
        base = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(tmp_root, sizeof(tmp_root), "%s/sealhsm-fuzz.XXXXXX", base);
    FZ_CHECK(mkdtemp(tmp_root) != NULL);
    atexit(tmp_cleanup);
    return tmp_root;
}

ss_store *fz_keystore(ss_role role) {
    char dir[4200];
    static int n;
    snprintf(dir, sizeof(dir), "%s/ks%d", fz_tmpdir(), n++);
    ss_init_params p;
    ss_init_params_default(&p);
    p.kdf_mem_kib = 8;
    p.kdf_iterations = 1;
    su_pin *so = su_pin_new(FZ_SO_PIN, strlen(FZ_SO_PIN));
    su_pin *user = su_pin_new(FZ_USER_PIN, strlen(FZ_USER_PIN));
    ss_error e = {0};
    ss_store *s = NULL;
    int rc = ss_init(dir, &p, so, user, &e);
    if (rc == SU_OK)
        rc = ss_open(dir, NULL, NULL, &s, &e);
    if (rc == SU_OK)
        rc = ss_login(s, role, NULL, role == SS_ROLE_SO ? so : user, &e);
    if (rc != SU_OK) {
        fprintf(stderr, "fuzz set-up: keystore %s: %s\n", dir, e.msg);
        abort();
    }
    mdb_env_set_flags(s->env, MDB_NOSYNC, 1);
    su_pin_free(so);
    su_pin_free(user);
    return s;
}

char *fz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    FZ_CHECK(s != NULL);
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

volatile unsigned char fz_sink;

void fz_touch(const void *p, size_t n) {
    const unsigned char *c = p;
    unsigned char x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= c[i];
    fz_sink ^= x;
}

void fz_touch_str(const char *s) {
    if (s != NULL)
        fz_touch(s, strlen(s) + 1);
}
