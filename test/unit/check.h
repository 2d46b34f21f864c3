/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal test harness: CHECK records a failure and goes on. A test file lists its cases
 * with CHECK_CASE(name, function) in one array and ends with CHECK_MAIN(array, setup,
 * teardown); test/unit/CMakeLists.txt finds the CHECK_CASE lines and registers each case with
 * ctest by its name (`ctest -R audit_chain`), running `<binary> <name>`. */
#ifndef CHECK_H
#define CHECK_H
#include <stddef.h>
#include <stdio.h>

/* the number of failed checks in this process (check.c) */
extern int check_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b) {                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__,  \
                    #a, #b, _a, _b);                                                               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* For a test file with its own main(): returns from it with the verdict. */
#define CHECK_DONE()                                                                               \
    do {                                                                                           \
        if (check_failures)                                                                        \
            fprintf(stderr, "%d check(s) failed\n", check_failures);                               \
        return check_failures ? 1 : 0;                                                             \
    } while (0)

typedef struct check_case {
    const char *name; /* the ctest name: unique over all of test/unit */
    void (*run)(void);
} check_case;

/* One entry of a case array; `name` is a bare identifier (CMake reads it from this line). */
#define CHECK_CASE(name, fn)                                                                       \
    { #name, fn }

/* Runs the case named argv[1] (all of them in order without an argument; `--list` prints
 * the names) between setup and teardown (either may be NULL; setup returns 0 when ready).
 * Returns 0 when every check passed, 1 when one failed, 2 for an unknown case or a failed
 * setup. */
int check_main(int argc, char **argv, const check_case *cases, size_t ncases, int (*setup)(void),
               void (*teardown)(void));

#define CHECK_MAIN(cases, setup, teardown)                                                         \
    int main(int argc, char **argv) {                                                              \
        return check_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]), setup, teardown);   \
    }

#endif
