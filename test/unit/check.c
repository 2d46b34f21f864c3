/* SPDX-License-Identifier: Apache-2.0 */
/* The runner behind CHECK_MAIN (check.h): one named case per process under ctest. */
#include "check.h"

#include <string.h>

int check_failures;

int check_main(int argc, char **argv, const check_case *cases, size_t ncases, int (*setup)(void),
               void (*teardown)(void)) {
    if (argc > 2) {
        fprintf(stderr, "usage: %s [CASE | --list]\n", argv[0]);
        return 2;
    }
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ncases; i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    const check_case *only = NULL;
    if (argc == 2) {
        for (size_t i = 0; i < ncases && only == NULL; i++)
            if (strcmp(cases[i].name, argv[1]) == 0)
                only = &cases[i];
        if (only == NULL) {
            fprintf(stderr, "%s: no case named %s (--list names them)\n", argv[0], argv[1]);
            return 2;
        }
    }
    if (setup != NULL && setup() != 0) {
        fprintf(stderr, "%s: setup failed\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < ncases; i++) {
        if (only != NULL && only != &cases[i])
            continue;
        int before = check_failures;
        fprintf(stderr, "== %s\n", cases[i].name);
        cases[i].run();
        if (check_failures != before)
            fprintf(stderr, "== %s: %d check(s) failed\n", cases[i].name, check_failures - before);
    }
    if (teardown != NULL)
        teardown();
    if (check_failures)
        fprintf(stderr, "%d check(s) failed\n", check_failures);
    return check_failures ? 1 : 0;
}
