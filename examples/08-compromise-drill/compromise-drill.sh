#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 8 - compromise drill: revoke, assess the impact, replace, recover.
#
# Seed practices: "compromise: revoke, destroy, new key, root cause, impact",
# "back up to another HSM, no plain-text backups", "DR tests", "recovery into a
# spare HSM".
#
# Shows: a release key with some signing history; the incident: the key is revoked
# (signing stops at once) and the audit log answers "what did it sign since the
# suspected exposure?" - `sealhsm audit export --format jsonl` filtered by
# signed-since.py (time, program, pid, user, digest, hash of what was signed, and
# which of our own artifacts it matches: a signature matching none is the one to
# chase); the replacement key made with `keygen --like` (same type, env, policy);
# the old key destroyed (zeroized, tombstone kept); a sealed backup restored into a
# spare keystore, where the new key signs and the old one is refused - the
# disaster-recovery test; the signature verified with stock openssl.
#
# Run:  bash compromise-drill.sh       (needs python3)
#   SEALHSM=path/to/sealhsm            the admin tool (default: sealhsm on PATH)
#   SEALHSM_PROVIDER_DIR=dir           where sealhsm.so is (default: OpenSSL's modulesdir)
#   WORK=dir                           scratch dir for the keystores (default: mktemp -d)
#   SEALHSM_DEMO_FAST_KDF=1            weak Argon2 parameters, for quick demos/tests only
#   PYTHON=interpreter                 Python 3 for the helper scripts (default: python3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# SEALHSM, SEALHSM_PROVIDER_DIR, PYTHON, WORK (we run in it) and kdf (init's Argon2id
# options) come from the setup all examples share:
# shellcheck source=examples/common.sh
. "$here/../common.sh"
export SEALHSM_KEYSTORE=$WORK/keystore
SPARE=$WORK/spare-keystore

# Demo PINs, deliberately not secret. For real the SO types the SO PIN (revoke,
# destroy, backup and restore all log in as SO); signers read theirs from a file.
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111

conf() { # KEYSTORE: a prod signer's provider config for that keystore
    cat <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
sealhsm = sealhsm_sect
[default_sect]
activate = 1
[sealhsm_sect]
module = $SEALHSM_PROVIDER_DIR/sealhsm.so
keystore = $1
pin-source = env:SEALHSM_PIN
environment = prod
activate = 1
CNF
}
conf "$SEALHSM_KEYSTORE" >openssl.cnf
conf "$SPARE" >openssl-spare.cnf
sign() { # CONF LABEL FILE
    OPENSSL_CONF=$WORK/$1 openssl dgst -sha384 -sign "sealhsm:$2" -out "$3.sig" "$3"
}

# ------------------------------------------------------------ before the incident
"$SEALHSM" init "${kdf[@]}"
"$SEALHSM" keygen release-2026 --type ec:P-384 --env prod --digests sha384,sha512 \
    --description "release signing"
for v in 1.0 1.1 1.2; do echo "app $v" >"app-$v.tar"; done
sign openssl.cnf release-2026 app-1.0.tar
sleep 1
# The CI runner that can reach the signing host was compromised from here on.
since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sign openssl.cnf release-2026 app-1.1.tar
echo "not one of ours" >payload.bin
sign openssl.cnf release-2026 payload.bin # the attacker's use of the key
rm payload.bin payload.bin.sig            # ...which we never see
sign openssl.cnf release-2026 app-1.2.tar

# ------------------------------------------------------------------ the incident
# 1. Revoke first: it is final and takes effect for every program at its next
#    signature. (disable/enable exists for "suspend while we look".)
"$SEALHSM" revoke release-2026 --reason "INC-0042: CI runner compromised since $since"
echo "probe" >probe.bin
if sign openssl.cnf release-2026 probe.bin 2>probe.err; then
    echo "FAIL: a revoked key signed" >&2
    exit 1
fi
grep -o 'sealhsm: .*' probe.err

# 2. Impact: every signature by the key since the exposure. Signatures matching
#    none of our artifacts are the attacker's; the list goes to the incident report.
"$SEALHSM" audit export --format jsonl >audit.jsonl
"$PYTHON" "$here/signed-since.py" release-2026 "$since" app-*.tar <audit.jsonl | tee impact.txt
[ "$(wc -l <impact.txt)" -eq 3 ]                  # app-1.0 was signed before $since
[ "$(grep -c 'file=-$' impact.txt)" -eq 1 ]       # one signature we cannot account for

# 3. The replacement: same type, environment and policy; distribute its public key
#    (and get it certified, example 3) before the next release.
"$SEALHSM" keygen release-2027 --like release-2026 --description "release signing (replaces release-2026, INC-0042)"
"$SEALHSM" pubkey release-2027 --out release-2027.pub.pem
"$SEALHSM" show release-2027

# 4. Destroy the compromised key: the sealed material is zeroized; a tombstone keeps
#    its label and id so later attempts are refused by name and audited.
"$SEALHSM" destroy release-2026

# ------------------------------------------------------------ disaster recovery
# 5. A sealed backup (never plaintext; needs the SO PIN to restore), restored into a
#    spare keystore, as onto a standby signing host.
"$SEALHSM" backup --out keystore.backup
"$SEALHSM" restore --in keystore.backup --keystore "$SPARE"
"$SEALHSM" --keystore "$SPARE" list
"$SEALHSM" --keystore "$SPARE" audit verify

# 6. The spare signs with the new key and still refuses the old one.
echo "app 1.3" >app-1.3.tar
sign openssl-spare.cnf release-2027 app-1.3.tar
if sign openssl-spare.cnf release-2026 probe.bin 2>probe-spare.err; then
    echo "FAIL: the destroyed key signed in the spare keystore" >&2
    exit 1
fi
grep -o 'sealhsm: .*' probe-spare.err

# 7. Verify with stock openssl and the new public key.
OPENSSL_CONF=/dev/null openssl dgst -sha384 -verify release-2027.pub.pem \
    -signature app-1.3.tar.sig app-1.3.tar
echo "OK: release-2026 revoked and destroyed, 3 signatures since $since listed (1 unaccounted); release-2027 signs from the restored spare keystore and verifies"
