#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What did key LABEL sign since SINCE? Reads `sealhsm audit export --format jsonl`
on stdin and prints one line per successful signature by that key: time, program,
pid, OS user, digest and the hash of what was signed. With FILE arguments, also
names each file whose digest matches a signed hash (the artifacts you still hold).

usage: sealhsm audit export --format jsonl | signed-since.py LABEL SINCE [FILE...]
       SINCE: RFC 3339 date or UTC date-time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z
exit: 0 with the list (possibly empty), 1 on bad usage or input."""
import hashlib
import json
import sys
from datetime import datetime, timezone

# audit digest names -> hashlib names; "none" (EdDSA) records the SHA-256 of the message
HASHES = {"sha224": "sha224", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512",
          "sha3-256": "sha3_256", "sha3-384": "sha3_384", "sha3-512": "sha3_512",
          "none": "sha256"}


def parse_time(text):
    text = text.strip()
    if len(text) == 10:  # a date means 00:00:00Z
        text += "T00:00:00Z"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    label, since, files = argv[1], parse_time(argv[2]), argv[3:]
    digests = {}  # (digest name, hex) -> file names
    for name in files:
        with open(name, "rb") as f:
            data = f.read()
        for alg, lib in HASHES.items():
            digests.setdefault((alg, hashlib.new(lib, data).hexdigest()), []).append(name)
    count = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        r = json.loads(line)
        if r["op"] != "sign" or r["label"] != label or r["outcome"] != "ok":
            continue
        if parse_time(r["time"]) < since:
            continue
        count += 1
        match = digests.get((r["digest"], r["tbs_hash"] or ""), ["-"])
        print(f'{r["time"]}  seq={r["seq"]}  program={r["program"]}  pid={r["pid"]}  '
              f'user={r["user"]}  digest={r["digest"]}  tbs_hash={r["tbs_hash"]}  '
              f'file={",".join(match)}')
    print(f"{count} signature(s) by {label} since {argv[2]}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
