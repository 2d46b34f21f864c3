#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 6a - TLS: `openssl s_server` with its private key in the keystore.
#
# Seed practices: "key protection" and "never export private keys", applied to a
# TLS server key; "access logs every time a key is used".
#
# Shows: a P-256 server key generated inside the keystore with batched audit (TLS
# handshakes are frequent; batched is for TLS keys only, never code signing), a
# server certificate from a demo CA, `openssl s_server -key sealhsm:tls-web`, and
# stock `openssl s_client` (no provider) completing TLS 1.3 and TLS 1.2 handshakes
# with certificate and host name verification. Every process runs under a timeout.
#
# Run:  bash s-server.sh
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

# Demo PINs, deliberately not secret. For real: the SO types the SO PIN at the
# prompt; the server's PIN comes from a root-only file (pin-source = file:...).
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111

# 1. Keys: a demo CA and the server key.
"$SEALHSM" init "${kdf[@]}"
"$SEALHSM" keygen demo-ca --type ec:P-384 --env prod --description "demo CA (use your real CA)"
"$SEALHSM" keygen tls-web --type ec:P-256 --env prod --audit batched \
    --description "TLS server key, www.example.test"

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
ossl() { OPENSSL_CONF=$WORK/openssl.cnf openssl "$@"; }

# 2. The server certificate: names localhost and 127.0.0.1, serverAuth only.
ossl req -new -x509 -key sealhsm:demo-ca -sha384 -days 3650 -subj "/O=Example Corp/CN=Demo CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out ca.pem
ossl req -new -key sealhsm:tls-web -subj "/CN=localhost" -out server.csr
ossl x509 -req -in server.csr -CA ca.pem -CAkey sealhsm:demo-ca -CAserial ca.srl -CAcreateserial \
    -days 90 -out server.pem -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1")

# 3. s_server on a free loopback port, for two connections, at most 60 s.
#    (The last audit record before it starts, to count its signatures afterwards.)
last=$("$SEALHSM" audit export --format text | tail -1 | cut -d' ' -f1)
server_pid=
trap 'if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi' EXIT
OPENSSL_CONF=$WORK/openssl.cnf timeout 60 openssl s_server -key sealhsm:tls-web -cert server.pem \
    -accept 127.0.0.1:0 -naccept 2 -www </dev/null >s_server.out 2>s_server.err &
server_pid=$!
for _ in $(seq 100); do
    grep -q '^ACCEPT' s_server.out && break
    kill -0 "$server_pid" 2>/dev/null || { cat s_server.err >&2; exit 1; }
    sleep 0.1
done
port=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' s_server.out)
echo "s_server listening on 127.0.0.1:$port"

# 4. Stock s_client, no provider: the chain and the name must verify, over TLS 1.3
#    and TLS 1.2 (each handshake is one signature by the keystore key).
for v in tls1_3 tls1_2; do
    printf 'GET / HTTP/1.0\r\n\r\n' | OPENSSL_CONF=/dev/null timeout 20 openssl s_client \
        -connect "127.0.0.1:$port" -"$v" -CAfile ca.pem -verify_hostname localhost \
        -verify_return_error -brief -ign_eof >"client-$v.out" 2>"client-$v.err"
    cat "client-$v.err"
    grep -q 'Verification: OK' "client-$v.err"
    grep -q 'HTTP/1.0 200 ok' "client-$v.out"
done
wait "$server_pid"
server_pid=

# 5. Each handshake left an audit record (batched: flushed within milliseconds).
"$SEALHSM" audit export --since "$((last + 1))" --format text | grep 'op=sign' | tee signs.txt
[ "$(grep -c 'op=sign outcome=ok.*label="tls-web"' signs.txt)" -eq 2 ]
echo "OK: s_client verified s_server (key sealhsm:tls-web) over TLS 1.3 and TLS 1.2; 2 handshake signatures audited"
