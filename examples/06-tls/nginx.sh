#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 6b - TLS: nginx with its private key in the keystore (optional: needs
# Debian's nginx, `apt-get install nginx`; not part of CI's package list).
#
# Seed practice: "install the middleware" - a server that only reads PEM key files.
#
# Shows: Debian's nginx (built against OpenSSL 3) reads `ssl_certificate_key` with
# OpenSSL's PEM reader, so a `sealhsm keyref` file works as the key file when the
# provider is active through OPENSSL_CONF in nginx's environment. The master process
# opens the keystore and logs in (PIN from a root-only file via pin-source) when it
# loads the configuration; the workers it forks sign the handshakes. Stock
# `openssl s_client` verifies the server; the audit log names nginx as the program.
#
# Found while writing this (see examples/README.md): it works with Debian 12's
# nginx 1.22 (TLS 1.2 and 1.3, several workers, batched and durable audit). Workers
# that dropped to `user` cannot reopen the root-owned keystore after fork(), so they
# keep the master's LMDB environment, which is sound while the master lives; their
# audit records name the worker's user.
#
# Run:  bash nginx.sh                  (nginx stays in the foreground, at most 60 s)
#   SEALHSM=path/to/sealhsm            the admin tool (default: sealhsm on PATH)
#   SEALHSM_PROVIDER_DIR=dir           where sealhsm.so is (default: OpenSSL's modulesdir)
#   WORK=dir                           scratch dir for the keystore (default: mktemp -d)
#   SEALHSM_DEMO_FAST_KDF=1            weak Argon2 parameters, for quick demos/tests only
#   PYTHON=interpreter                 Python 3 for the helper scripts (default: python3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

command -v nginx >/dev/null || { echo "nginx.sh: nginx is not installed (apt-get install nginx)" >&2; exit 1; }
NGINX=$(command -v nginx)
# SEALHSM, SEALHSM_PROVIDER_DIR, PYTHON, WORK (we run in it) and kdf (init's Argon2id
# options) come from the setup all examples share:
# shellcheck source=examples/common.sh
. "$here/../common.sh"
export SEALHSM_KEYSTORE=$WORK/keystore

# Demo PINs, deliberately not secret. nginx itself gets the user PIN from a file
# only root can read (step 2), never from its environment.
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111

# 1. Keys and the server certificate (as in s-server.sh).
"$SEALHSM" init "${kdf[@]}"
"$SEALHSM" keygen demo-ca --type ec:P-384 --env prod --description "demo CA (use your real CA)"
"$SEALHSM" keygen tls-nginx --type ec:P-256 --env prod --audit batched \
    --description "nginx TLS key"

# 2. The provider config nginx loads: on a real host /etc/sealhsm/nginx-openssl.cnf,
#    named in a systemd drop-in (Environment=OPENSSL_CONF=...) for nginx.service.
install -d -m 0700 secrets
printf '%s\n' "$SEALHSM_PIN" >secrets/nginx-pin && chmod 0400 secrets/nginx-pin
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
pin-source = file:$WORK/secrets/nginx-pin
environment = prod
activate = 1
CNF
ossl() { OPENSSL_CONF=$WORK/openssl.cnf openssl "$@"; }
ossl req -new -x509 -key sealhsm:demo-ca -sha384 -days 3650 -subj "/O=Example Corp/CN=Demo CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out ca.pem
ossl req -new -key sealhsm:tls-nginx -subj "/CN=localhost" -out server.csr
ossl x509 -req -in server.csr -CA ca.pem -CAkey sealhsm:demo-ca -CAserial ca.srl -CAcreateserial \
    -days 90 -out server.pem -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1")
"$SEALHSM" cert import tls-nginx server.pem ca.pem

# 3. The key file nginx reads: a key reference, no secret in it.
"$SEALHSM" keyref tls-nginx --out tls-nginx.keyref.pem
unset SEALHSM_SO_PIN SEALHSM_PIN SEALHSM_KEYSTORE

# 4. nginx.conf: the only sealhsm-specific lines are ssl_certificate_key (the key
#    reference) and `env OPENSSL_CONF` (keep it across nginx's environment cleanup).
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p nginx/logs
cat >nginx/nginx.conf <<NGX
daemon off;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log stderr notice;
env OPENSSL_CONF;
events { worker_connections 64; }
http {
    access_log $WORK/nginx/logs/access.log;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        ssl_certificate $WORK/server.pem;
        ssl_certificate_key $WORK/tls-nginx.keyref.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { return 200 "hello from nginx, key in sealhsm\n"; }
    }
}
NGX
export OPENSSL_CONF=$WORK/openssl.cnf
"$NGINX" -t -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e stderr

# 5. Start nginx (foreground, bounded), wait for the port, stop it at exit.
nginx_pid=
trap 'if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; fi' EXIT
timeout 60 "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e stderr 2>nginx.err &
nginx_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$nginx_pid" 2>/dev/null || { cat nginx.err >&2; exit 1; }
    sleep 0.1
done

# 6. Stock s_client (no provider) verifies the chain and the name, over both versions.
for v in tls1_3 tls1_2; do
    printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' | OPENSSL_CONF=/dev/null timeout 20 \
        openssl s_client -connect "127.0.0.1:$port" -servername localhost -"$v" -CAfile ca.pem \
        -verify_hostname localhost -verify_return_error -brief -ign_eof \
        >"client-$v.out" 2>"client-$v.err"
    cat "client-$v.err"
    grep -q 'Verification: OK' "client-$v.err"
    grep -q 'hello from nginx' "client-$v.out"
done
kill "$nginx_pid"
wait "$nginx_pid" || true # 143: stopped by our SIGTERM
nginx_pid=

# 7. The handshakes are in the audit log, signed by program nginx.
SEALHSM_PIN=$(cat secrets/nginx-pin) "$SEALHSM" --keystore "$WORK/keystore" audit export \
    --format text | grep 'op=sign outcome=ok.*program="nginx"' | tee nginx-signs.txt
[ "$(wc -l <nginx-signs.txt)" -ge 2 ]
echo "OK: s_client verified nginx (ssl_certificate_key = tls-nginx.keyref.pem) over TLS 1.3 and TLS 1.2; handshakes audited"
