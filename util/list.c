/* SPDX-License-Identifier: Apache-2.0 */
#include "sealutil.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

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
        while (isspace((unsigned char)*item))
            item++;
        char *end = item + strlen(item);
        while (end > item && isspace((unsigned char)end[-1]))
            *--end = '\0';
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
