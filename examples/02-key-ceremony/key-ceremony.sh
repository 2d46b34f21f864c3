#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 2 - key ceremony: a prod code-signing key under dual control.
#
# Seed practices: "initialize the HSM, admin PIN and credentials", "generate keys
# inside the HSM", "granular rights, dual control (M of N)", "key ceremonies under
# supervision", "multi-factor for key activation".
#
# Shows: a keystore initialized with strong Argon2id parameters and a PIN-try limit;
# two named officers; a prod code-signing key (ec:P-384, sha384/sha512 only,
# expiring, needing 2 approvals) generated inside the keystore; its attestation
# certificate checked against the keystore's attestation CA with `openssl verify`
# and decoded (generated inside, never extractable, env prod); a signature refused
# before the officers approve and allowed after; the audit trail for the minutes.
#
# Run:  bash key-ceremony.sh
#   SEALHSM=path/to/sealhsm            the admin tool (default: sealhsm on PATH)
#   SEALHSM_PROVIDER_DIR=dir           where sealhsm.so is (default: OpenSSL's modulesdir)
#   WORK=dir                           scratch dir for the keystore (default: mktemp -d)
#   SEALHSM_DEMO_FAST_KDF=1            weak Argon2 parameters, for quick demos/tests only
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# SEALHSM, SEALHSM_PROVIDER_DIR, PYTHON, WORK (we run in it) and kdf (init's Argon2id
# options) come from the setup all examples share:
# shellcheck source=examples/common.sh
. "$here/../common.sh"
export SEALHSM_KEYSTORE=$WORK/keystore

# Demo PINs, deliberately not secret. In a real ceremony nobody exports PINs: leave
# the variables unset and each person types their own PIN at the no-echo prompt
# (twice when it is set), on the ceremony machine, in front of the witnesses.
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111
ALICE_PIN=demo-alice-pin-3333 BOB_PIN=demo-bob-pin-4444

# 1. Initialize. Argon2id at 128 MiB and 4 passes makes every offline guess at a
#    stolen keystore's PIN cost as much, at ~1 s per unlock (the defaults are
#    64 MiB / 3 passes / 1 lane; never go below them for real keys). Five wrong PINs
#    in a row lock a role; a locked SO can only be recovered from a backup.
kdf=(--kdf-memory 128 --kdf-iterations 4 --kdf-lanes 1)
# SEALHSM_DEMO_FAST_KDF=1 (the test suite) swaps in toy parameters to stay quick.
[ "${SEALHSM_DEMO_FAST_KDF:-0}" = 1 ] && kdf=(--kdf-memory 8 --kdf-iterations 1)
"$SEALHSM" init "${kdf[@]}" --max-pin-tries 5

# 2. Two officers, each setting their own PIN. They hold no signing right; together
#    they activate the key (dual control: the SO and the user alone cannot sign).
SEALHSM_OFFICER_PIN=$ALICE_PIN "$SEALHSM" officer add alice
SEALHSM_OFFICER_PIN=$BOB_PIN "$SEALHSM" officer add bob

# 3. The prod code-signing key, generated inside the keystore (OpenSSL's DRBG, a
#    pairwise test before it is stored). Policy: prod signers only, SHA-384/512,
#    valid for 13 months, 2 officer approvals for each 15-minute activation.
not_after=$(date -u -d '+13 months' +%Y-%m-%d)
"$SEALHSM" keygen codesign-2026 --type ec:P-384 --env prod \
    --digests sha384,sha512 --not-after "$not_after" \
    --approvals 2 --activation-ttl 15m \
    --description "prod code signing, ceremony $(date -u +%F)"
"$SEALHSM" show codesign-2026

# 4. Attestation: the keystore's attestation CA certifies the key's public key and
#    its properties. Witnesses (and later auditors, or a CA issuing the code-signing
#    certificate) check it with stock openssl.
"$SEALHSM" attest --ca --out attest-ca.pem
"$SEALHSM" attest codesign-2026 --out codesign-2026.attest.pem
openssl verify -CAfile attest-ca.pem codesign-2026.attest.pem
#    The extension 2.25.46257168805481854645121500197199491533.1 holds
#    SEQUENCE { origin (0 = generated), neverExtractable, keyType, env, policyDigest, keyId }.
openssl asn1parse -in codesign-2026.attest.pem >attest.asn1
off=$(awk '/:2\.25\.46257168805481854645121500197199491533\.1$/ { f = 1; next }
           f && /OCTET STRING/ { sub(":.*", "", $1); print $1; exit }' attest.asn1)
openssl asn1parse -in codesign-2026.attest.pem -strparse "$off" | tee attest-ext.txt
grep -q 'ENUMERATED *:00' attest-ext.txt          # origin: generated inside
grep -q 'BOOLEAN *:255' attest-ext.txt            # neverExtractable: TRUE
grep -q 'UTF8STRING *:prod' attest-ext.txt        # env: prod
#    The attested public key is the one signatures will be checked against.
openssl x509 -in codesign-2026.attest.pem -noout -pubkey >codesign-2026.pub.pem

# 5. The prod signer's provider config (environment = prod; see example 1).
cat >openssl-prod.cnf <<CNF
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
keystore = $SEALHSM_KEYSTORE
pin-source = env:SEALHSM_PIN
environment = prod
activate = 1
CNF
sign() {
    OPENSSL_CONF=$WORK/openssl-prod.cnf openssl dgst -sha384 -sign sealhsm:codesign-2026 "$@"
}
echo "first release signed at the ceremony" >release.bin

# 6. Without approvals the key does not sign, PIN or not.
if sign -out refused.sig release.bin 2>refused.err; then
    echo "FAIL: signed without the officers' approvals" >&2
    exit 1
fi
grep -o 'sealhsm: policy:.*' refused.err

# 7. Both officers approve (each with their own PIN): the key is active for 15 minutes.
SEALHSM_OFFICER_PIN=$ALICE_PIN "$SEALHSM" approve codesign-2026 --officer alice
SEALHSM_OFFICER_PIN=$BOB_PIN "$SEALHSM" approve codesign-2026 --officer bob
sign -out release.bin.sig release.bin

# 8. The ceremony record: the audit chain verifies; print it for the minutes.
"$SEALHSM" audit verify
"$SEALHSM" audit export --format text >ceremony-audit.txt
cat ceremony-audit.txt

# 9. The signature verifies with stock openssl under the attested public key.
OPENSSL_CONF=/dev/null openssl dgst -sha384 -verify codesign-2026.pub.pem \
    -signature release.bin.sig release.bin
echo "OK: attestation of codesign-2026 verifies; release.bin.sig (after 2 approvals) verifies under the attested key"
