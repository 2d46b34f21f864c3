/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon backend (docs/protocol.md). */
#include "internal.h"

int sc_remote_open(const sc_config *cfg, sc_conn *c, su_error *e) {
    return su_err(e, SU_EUSAGE, "daemon: %s: this build has no daemon backend yet", cfg->daemon);
}
