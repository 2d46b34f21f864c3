#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 4 - release signing in CI: a detached CMS signature plus an RFC 3161
# time stamp, and the commands a downstream user runs to check them.
#
# Seed practices: "dedicated signing server", "only the signing application may use
# the keys", "access logs every time a key is used".
#
# Shows: setup (once, by the SO): a release key and a TSA key in the keystore, with
# certificates from a demo CA that is also a keystore key (in real life: your
# issuing CA, example 3), stored with `sealhsm cert import`. The CI job: no key file
# anywhere - the user PIN comes from a mounted secret file through pin-source,
# `openssl cms -sign -signer sealhsm:release -inkey sealhsm:release` signs with the
# stored certificate, and `openssl ts -reply -inkey tsa.keyref.pem` time-stamps the
# signature (ts only reads key files, hence the key-reference file). Downstream:
# `openssl cms -verify` and `openssl ts -verify`, no sealhsm at all.
#
# Run:  bash ci-release-signing.sh
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

# Demo PINs, deliberately not secret. The SO PIN is typed at the prompt for real;
# the CI job's user PIN is a CI secret mounted as a file (step 3).
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111

# ---------------------------------------------------------------- setup (SO, once)
# 1. Keys: release signing (SHA-384/512 only, prod, at most 1000 signatures a day
#    - a runaway or hijacked pipeline hits the cap) and the TSA.
"$SEALHSM" init "${kdf[@]}"
"$SEALHSM" keygen demo-ca --type ec:P-384 --env prod --description "demo CA (use your real CA)"
"$SEALHSM" keygen release --type ec:P-384 --env prod --digests sha384,sha512 \
    --rate 1000/day --description "release signing, CI"
"$SEALHSM" keygen tsa --type ec:P-384 --env prod --digests sha256,sha384,sha512 \
    --description "RFC 3161 time-stamping authority"

# The signing service's provider config: prod, user PIN from the mounted secret.
install -d -m 0700 secrets
cat >signing.cnf <<CNF
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
pin-source = file:$WORK/secrets/sealhsm-pin
environment = prod
activate = 1
CNF
printf '%s\n' "$SEALHSM_PIN" >secrets/sealhsm-pin && chmod 0400 secrets/sealhsm-pin
ossl() { OPENSSL_CONF=$WORK/signing.cnf openssl "$@"; }

# 2. Certificates: a demo CA, a code-signing certificate for `release` and a
#    time-stamping certificate (EKU timeStamping, critical, as RFC 3161 requires)
#    for `tsa`, stored with their keys.
ossl req -new -x509 -key sealhsm:demo-ca -sha384 -days 3650 -subj "/O=Example Corp/CN=Demo CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem
issue() { # LABEL SUBJECT EKU
    ossl req -new -key "sealhsm:$1" -subj "$2" -out "$1.csr"
    ossl x509 -req -in "$1.csr" -CA ca.pem -CAkey sealhsm:demo-ca -CAserial ca.srl \
        -CAcreateserial -sha384 -days 365 -out "$1.pem" -extfile <(printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=$3" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid")
    "$SEALHSM" cert import "$1" "$1.pem" ca.pem
}
issue release "/O=Example Corp/CN=Example Corp Release Signing" codeSigning
issue tsa "/O=Example Corp/CN=Example Corp TSA" critical,timeStamping
# The TSA reads its key as a file: a key reference (keystore id + key id, no secret).
"$SEALHSM" keyref tsa --out tsa.keyref.pem
export TSA_DIR=$WORK/tsa && mkdir -p "$TSA_DIR" && echo 01 >"$TSA_DIR/serial"

# ------------------------------------------------------------------- the CI job
# 3. Nothing secret in the environment: the provider reads the PIN file.
unset SEALHSM_SO_PIN SEALHSM_PIN
echo "example release 1.4.2" >app-1.4.2.tar.gz # the build's output

# 4. Detached CMS signature, DER; the certificate comes from the keystore with the key.
ossl cms -sign -binary -md sha384 -in app-1.4.2.tar.gz \
    -signer sealhsm:release -inkey sealhsm:release \
    -outform DER -out app-1.4.2.tar.gz.p7s

# 5. RFC 3161 time stamp over the signature file, so the signature stays checkable
#    after the certificate expires or the key is revoked (it existed at that time).
openssl ts -query -data app-1.4.2.tar.gz.p7s -sha384 -cert -out app-1.4.2.tar.gz.tsq
ossl ts -reply -config "$here/ts.cnf" -queryfile app-1.4.2.tar.gz.tsq \
    -inkey tsa.keyref.pem -signer tsa.pem -chain ca.pem -out app-1.4.2.tar.gz.tsr
# Publish: app-1.4.2.tar.gz, .p7s, .tsr, and (once, out of band) ca.pem.

# ------------------------------------------------------------------ downstream
# 6. A user with stock openssl and the CA certificate, no sealhsm: the signature
#    (code-signing EKU, hence -purpose any) and the time stamp over it.
export OPENSSL_CONF=/dev/null
openssl cms -verify -binary -inform DER -in app-1.4.2.tar.gz.p7s \
    -content app-1.4.2.tar.gz -CAfile ca.pem -purpose any -out /dev/null
openssl ts -verify -data app-1.4.2.tar.gz.p7s -in app-1.4.2.tar.gz.tsr -CAfile ca.pem
openssl ts -reply -in app-1.4.2.tar.gz.tsr -text | grep -E 'Time stamp:|Hash Algorithm:'
echo "OK: app-1.4.2.tar.gz.p7s (cms -verify) and its time stamp app-1.4.2.tar.gz.tsr (ts -verify) verify with ca.pem"
