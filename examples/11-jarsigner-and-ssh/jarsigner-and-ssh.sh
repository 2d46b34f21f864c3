#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 11 - PKCS#11: Java's jarsigner signs a jar, git signs a commit through
# ssh-agent, both with keystore keys and through sealhsm-pkcs11.so.
#
# Seed practices: "install the middleware (drivers, libraries)", "never export
# private keys", "access logs every time a key is used".
#
# Shows: the same keystore serves programs that speak PKCS#11 instead of OpenSSL.
# jarsigner loads the module through SunPKCS11 (a three-line config file, the user
# PIN as -storepass) and signs with the key whose certificate was imported with
# `sealhsm cert import`; `jarsigner -verify -strict` checks it against a truststore
# holding only the demo CA. A private ssh-agent loads the module (`ssh-add -s`),
# git signs a commit with gpg.format=ssh, and `git verify-commit` checks it against
# an allowed-signers file. Every signature is in the audit log, naming the program.
#
# Run:  bash jarsigner-and-ssh.sh      (needs a JDK, OpenSSH and git)
#   SEALHSM=path/to/sealhsm            the admin tool (default: sealhsm on PATH)
#   SEALHSM_PROVIDER_DIR=dir           where sealhsm.so is (default: OpenSSL's modulesdir);
#                                      the provider makes the demo certificates
#   SEALHSM_PKCS11=path                sealhsm-pkcs11.so (default: p11-kit's module dir)
#   SSH_AGENT=path                     the ssh-agent to start (default: ssh-agent)
#   WORK=dir                           scratch dir for the keystore (default: mktemp -d)
#   SEALHSM_DEMO_FAST_KDF=1            weak Argon2 parameters, for quick demos/tests only
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# SEALHSM, SEALHSM_PROVIDER_DIR, WORK (we run in it) and kdf (init's Argon2id options)
# come from the setup all examples share:
# shellcheck source=examples/common.sh
. "$here/../common.sh"
SEALHSM_PKCS11=${SEALHSM_PKCS11:-$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null)/sealhsm-pkcs11.so}
SSH_AGENT=${SSH_AGENT:-ssh-agent}
[ -f "$SEALHSM_PKCS11" ] || { echo "no PKCS#11 module '$SEALHSM_PKCS11': set SEALHSM_PKCS11" >&2; exit 1; }
for p in jarsigner keytool ssh-add ssh-keygen git; do
    command -v "$p" >/dev/null || { echo "this example needs $p" >&2; exit 1; }
done
# The module finds the keystore as the tool does; a config file named by
# SEALHSM_PKCS11_CONF (keystore = DIR, or daemon = SOCKET) works too.
export SEALHSM_KEYSTORE=$WORK/keystore

# Demo PINs, deliberately not secret. For real: people type the PIN where the
# program asks (jarsigner without -storepass, ssh-add's prompt); with sealhsmd
# (daemon = SOCKET) no PIN reaches the signing host's programs at all.
export SEALHSM_SO_PIN=demo-so-pin-0000
USER_PIN=demo-user-pin-1111

# 1. The keystore is the token: its label is the token label, the first 16 hex
#    digits of its id the token serial.
SEALHSM_PIN=$USER_PIN "$SEALHSM" init --label "release signing" "${kdf[@]}"
SEALHSM_PIN=$USER_PIN "$SEALHSM" info
"$SEALHSM" keygen demo-ca --type ec:P-384 --description "demo CA (use your real CA)"
"$SEALHSM" keygen jar-signing --type rsa:3072 --digests sha256,sha384 \
    --description "Java archives"
"$SEALHSM" keygen git-signing --type ec:P-256 --digests sha256 \
    --description "git commits and tags"

# 2. The jar-signing certificate, from the demo CA (in real life: your CA, example 3),
#    made through the OpenSSL provider (its PIN from a 0600 file, as on a signing host)
#    and stored with the key.
(umask 077 && printf '%s' "$USER_PIN" >user.pin)
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
pin-source = file:$WORK/user.pin
activate = 1
CNF
(
    # the provider needs only its pin-source: no PIN in its environment
    unset SEALHSM_SO_PIN
    export OPENSSL_CONF=$WORK/openssl.cnf
    openssl req -new -x509 -key sealhsm:demo-ca -sha384 -days 3650 \
        -subj "/O=Example Corp/CN=Demo CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign" -out ca.pem
    openssl req -new -key sealhsm:jar-signing -subj "/O=Example Corp/CN=Example Corp Java" \
        -out jar-signing.csr
    openssl x509 -req -in jar-signing.csr -CA ca.pem -CAkey sealhsm:demo-ca -CAcreateserial \
        -CAserial ca.srl -sha384 -days 730 -out jar-signing.pem -extfile <(printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=codeSigning")
)
"$SEALHSM" cert import jar-signing jar-signing.pem ca.pem
rm -f user.pin # from here on, only the programs below ask for the PIN

# 3. Java: SunPKCS11 with the module; the key's alias is its label.
cat >sealhsm-pkcs11.cfg <<CFG
name = sealhsm
library = $SEALHSM_PKCS11
slotListIndex = 0
CFG
mkdir -p classes/com/example && printf 'demo payload\n' >classes/com/example/payload.txt
jar cf app.jar -C classes .
jarsigner -keystore NONE -storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11 \
    -providerArg sealhsm-pkcs11.cfg -storepass "$USER_PIN" -sigalg SHA256withRSA \
    -signedjar app-signed.jar app.jar jar-signing
rm -f truststore.p12
keytool -importcert -noprompt -alias demo-ca -file ca.pem -keystore truststore.p12 \
    -storetype PKCS12 -storepass changeit
jarsigner -verify -strict -keystore truststore.p12 -storepass changeit app-signed.jar | tee verify-jar.txt
grep -q "^jar verified\." verify-jar.txt

# 4. git with SSH signing: a private ssh-agent that may load only this module
#    (-P), the keys added with ssh-add -s (it asks for the PIN: here an askpass
#    program answers), and git configured to sign with the key's public half.
printf '#!/bin/sh\necho %s\n' "$USER_PIN" >askpass && chmod 700 askpass
rm -f agent.sock
"$SSH_AGENT" -D -a "$WORK/agent.sock" -P "$(dirname "$SEALHSM_PKCS11")/*" >agent.log 2>&1 &
agent=$!
trap 'kill $agent 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -S agent.sock ] && break; sleep 0.1; done
export SSH_AUTH_SOCK=$WORK/agent.sock
SSH_ASKPASS=$WORK/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=none ssh-add -s "$SEALHSM_PKCS11" </dev/null
ssh-add -L | grep " git-signing$" >git-signing.pub

rm -rf repo && git init -q repo && cd repo
git config user.name "Release Bot" && git config user.email release@example.org
git config gpg.format ssh
git config user.signingkey "$WORK/git-signing.pub"
echo "release@example.org namespaces=\"git\" $(cut -d' ' -f1,2 "$WORK/git-signing.pub")" >"$WORK/allowed_signers"
git config gpg.ssh.allowedSignersFile "$WORK/allowed_signers"
echo "v1.0" >VERSION && git add VERSION
git commit -q -S -m "Release 1.0"
git verify-commit HEAD 2>&1 | tee "$WORK/verify-commit.txt"
grep -q 'Good "git" signature for release@example.org' "$WORK/verify-commit.txt"
cd "$WORK"

# 5. The audit log names each program that signed.
SEALHSM_PIN=$USER_PIN "$SEALHSM" audit export --format text | grep " op=sign " | tail -n 2
echo "OK: jar signed by jarsigner (SunPKCS11) and commit signed by git (ssh-agent), both verified"
