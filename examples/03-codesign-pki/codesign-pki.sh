#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 3 - code-signing PKI: root CA, issuing CA and code-signing key in sealhsm.
#
# Seed practices: "register with a PKI / CA", "use the HSM's RNG, do not create keys
# externally", "expiry via certificates, periodic renewal".
#
# Shows: an offline root CA key in its own keystore (the air-gapped machine) and an
# issuing CA key plus a code-signing key in the signing keystore, all generated
# inside sealhsm; the root certificate made by `openssl req -x509`, the issuing CA's
# certificate by `openssl x509 -req -CAkey sealhsm:root-ca`, the code-signing
# certificate (EKU codeSigning, 365 days) by `openssl ca -keyfile sealhsm:issuing-ca`
# with ca.cnf; the certificates stored with their keys by `sealhsm cert import`, and
# the chain verified by stock `openssl verify`. Only CSRs and certificates cross
# between the keystores.
#
# Run:  bash codesign-pki.sh
#   SEALHSM=path/to/sealhsm            the admin tool (default: sealhsm on PATH)
#   SEALHSM_PROVIDER_DIR=dir           where sealhsm.so is (default: OpenSSL's modulesdir)
#   WORK=dir                           scratch dir for the keystores (default: mktemp -d)
#   SEALHSM_DEMO_FAST_KDF=1            weak Argon2 parameters, for quick demos/tests only
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# SEALHSM, SEALHSM_PROVIDER_DIR, PYTHON, WORK (we run in it) and kdf (init's Argon2id
# options) come from the setup all examples share:
# shellcheck source=examples/common.sh
. "$here/../common.sh"
ROOT_KS=$WORK/root-keystore      # on the offline root machine
CA_KS=$WORK/keystore             # on the signing service

# Demo PINs, deliberately not secret (the same for both keystores only to keep the
# demo short). For real: prompts on the offline machine; the signing service reads
# its user PIN from a file (pin-source = file:..., see example 1).
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111

# A provider config per keystore: CA keys are prod keys, so the signer says prod.
provider_conf() { # KEYSTORE
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
provider_conf "$ROOT_KS" >root.cnf
provider_conf "$CA_KS" >signing.cnf
on_root() { OPENSSL_CONF=$WORK/root.cnf "$@"; }
on_ca() { OPENSSL_CONF=$WORK/signing.cnf "$@"; }
export CA_DIR=$WORK/ca           # the issuing CA's database (ca.cnf reads $CA_DIR)

# 1. Offline root: its own keystore, a P-384 key that signs only with SHA-384/512
#    and at most a few times in its life (issuing-CA certificates and CRLs).
"$SEALHSM" --keystore "$ROOT_KS" init "${kdf[@]}"
"$SEALHSM" --keystore "$ROOT_KS" keygen root-ca --type ec:P-384 --env prod \
    --digests sha384,sha512 --max-signatures 100 --description "offline root CA"
on_root openssl req -new -x509 -key sealhsm:root-ca -sha384 -days 7305 \
    -subj "/O=Example Corp/CN=Example Corp Code Signing Root CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out root-ca.pem
"$SEALHSM" --keystore "$ROOT_KS" cert import root-ca root-ca.pem

# 2. Issuing CA on the signing service: key generated there, only its CSR travels
#    (on removable media) to the root machine, and the certificate travels back.
"$SEALHSM" --keystore "$CA_KS" init "${kdf[@]}"
"$SEALHSM" --keystore "$CA_KS" keygen issuing-ca --type ec:P-384 --env prod \
    --digests sha384,sha512 --description "code-signing issuing CA"
on_ca openssl req -new -key sealhsm:issuing-ca -sha384 \
    -subj "/O=Example Corp/CN=Example Corp Code Signing CA 1" -out issuing-ca.csr
on_root openssl x509 -req -in issuing-ca.csr -CA root-ca.pem -CAkey sealhsm:root-ca \
    -CAserial root-ca.srl -CAcreateserial -sha384 -days 3652 \
    -extfile "$here/ca.cnf" -extensions v3_issuing_ca -out issuing-ca.pem
"$SEALHSM" --keystore "$CA_KS" cert import issuing-ca issuing-ca.pem root-ca.pem

# 3. The code-signing key (RSA-3072, as Authenticode tooling expects everywhere) and
#    its certificate from the issuing CA via `openssl ca` (database and serial in ca/).
"$SEALHSM" --keystore "$CA_KS" keygen codesign --type rsa:3072 --env prod \
    --digests sha256,sha384,sha512 --description "release code signing"
on_ca openssl req -new -key sealhsm:codesign -subj "/O=Example Corp/CN=Example Corp Releases" \
    -out codesign.csr
mkdir -p "$CA_DIR/newcerts" && : >"$CA_DIR/index.txt" && echo 1000 >"$CA_DIR/serial"
on_ca openssl ca -batch -config "$here/ca.cnf" -notext \
    -cert issuing-ca.pem -keyfile sealhsm:issuing-ca \
    -extensions v3_codesign -days 365 -in codesign.csr -out codesign.pem
"$SEALHSM" --keystore "$CA_KS" cert import codesign codesign.pem issuing-ca.pem
# The key's policy expires with its certificate: no signing after not-after.
"$SEALHSM" --keystore "$CA_KS" policy codesign \
    --not-after "$(date -u -d "$(openssl x509 -in codesign.pem -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)"
"$SEALHSM" --keystore "$CA_KS" show codesign

# 4. Checks a relying party (or the release pipeline) makes on the certificate:
#    code signing only, digitalSignature, at most 460 days.
openssl x509 -in codesign.pem -noout -ext extendedKeyUsage,keyUsage,basicConstraints |
    tee codesign-ext.txt
grep -q 'Code Signing' codesign-ext.txt
start=$(date -u -d "$(openssl x509 -in codesign.pem -noout -startdate | cut -d= -f2)" +%s)
end=$(date -u -d "$(openssl x509 -in codesign.pem -noout -enddate | cut -d= -f2)" +%s)
days=$(((end - start) / 86400))
echo "codesign.pem is valid for $days days"
[ "$days" -le 460 ]

# 5. The keystore now serves the certificate with the key: programs that take
#    -signer sealhsm:codesign (example 4) get it from there.
on_ca openssl storeutl -certs sealhsm:codesign | openssl x509 -out stored-codesign.pem
cmp <(openssl x509 -in stored-codesign.pem -outform DER) <(openssl x509 -in codesign.pem -outform DER)

# 6. The chain verifies with stock openssl: root as trust anchor, issuing CA untrusted.
OPENSSL_CONF=/dev/null openssl verify -x509_strict -CAfile root-ca.pem \
    -untrusted issuing-ca.pem codesign.pem
echo "OK: codesign.pem (codeSigning, $days days) chains to root-ca.pem via issuing-ca.pem"
