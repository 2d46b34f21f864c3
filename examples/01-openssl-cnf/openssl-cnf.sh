#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 1 - openssl.cnf: load sealhsm through OpenSSL's configuration.
#
# Seed practice: "install the middleware" - one provider module plus openssl.cnf,
# and every OpenSSL 3 program can use the HSM's keys without code changes.
#
# Shows: the commented openssl.cnf next to this script (every provider parameter:
# keystore, pin-source, key-pin-source, environment, syslog), rendered for a
# scratch keystore; the user PIN and a per-key PIN read from files the way a CI
# secret is mounted; a signature by plain `openssl dgst` with no -provider flags and
# no PIN in the environment; verification with stock openssl and the public key only.
#
# Run:  bash openssl-cnf.sh
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

# Demo PINs, deliberately not secret. For real, the SO types the SO PIN at the prompt
# (leave SEALHSM_SO_PIN unset) and the user and key PINs come from files (below).
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111
export SEALHSM_KEY_PIN=demo-key-pin-2222

# 1. A keystore and a prod key that also needs its own usage PIN (--key-pin; the key
#    PIN is taken from $SEALHSM_KEY_PIN here, a prompt or --key-pin-file for real).
"$SEALHSM" init "${kdf[@]}"
"$SEALHSM" keygen release --type ec:P-384 --env prod --key-pin \
    --description "release signing, example 1"
"$SEALHSM" pubkey release --out release.pub.pem

# 2. PIN files, as a secrets manager would mount them under /run/secrets: a directory
#    only the signing user can enter, files only it can read.
install -d -m 0700 secrets
printf '%s\n' "$SEALHSM_PIN" >secrets/sealhsm-pin
printf '%s\n' "$SEALHSM_KEY_PIN" >secrets/sealhsm-key-pin
chmod 0400 secrets/sealhsm-pin secrets/sealhsm-key-pin

# 3. The config: the template with this machine's paths put in. On a real host you
#    install the template itself (module path and /var/lib/sealhsm as they are).
sed -e "s|^module = .*|module = $SEALHSM_PROVIDER_DIR/sealhsm.so|" \
    -e "s|^keystore = .*|keystore = $SEALHSM_KEYSTORE|" \
    -e "s|file:/run/secrets/|file:$WORK/secrets/|" \
    "$here/openssl.cnf" >openssl.cnf

# From here on no PIN is in the environment: the provider reads the files named by
# pin-source and key-pin-source.
unset SEALHSM_SO_PIN SEALHSM_PIN SEALHSM_KEY_PIN SEALHSM_KEYSTORE

# 4. Both providers are active (the self-tests ran at load).
OPENSSL_CONF=$WORK/openssl.cnf openssl list -providers | tee providers.txt
grep -A3 '^  sealhsm' providers.txt | grep -q 'status: active'

# 5. Sign with stock openssl: no -provider flags, no key file, no PIN on the command line.
echo "release 1.0.0 payload" >artifact.tar
OPENSSL_CONF=$WORK/openssl.cnf openssl dgst -sha384 -sign sealhsm:release \
    -out artifact.tar.sig artifact.tar

# 6. Anyone verifies with stock openssl and the public key; no provider, no config.
OPENSSL_CONF=/dev/null openssl dgst -sha384 -verify release.pub.pem \
    -signature artifact.tar.sig artifact.tar
echo "OK: openssl.cnf loads sealhsm; artifact.tar.sig made via the config verifies with release.pub.pem"
