#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Ships new sealhsm audit records to a JSONL log file that a log shipper (Filebeat,
# Fluent Bit, Vector, rsyslog imfile) tails to central monitoring. Run it from a
# systemd timer or cron as the keystore's user; it remembers the last shipped
# sequence number in STATEFILE and exports from the next one (--since is inclusive).
#
# usage: ship-audit.sh LOGFILE STATEFILE
#   keystore and PIN as for any sealhsm reader command: --keystore/$SEALHSM_KEYSTORE,
#   $SEALHSM_PIN or, for a timer, SEALHSM_PIN_FILE=/run/secrets/sealhsm-pin here.
#   SEALHSM=path/to/sealhsm (default: sealhsm on PATH), PYTHON (default: python3)
#
# Delivery is at least once: if the machine dies between appending and saving the
# state, the next run ships those records again - deduplicate on "seq" downstream.
# Records are never skipped, and the collector can check the chain (prev_hash).
set -euo pipefail
[ $# -eq 2 ] || { sed -n '3,16p' "$0" >&2; exit 1; }
log=$1 state=$2
SEALHSM=${SEALHSM:-sealhsm}
PYTHON=${PYTHON:-python3}
pin=()
[ -n "${SEALHSM_PIN_FILE:-}" ] && pin=(--pin-file "$SEALHSM_PIN_FILE")

last=0
[ -s "$state" ] && last=$(cat "$state")
tmp=$(mktemp "$log.XXXXXX")
trap 'rm -f "$tmp"' EXIT
"$SEALHSM" audit export "${pin[@]}" --since "$((last + 1))" --format jsonl >"$tmp"
[ -s "$tmp" ] || exit 0
seq=$(tail -n 1 "$tmp" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["seq"])')
cat "$tmp" >>"$log"
sync "$log"                                   # the records first, then the progress
echo "$seq" >"$state.new" && mv "$state.new" "$state"
echo "ship-audit: records $((last + 1))..$seq appended to $log"
