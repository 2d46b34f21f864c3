/* SPDX-License-Identifier: Apache-2.0 */
/* The session of a handle: who it is for audit records and the role checks of the verbs. */
#include "internal.h"

#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

/* The OS user named in audit records. Servers drop privileges after opening the
 * keystore (nginx workers), so the name follows the current uid. */
void st_who(ss_store *s) {
    struct passwd pw, *res = NULL;
    char buf[1024];
    s->uid = (uint32_t)getuid();
    if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
        snprintf(s->user, sizeof(s->user), "%s", pw.pw_name);
    else
        snprintf(s->user, sizeof(s->user), "%u", (unsigned)getuid());
}

static const char *role_name(ss_role r) {
    return r == SS_ROLE_SO ? "the SO" : r == SS_ROLE_USER ? "the user" : "an officer";
}

int st_require_role(ss_store *s, ss_role role, const char *what, ss_error *e) {
    if (s->role == role)
        return SU_OK;
    if (s->role == SS_ROLE_NONE)
        return su_err(e, SU_EPIN, "%s needs %s to log in first", what, role_name(role));
    return su_err(e, SU_EPOLICY, "%s is reserved to %s", what, role_name(role));
}

int st_require_login(ss_store *s, const char *what, ss_error *e) {
    if (s->role == SS_ROLE_NONE || s->keys == NULL)
        return su_err(e, SU_EPIN, "%s needs a PIN login first", what);
    return SU_OK;
}
