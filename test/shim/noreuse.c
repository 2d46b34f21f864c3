/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LD_PRELOAD allocator for the memory-residency tests: memory is never reused and
 * freed blocks are left as they are, like ASan's quarantine. A secret that was freed
 * without being cleansed then stays visible to the test every time, instead of
 * depending on whether later allocations happened to overwrite it (which glibc's
 * allocator does at random, and differently with every change to the code).
 *
 * Blocks come from one 512 MiB anonymous mapping, 16-byte aligned, each after a
 * 16-byte header holding its size; free() does nothing. Only for short test runs.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARENA ((size_t)512 << 20)
#define HDR 16

static unsigned char *arena;
static size_t used;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *take(size_t n, size_t align) {
    if (align < HDR)
        align = HDR;
    if (n > ARENA)
        return NULL;
    pthread_mutex_lock(&mu);
    if (arena == NULL) {
        void *p = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        arena = p == MAP_FAILED ? NULL : p;
    }
    unsigned char *out = NULL;
    if (arena != NULL) {
        size_t start = (used + HDR + align - 1) / align * align;
        if (start + n <= ARENA) {
            out = arena + start;
            *(size_t *)(out - HDR) = n;
            used = start + n;
        }
    }
    pthread_mutex_unlock(&mu);
    if (out == NULL)
        errno = ENOMEM;
    return out;
}

static size_t size_of(void *p) {
    return *(size_t *)((unsigned char *)p - HDR);
}

void *malloc(size_t n) {
    return take(n, HDR);
}

void free(void *p) {
    (void)p;
}

void *calloc(size_t a, size_t b) {
    if (b != 0 && a > SIZE_MAX / b)
        return NULL;
    return take(a * b, HDR); /* fresh anonymous memory is zero */
}

void *realloc(void *p, size_t n) {
    void *q = take(n, HDR);
    if (p != NULL && q != NULL) {
        size_t old = size_of(p);
        memcpy(q, p, old < n ? old : n);
    }
    return q;
}

int posix_memalign(void **out, size_t align, size_t n) {
    void *p = take(n, align);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t align, size_t n) {
    return take(n, align);
}

void *memalign(size_t align, size_t n) {
    return take(n, align);
}

void *valloc(size_t n) {
    return take(n, (size_t)sysconf(_SC_PAGESIZE));
}

void *pvalloc(size_t n) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return take((n + pg - 1) / pg * pg, pg);
}

size_t malloc_usable_size(void *p) {
    return p ? size_of(p) : 0;
}
