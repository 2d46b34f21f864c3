# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The setup every example shares; each example sources it right after `set -euo pipefail`:
#
#   here=$(cd "$(dirname "$0")" && pwd)
#   . "$here/../common.sh"
#
# It reads these variables (all optional) and leaves them set for the example:
#   SEALHSM                 the admin tool (default: sealhsm on PATH)
#   SEALHSM_PROVIDER_DIR    where sealhsm.so is (default: OpenSSL's modulesdir)
#   PYTHON                  Python 3 for the small helpers (default: python3)
#   WORK                    scratch dir (default: a new mktemp -d); the example runs in it
# and sets kdf, the Argon2id options for `sealhsm init`: none (sealhsm's defaults, what a
# real keystore uses), or toy parameters when SEALHSM_DEMO_FAST_KDF=1 (the test suite;
# never for real keys). It checks that the tool and the provider exist before anything
# is created.

# shellcheck disable=SC2034 # PYTHON and kdf are used by the examples that source this file
{
    SEALHSM=${SEALHSM:-sealhsm}
    PYTHON=${PYTHON:-python3}
    SEALHSM_PROVIDER_DIR=${SEALHSM_PROVIDER_DIR:-$(pkg-config --variable=modulesdir libcrypto 2>/dev/null ||
        openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')}
    kdf=()
    [ "${SEALHSM_DEMO_FAST_KDF:-0}" = 1 ] && kdf=(--kdf-memory 8 --kdf-iterations 1)
}

[ -f "$SEALHSM_PROVIDER_DIR/sealhsm.so" ] || { echo "no sealhsm.so in '$SEALHSM_PROVIDER_DIR': set SEALHSM_PROVIDER_DIR" >&2; exit 1; }
command -v "$SEALHSM" >/dev/null || { echo "no sealhsm tool '$SEALHSM': set SEALHSM" >&2; exit 1; }
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
cd "$WORK" || exit 1
echo "work dir: $WORK"
