#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 5 - Authenticode: osslsigncode signs a Windows executable with a
# keystore key.
#
# Seed practices: "install the middleware" (legacy programs that only read key
# files), "never export private keys".
#
# Shows: osslsigncode cannot take a sealhsm: URI, but it reads its -key with
# OpenSSL's PEM reader, so a `sealhsm keyref` file (keystore id + key id, no secret)
# plus the provider active through OPENSSL_CONF makes it sign inside the keystore.
# A code-signing certificate from a demo CA, a minimal PE32 made by make-pe.py (use
# your own .exe/.dll/.msi), `osslsigncode sign`, then `osslsigncode verify`.
#
# Run:  bash authenticode.sh           (needs osslsigncode and python3)
#   SEALHSM=path/to/sealhsm            the admin tool (default: sealhsm on PATH)
#   SEALHSM_PROVIDER_DIR=dir           where sealhsm.so is (default: OpenSSL's modulesdir)
#   WORK=dir                           scratch dir for the keystore (default: mktemp -d)
#   SEALHSM_DEMO_FAST_KDF=1            weak Argon2 parameters, for quick demos/tests only
#   PYTHON=interpreter                 Python 3 for the helper scripts (default: python3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# SEALHSM, SEALHSM_PROVIDER_DIR, PYTHON, WORK (we run in it) and kdf (init's Argon2id
# options) come from the setup all examples share:
# shellcheck source=examples/common.sh
. "$here/../common.sh"
export SEALHSM_KEYSTORE=$WORK/keystore

# Demo PINs, deliberately not secret. For real: the SO types the SO PIN at the
# prompt; the signing job's PIN comes from a file (pin-source = file:..., example 1).
# osslsigncode's own -pass/-readpass are for PKCS#12 and PEM passphrases; the keystore
# PIN always goes through the provider.
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111

# 1. Keystore, a demo CA and the Authenticode key (RSA-3072; Authenticode signs with
#    SHA-256, which the policy pins).
"$SEALHSM" init "${kdf[@]}"
"$SEALHSM" keygen demo-ca --type ec:P-384 --env prod --description "demo CA (use your real CA)"
"$SEALHSM" keygen authenticode --type rsa:3072 --env prod --digests sha256 \
    --padding pkcs1 --description "Windows code signing"

cat >openssl.cnf <<CNF
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
export OPENSSL_CONF=$WORK/openssl.cnf

# 2. The code-signing certificate (in real life: from your CA, example 3).
openssl req -new -x509 -key sealhsm:demo-ca -sha384 -days 3650 -subj "/O=Example Corp/CN=Demo CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out ca.pem
openssl req -new -key sealhsm:authenticode -subj "/O=Example Corp/CN=Example Corp Windows" \
    -out authenticode.csr
openssl x509 -req -in authenticode.csr -CA ca.pem -CAkey sealhsm:demo-ca -CAserial ca.srl \
    -CAcreateserial -sha384 -days 365 -out authenticode.pem -extfile <(printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=codeSigning" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid")
"$SEALHSM" cert import authenticode authenticode.pem ca.pem

# 3. The key-reference file osslsigncode takes as its -key: no secret in it, useless
#    without the keystore and its PIN. It can live next to the build scripts.
"$SEALHSM" keyref authenticode --out authenticode.keyref.pem
head -1 authenticode.keyref.pem

# 4. Sign. With a real time-stamping service add: -ts http://timestamp.example.com
"$PYTHON" "$here/make-pe.py" app.exe
osslsigncode sign -certs authenticode.pem -key authenticode.keyref.pem -h sha256 \
    -n "Example App" -i https://example.com/app -in app.exe -out app-signed.exe

# 5. Verify with osslsigncode alone (no provider, no keystore), trusting the CA.
export OPENSSL_CONF=/dev/null
osslsigncode verify -in app-signed.exe -CAfile ca.pem | tee verify.txt
grep -q 'Signature verification: ok' verify.txt
echo "OK: app-signed.exe (Authenticode, key via authenticode.keyref.pem) verifies with osslsigncode verify"
