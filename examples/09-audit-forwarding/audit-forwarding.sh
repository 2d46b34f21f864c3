#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Example 9 - audit forwarding: the audit log shipped to central monitoring.
#
# Seed practices: "logging and auditing, forward to central monitoring", "access
# logs every time a key is used", "audits of controls".
#
# Shows: two channels. (a) JSONL: ship-audit.sh appends `sealhsm audit export
# --format jsonl --since LAST+1` to a log file and remembers the last sequence number,
# run here twice around more signatures - the shipped file has every record exactly
# once, in order, identical to a full export. (b) syslog: a keystore initialized
# with `sealhsm init --syslog` makes every program using it (the tool, openssl through
# the provider) send each committed record to the local syslog socket, facility
# authpriv, notice for ok and warning for refusals. CI has no syslog daemon, so
# syslog-receiver.py stands in for it on a socket in the work dir, reached through
# SEALHSM_SYSLOG_SOCKET. Finally `sealhsm audit verify` checks chain and MACs.
#
# For real: leave SEALHSM_SYSLOG_SOCKET unset (records go to /dev/log) and let
# rsyslog forward them over TLS, e.g. in /etc/rsyslog.d/60-sealhsm.conf:
#   if $programname == 'sealhsm' then @@siem.example.com:6514
# and run ship-audit.sh from a systemd timer with SEALHSM_PIN_FILE set.
#
# Run:  bash audit-forwarding.sh       (needs python3)
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
export SEALHSM_KEYSTORE=$WORK/keystore SEALHSM PYTHON # ship-audit.sh uses both

# Demo PINs, deliberately not secret. For real the shipper reads the user PIN from a
# file (SEALHSM_PIN_FILE for ship-audit.sh) and the SO types the SO PIN.
export SEALHSM_SO_PIN=demo-so-pin-0000 SEALHSM_PIN=demo-user-pin-1111

# 1. The syslog stand-in, stopped when this script ends.
export SEALHSM_SYSLOG_SOCKET=$WORK/syslog.sock
"$PYTHON" "$here/syslog-receiver.py" "$SEALHSM_SYSLOG_SOCKET" syslog.log --max-seconds 120 &
receiver=$!
trap 'kill "$receiver" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$SEALHSM_SYSLOG_SOCKET" ] && break; sleep 0.05; done
[ -S "$SEALHSM_SYSLOG_SOCKET" ]

# 2. A keystore that copies every record to syslog, and a signing key.
"$SEALHSM" init "${kdf[@]}" --syslog
"$SEALHSM" keygen build-signing --type ec:P-256 --env prod --digests sha384,sha512 \
    --description "build signing"
"$SEALHSM" pubkey build-signing --out build-signing.pub.pem
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
sign() { # DIGEST FILE
    OPENSSL_CONF=$WORK/openssl.cnf openssl dgst "-$1" -sign sealhsm:build-signing -out "$2.sig" "$2"
}

# 3. Some builds get signed; the shipper runs (as its timer would)...
for n in 1 2; do echo "build $n" >"build-$n.bin" && sign sha384 "build-$n.bin"; done
bash "$here/ship-audit.sh" audit.jsonl ship.state

# 4. ...more builds, one refused by policy (SHA-256 is not allowed for this key),
#    and the shipper again: it picks up where it left off.
echo "build 3" >build-3.bin && sign sha384 build-3.bin
echo "build 4" >build-4.bin
if sign sha256 build-4.bin 2>refused.err; then echo "FAIL: sha256 allowed" >&2; exit 1; fi
grep -o 'sealhsm: policy:.*' refused.err
rm -f build-4.bin.sig # openssl created the output before the refusal
bash "$here/ship-audit.sh" audit.jsonl ship.state
bash "$here/ship-audit.sh" audit.jsonl ship.state # nothing new but its own unlock

# 5. The shipped file: every record once, in order, as a full export has them.
shipped=$(wc -l <audit.jsonl)
"$SEALHSM" audit export --format jsonl | head -n "$shipped" | cmp - audit.jsonl
"$PYTHON" - audit.jsonl <<'PY'
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
assert seqs == list(range(1, len(seqs) + 1)), "gap or duplicate in the shipped log"
PY

# 6. The syslog copy: stop the receiver (it drains its queue first), then every
#    signature record of the log is there, the refusal with severity warning (<84>).
kill "$receiver"
wait "$receiver" # the receiver exits 0 after draining
grep 'op=sign' syslog.log
"$PYTHON" - audit.jsonl syslog.log <<'PY'
import json, re, sys
signs = {r["seq"]: r for r in map(json.loads, open(sys.argv[1])) if r["op"] == "sign"}
lines = {int(m.group(1)): l for l in open(sys.argv[2])
         if (m := re.search(r" sealhsm\[\d+\]: audit seq=(\d+) op=sign ", l))}
assert signs and set(signs) <= set(lines), f"sign records missing from syslog: {set(signs) - set(lines)}"
for seq, r in signs.items():
    want = "<85>" if r["outcome"] == "ok" else "<84>"
    assert lines[seq].startswith(want) and f"outcome={r['outcome']}" in lines[seq], lines[seq]
PY

# 7. The log itself verifies (hash chain and MACs).
"$SEALHSM" audit verify
for n in 1 2 3; do
    OPENSSL_CONF=/dev/null openssl dgst -sha384 -verify build-signing.pub.pem \
        -signature "build-$n.bin.sig" "build-$n.bin" >/dev/null
done
echo "OK: $shipped audit records shipped to audit.jsonl without gaps, $(grep -c 'op=sign' syslog.log) sign records in the syslog copy, audit verify intact"
