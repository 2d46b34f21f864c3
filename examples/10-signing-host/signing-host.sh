#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 10 - a signing host: sealhsmd holds the keys, signers hold nothing.
#
# Seed practices: "keep private keys in an HSM, never on the build machine" and
# "separate the duty of holding keys from the duty of signing" - a process boundary,
# as real HSMs (and ssh-agent, gpg-agent) draw it.
#
# Shows: the layout of sealhsmd.service (systemd/sealhsmd.service.in, installed by
# `cmake --install`) set up by hand in a scratch root, so it runs where systemd is not
# PID 1 (containers, CI): a service account owns the keystore (0700) and reads the PIN
# from a credentials file as systemd's LoadCredential= would hand it over; the daemon
# unlocks once and serves a socket that only its group may open. A signer running as
# another user (`nobody` plus that group, via setpriv) signs with stock `openssl` and
# an openssl.cnf that names only the socket: it has no PIN, cannot read the keystore,
# and is named by the kernel (SO_PEERCRED) in the audit log - user, pid, program,
# via=daemon. A user without the group cannot even connect. The signature verifies
# with stock openssl; SIGTERM stops the daemon cleanly.
#
# On a systemd host the same is (see README, "Production: the signing daemon"):
#   useradd --system --user-group --home-dir /var/lib/sealhsm --shell /usr/sbin/nologin sealhsm
#   install -d -m 0700 /etc/sealhsm && (umask 077; printf %s "$PIN" >/etc/sealhsm/pin)
#   systemctl start sealhsmd            # StateDirectory= makes /var/lib/sealhsm (0700)
#   usermod -aG sealhsm builder         # who may sign: members of the socket's group
#
# Needs root (it creates a throwaway service account, removed at the end) and
# setpriv (util-linux).
#
# Run:  sudo bash signing-host.sh
#   SEALHSM=path/to/sealhsm            the admin tool (default: sealhsm on PATH)
#   SEALHSMD=path/to/sealhsmd          the daemon (default: sealhsmd on PATH)
#   SEALHSM_PROVIDER_DIR=dir           where sealhsm.so is (default: OpenSSL's modulesdir)
#   WORK=dir                           scratch dir for the artifacts (default: mktemp -d)
#   SEALHSM_DEMO_FAST_KDF=1            weak Argon2 parameters, for quick demos/tests only
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=examples/common.sh
. "$here/../common.sh"

SEALHSMD=${SEALHSMD:-$(command -v sealhsmd || true)}
[ -x "${SEALHSMD:-/nonexistent}" ] || { echo "no sealhsmd '$SEALHSMD': set SEALHSMD" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "signing-host.sh: run as root (it creates a throwaway service account)" >&2; exit 1; }
command -v setpriv >/dev/null || { echo "signing-host.sh: needs setpriv (util-linux)" >&2; exit 1; }

# The host: a scratch root (/tmp, so that every user may traverse it) laid out like the
# installed system. Programs are copied in, as `cmake --install` would put them where
# every user can run them; a build tree under a private home directory is not.
HOST=$(mktemp -d /tmp/sealhsm-signing-host.XXXXXX)
chmod 0755 "$HOST"
SVC=sealhsm-ex$$ # the service account (the unit's User=/Group=sealhsm)
DAEMON_PID=
cleanup() {
    if [ -n "$DAEMON_PID" ]; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" || true
    fi
    if id "$SVC" >/dev/null 2>&1; then userdel "$SVC" || true; fi
    if getent group "$SVC" >/dev/null; then groupdel "$SVC" || true; fi
    rm -rf "$HOST"
}
trap cleanup EXIT
install -d -m 0755 "$HOST/bin" "$HOST/sbin" "$HOST/lib" "$HOST/etc/sealhsm" "$HOST/run" "$HOST/var/lib"
install -m 0755 "$(command -v "$SEALHSM")" "$HOST/bin/sealhsm"
install -m 0755 "$SEALHSMD" "$HOST/sbin/sealhsmd"
install -m 0644 "$SEALHSM_PROVIDER_DIR/sealhsm.so" "$HOST/lib/sealhsm.so"
install -m 0755 "$(command -v openssl)" "$HOST/bin/openssl"

# 1. The service account: no login, no home, its own group.
useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$SVC"
SVC_GID=$(id -g "$SVC")
as_svc() { setpriv --reuid="$SVC" --regid="$SVC" --init-groups -- "$@"; }

# 2. The PIN: root's file (/etc/sealhsm/pin), which systemd copies for the service alone
#    ($CREDENTIALS_DIRECTORY/pin, LoadCredential=pin:/etc/sealhsm/pin). Demo values.
export SEALHSM_SO_PIN=demo-so-pin-0000
(umask 077 && printf '%s' demo-user-pin-1111 >"$HOST/etc/sealhsm/pin")
CRED=$HOST/run/credentials/sealhsmd.service
install -d -m 0500 -o "$SVC" -g "$SVC" "$HOST/run/credentials" "$CRED"
install -m 0400 -o "$SVC" -g "$SVC" "$HOST/etc/sealhsm/pin" "$CRED/pin"

