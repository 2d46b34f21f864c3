#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for the syslog daemon, for demos and CI (which have none): binds a
unix datagram socket at SOCKET and appends every message received to OUT, one per
line. Point sealhsm at it with SEALHSM_SYSLOG_SOCKET=SOCKET. Stops on SIGTERM or
SIGINT (after draining what is queued) or after --max-seconds (default 120).

usage: syslog-receiver.py SOCKET OUT [--max-seconds N]"""
import os
import select
import signal
import socket
import sys
import time


def main(argv):
    if len(argv) not in (3, 5) or (len(argv) == 5 and argv[3] != "--max-seconds"):
        sys.exit(__doc__)
    path, out = argv[1], argv[2]
    deadline = time.monotonic() + (float(argv[4]) if len(argv) == 5 else 120.0)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    with open(out, "a", encoding="utf-8", errors="replace") as f:
        while True:
            try:
                msg = sock.recv(65536)
            except BlockingIOError:
                if stop or time.monotonic() > deadline:
                    break
                select.select([sock], [], [], 0.2)
                continue
            f.write(msg.decode("utf-8", "replace").rstrip("\n") + "\n")
            f.flush()
    sock.close()
    os.unlink(path)


if __name__ == "__main__":
    main(sys.argv)
