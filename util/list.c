/* SPDX-License-Identifier: Apache-2.0 */
#include "sealutil.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

char *su_trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

int su_list_each(const char *list, int (*fn)(const char *item, void *arg), void *arg) {
    if (list == NULL)
        return SU_EUSAGE;
    char *copy = strdup(list);
    if (copy == NULL)
        return SU_EIO;
    int rc = SU_OK, any = 0;
    /* strtok_r would skip empty items; walk commas by hand to refuse them */
    char *item = copy;
    for (;;) {
        char *comma = strchr(item, ',');
        if (comma != NULL)
            *comma = '\0';
        item = su_trim(item);
        if (*item == '\0') {
            rc = SU_EUSAGE;
            break;
        }
        any = 1;
        rc = fn(item, arg);
        if (rc != SU_OK || comma == NULL)
            break;
        item = comma + 1;
    }
    free(copy);
    if (rc == SU_OK && !any)
        rc = SU_EUSAGE;
    return rc;
}