# 3. The keystore, made by the service account in its state directory
#    (StateDirectory=sealhsm, StateDirectoryMode=0700).
KS=$HOST/var/lib/sealhsm
install -d -m 0700 -o "$SVC" -g "$SVC" "$KS"
as_svc "$HOST/bin/sealhsm" --keystore "$KS" init "${kdf[@]}" --pin-file "$CRED/pin"
as_svc "$HOST/bin/sealhsm" --keystore "$KS" keygen release --type ec:P-256 --env prod \
    --description "release signing, served by sealhsmd"
as_svc "$HOST/bin/sealhsm" --keystore "$KS" pubkey release --pin-file "$CRED/pin" >release.pub.pem
unset SEALHSM_SO_PIN

# 4. The daemon, as the unit starts it: RuntimeDirectory=sealhsm (0750) holds the socket,
#    0660 and of the service's group; --environment prod: the daemon's, not the signer's.
RUN=$HOST/run/sealhsm
install -d -m 0750 -o "$SVC" -g "$SVC" "$RUN"
SOCK=$RUN/sealhsm.sock
# (setpriv and env exec, so $! is the daemon itself)
setpriv --reuid="$SVC" --regid="$SVC" --init-groups -- \
    env -i PATH=/usr/bin:/bin RUNTIME_DIRECTORY="$RUN" CREDENTIALS_DIRECTORY="$CRED" \
    "$HOST/sbin/sealhsmd" --keystore "$KS" --environment prod --foreground 2>daemon.log &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { cat daemon.log >&2; echo "FAIL: sealhsmd did not start" >&2; exit 1; }
ls -l "$SOCK"

# 5. The signer's whole configuration: the module and the socket. No keystore, no PIN.
cat >"$HOST/etc/sealhsm/openssl-signer.cnf" <<CNF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
sealhsm = sealhsm_sect
[default_sect]
activate = 1
[sealhsm_sect]
module = $HOST/lib/sealhsm.so
daemon = $SOCK
activate = 1
CNF
chmod 0644 "$HOST/etc/sealhsm/openssl-signer.cnf"
cp "$HOST/etc/sealhsm/openssl-signer.cnf" openssl-signer.cnf
echo "release 1.0 build output" >artifact.bin

# The signer: nobody, plus the socket's group (a build user added to group sealhsm),
# with an environment that holds nothing of the keystore's.
signer() { # [--no-group] command...: runs as nobody; stdin, stdout from the caller
    local groups=(--groups "$SVC_GID")
    [ "$1" = --no-group ] && { groups=(--clear-groups); shift; }
    setpriv --reuid=nobody --regid=nogroup "${groups[@]}" -- \
        env -i PATH="$HOST/bin:/usr/bin:/bin" OPENSSL_CONF="$HOST/etc/sealhsm/openssl-signer.cnf" \
        HOME=/nonexistent "$@"
}

# 6. What the signer cannot do: read the keystore or the PIN, even knowing their paths.
if signer ls "$KS" >/dev/null 2>&1; then
    echo "FAIL: the signer can list the keystore" >&2
    exit 1
fi
for f in "$KS/data.mdb" "$CRED/pin" "$HOST/etc/sealhsm/pin"; do
    if signer cat "$f" >/dev/null 2>&1; then
        echo "FAIL: the signer can read $f" >&2
        exit 1
    fi
done
if signer "$HOST/bin/sealhsm" --keystore "$KS" list >/dev/null 2>signer-list.err; then
    echo "FAIL: the signer opened the keystore" >&2
    exit 1
fi
cat signer-list.err

# 7. It signs through the daemon with stock openssl, and the signature verifies.
signer openssl dgst -sha256 -sign sealhsm:release <artifact.bin >artifact.sig
OPENSSL_CONF=/dev/null openssl dgst -sha256 -verify release.pub.pem -signature artifact.sig artifact.bin

# 8. Without the socket's group the same signer cannot connect.
if signer --no-group openssl dgst -sha256 -sign sealhsm:release <artifact.bin >/dev/null 2>refused.err; then
    echo "FAIL: a signer outside the socket's group signed" >&2
    exit 1
fi
grep -o 'sealhsm: daemon: cannot reach [^:]*: .*' refused.err | head -1 | tee refused.txt
[ -s refused.txt ]

# 9. The audit log names the signer as the kernel saw it; the log verifies.
as_svc "$HOST/bin/sealhsm" --keystore "$KS" audit export --format jsonl --pin-file "$CRED/pin" \
    >audit.jsonl
grep '"op":"sign"' audit.jsonl | tail -1 | tee signer-record.json
grep -q '"user":"nobody".*"program":"openssl","via":"daemon"' signer-record.json
as_svc "$HOST/bin/sealhsm" --keystore "$KS" audit verify --pin-file "$CRED/pin"

# 10. SIGTERM: no new connections, requests in flight finish, exit 0.
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
cat daemon.log
[ ! -e "$SOCK" ] || ! signer openssl dgst -sha256 -sign sealhsm:release <artifact.bin >/dev/null 2>&1
echo "OK: nobody (no PIN, no keystore access) signed through sealhsmd; signature verifies; audited as user nobody, program openssl, via daemon; refused without the socket's group"
