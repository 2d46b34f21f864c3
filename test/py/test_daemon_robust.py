# SPDX-License-Identifier: Apache-2.0
"""sealhsmd against clients that misbehave and a daemon that dies (README "Production:
the signing daemon", docs/protocol.md "Limits the daemon applies").

- Garbage, a frame that does not decode, a truncated frame, a frame announcing 2 GiB,
  a client that connects and says nothing, 64 idle connections: while they are
  connected a normal signer (stock openssl through the daemon) still gets a signature
  that verifies, well within SERVE_DEADLINE (measured, not a timing assertion: the
  deadline only bounds a hang), and SIGTERM still stops the daemon cleanly.
- SIGKILL while 4 processes sign: every signature a client received verifies and has
  its audit record (tbs_hash), `audit verify` passes, the clients fail with
  `sealhsm: daemon: ...`, and sign again once the daemon is restarted.
- nginx with several worker processes serves TLS with a key through the daemon, and
  every worker answers and signs (audited as program nginx, via the daemon)."""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

import conftest
from conftest import ASAN, OPENSSL, PROVIDER_DIR, audit_records, base_env, run

# bounds a hang; a healthy daemon answers in milliseconds
SERVE_DEADLINE = 10


def sign_through(ks, d, tmp_path, label="k", name="sig", data=None, timeout=SERVE_DEADLINE):
    """One `openssl dgst -sha256 -sign` through daemon d (only SEALHSM_DAEMON in its
    environment): (Result, signature path, data path, seconds)."""
    data_path = tmp_path / f"{name}.data"
    data_path.write_bytes(data if data is not None else os.urandom(64))
    sig = tmp_path / f"{name}.sig"
    t0 = time.monotonic()
    res = run([OPENSSL, "dgst", *ks.provider_args(), "-sha256", "-sign", f"sealhsm:{label}",
               "-out", sig, data_path], env=base_env(SEALHSM_DAEMON=d.sock), check=None,
              preload=True, timeout=timeout)
    return res, sig, data_path, time.monotonic() - t0


def verifies(ks, label, sig, data):
    pub = ks.tmp / f"{label}.pub.pem"
    if not pub.exists():
        ks.sealhsm("pubkey", label, "--out", pub)
    return run([OPENSSL, "dgst", "-sha256", "-verify", pub, "-signature", sig, data],
               check=None).rc == 0


def serves(ks, d, tmp_path, name="normal"):
    """A normal signer gets a signature that verifies (within SERVE_DEADLINE)."""
    res, sig, data, secs = sign_through(ks, d, tmp_path, name=name)
    assert res.rc == 0 and verifies(ks, "k", sig, data), res
    print(f"normal signer served in {secs * 1000:.0f} ms")  # shown with -s
    return secs


def connect(d):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(SERVE_DEADLINE)
    s.connect(str(d.sock))
    return s


def frame(payload):
    return len(payload).to_bytes(4, "big") + payload


def closed_by_daemon(s):
    """The daemon closed the connection (EOF, or a reset for unread bytes)."""
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# hand-encoded CBOR (docs/protocol.md): {0: 1, 1: 1, 2: 1} is hello for version 1
HELLO_V1 = bytes([0xa3, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01])


def bad_client(kind, d):
    """Connections of one kind of misbehaving client, left open. Returns (sockets, whether
    the daemon must close them at once)."""
    if kind == "garbage":
        s = connect(d)
        s.sendall(os.urandom(4096))
        return [s], False  # a random header: dropped, or waited for until the frame timeout
    if kind == "undecodable":
        s = connect(d)
        s.sendall(frame(b"\xff" * 64))  # a CBOR "break" is no item at all
        return [s], True
    if kind == "truncated":
        s = connect(d)
        s.sendall((1000).to_bytes(4, "big") + HELLO_V1)  # 7 of 1000 bytes, then nothing
        return [s], False
    if kind == "2GiB":
        s = connect(d)
        s.sendall((2 << 30).to_bytes(4, "big") + b"\xa0" * 1024)
        return [s], True
    if kind == "stall":
        return [connect(d)], False
    if kind == "idle64":
        return [connect(d) for _ in range(64)], False
    raise AssertionError(kind)


KINDS = ["garbage", "undecodable", "truncated", "2GiB", "stall", "idle64"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_clients_do_not_delay_a_normal_signer(ks, daemon_factory, tmp_path, kind):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    socks, dropped = bad_client(kind, d)
    try:
        serves(ks, d, tmp_path)
        if dropped:
            assert all(closed_by_daemon(s) for s in socks), f"{kind}: the daemon kept it"
        else:
            # still connected (counted by status), and not in the signer's way
            st = run([conftest.SEALHSM, "status", "--socket", d.sock, "--json"],
                     env=base_env(), check=0).out
            assert int(re.search(r'"clients":\s*(\d+)', st).group(1)) >= len(socks), st
        serves(ks, d, tmp_path, name="again")
    finally:
        # SIGTERM (in the fixture's teardown) must not wait for these
        rc = d.stop()
        for s in socks:
            s.close()
    assert rc == 0


def test_all_bad_clients_at_once(ks, daemon_factory, tmp_path):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    socks = [s for kind in KINDS for s in bad_client(kind, d)[0]]
    try:
        for i in range(3):
            serves(ks, d, tmp_path, name=f"n{i}")
    finally:
        d.stop()
        for s in socks:
            s.close()


def test_field_of_the_wrong_type_is_dropped(ks, daemon_factory, tmp_path):
    """A well-formed map whose salt length is text: the connection is dropped, the
    daemon lives on. (Before d761a73 libcbor's assertion in cbor_get_int aborted the
    daemon: found by fuzz_wire_request, seed wire_request/saltlen-not-an-integer.)"""
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    s = connect(d)
    s.sendall(frame(HELLO_V1))
    s.recv(4096)
    # {0: 6 (sign), 11: id, 23: "", 24: 32 zero bytes}
    sign = bytes([0xa4, 0x00, 0x06, 0x0b, 0x50]) + bytes(16) + bytes([0x17, 0x60, 0x18, 0x18,
                                                                      0x58, 0x20]) + bytes(32)
    s.sendall(frame(sign))
    assert closed_by_daemon(s)
    s.close()
    with pytest.raises(subprocess.TimeoutExpired):
        d.proc.wait(timeout=1)  # still running
    serves(ks, d, tmp_path)


# -- SIGKILL ---------------------------------------------------------------------------------

def test_sigkill_while_four_processes_sign(ks, daemon_factory, tmp_path):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    got = [[] for _ in range(4)]   # (data, signature) each signer received
    errors = [None] * 4

    def signer(i):
        for n in range(10000):
            res, sig, data, _ = sign_through(ks, d, tmp_path, name=f"s{i}-{n}")
            if res.rc != 0:
                errors[i] = res.errtext
                return
            got[i].append((data.read_bytes(), sig.read_bytes()))
        errors[i] = "never failed"

    threads = [threading.Thread(target=signer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while sum(map(len, got)) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.proc = None
    for t in threads:
        t.join(timeout=120)
    received = [x for g in got for x in g]
    assert len(received) >= 20, "the signers did not get going"
    # every client failed with one line naming the daemon
    for e in errors:
        assert e is not None and re.search(r"sealhsm: daemon: ", e), e
    # every signature a client received verifies and has its committed record
    pub = ks.tmp / "k.pub.pem"
    ks.sealhsm("pubkey", "k", "--out", pub)
    recs = {r["tbs_hash"]: r for r in audit_records(ks) if r["op"] == "sign"}
    for i, (data, sig) in enumerate(received):
        (tmp_path / "chk.data").write_bytes(data)
        (tmp_path / "chk.sig").write_bytes(sig)
        assert verifies(ks, "k", tmp_path / "chk.sig", tmp_path / "chk.data"), i
        r = recs.get(hashlib.sha256(data).hexdigest())
        assert r is not None and r["outcome"] == "ok" and r["via"] == "daemon", \
            f"signature {i} released without its audit record"
    ks.sealhsm("audit", "verify")
    # the socket file left behind does not block a restart, and the clients sign again
    assert d.sock.exists()
    d.start()
    for i in range(4):
        serves(ks, d, tmp_path, name=f"after{i}")


# -- nginx with several workers ------------------------------------------------------------

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def children(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(p))
    return out


@pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx not installed (scripts/deps: nginx-light)")
@pytest.mark.skipif(os.geteuid() != 0, reason="nginx workers switch to user nobody")
def test_nginx_workers_sign_through_the_daemon(ks, daemon_factory, tmp_path):
    workers = 3
    ks.keygen("tls", "ec:P-256")
    # workers run as nobody: the socket is open to every local user here
    d = daemon_factory(ks, "--socket-mode", "0666")
    os.chmod(d.dir, 0o711)
    d.start()
    cert = tmp_path / "cert.pem"
    run([OPENSSL, "req", "-new", "-x509", *ks.provider_args(), "-key", "sealhsm:tls", "-subj",
         "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-days", "1", "-out", cert],
        env=base_env(SEALHSM_DAEMON=d.sock), check=0, preload=True)
    ref = tmp_path / "tls.keyref"
    ks.sealhsm("keyref", "tls", "--out", ref)
    cnf = tmp_path / "openssl.cnf"
    cnf.write_text("openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
                   "[provider_sect]\ndefault = default_sect\nsealhsm = sealhsm_sect\n"
                   "[default_sect]\nactivate = 1\n"
                   f"[sealhsm_sect]\nmodule = {PROVIDER_DIR}/sealhsm.so\ndaemon = {d.sock}\n"
                   "activate = 1\n")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(f"""daemon off;
master_process on;
worker_processes {workers};
user nobody nogroup;
pid {prefix}/nginx.pid;
error_log stderr notice;
env OPENSSL_CONF;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl reuseport;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {ref};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{ return 200 "worker=$pid\\n"; }}
    }}
}}
""")
    env = base_env(OPENSSL_CONF=cnf)
    if ASAN:
        env["LD_PRELOAD"] = conftest._asan_preload()
        # nginx never frees its configuration before exiting
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    err = tmp_path / "nginx.err"
    with open(err, "wb") as ef:
        ngx = subprocess.Popen([NGINX, "-p", prefix, "-c", conf, "-e", "stderr"], env=env,
                               stdin=subprocess.DEVNULL, stdout=ef, stderr=ef)
    try:
        deadline = time.monotonic() + 30
        while len(children(ngx.pid)) < workers or not _port_open(port):
            assert ngx.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.05)
        pids = set(children(ngx.pid))
        seen = []
        lock = threading.Lock()

        def client(n):
            for i in range(n):
                for proto in ("-tls1_3", "-tls1_2"):
                    r = run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", proto,
                             "-servername", "localhost", "-CAfile", cert,
                             "-verify_return_error", "-ign_eof", "-quiet"],
                            input="GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
                            env=base_env(OPENSSL_CONF="/dev/null"), check=None, timeout=30)
                    m = re.search(r"worker=(\d+)", r.out)
                    with lock:
                        seen.append((r.rc, int(m.group(1)) if m else None, r.err[-300:]))
        threads = [threading.Thread(target=client, args=(6,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    finally:
        ngx.send_signal(signal.SIGTERM)
        try:
            ngx.wait(timeout=30)
        except subprocess.TimeoutExpired:
            ngx.kill()
            ngx.wait()
    log = err.read_text(errors="replace")
    assert "Sanitizer" not in log and "runtime error:" not in log, log
    assert len(seen) == 48 and all(rc == 0 and w is not None for rc, w, _ in seen), seen
    answered = {w for _, w, _ in seen}
    assert answered == pids, f"workers {pids} but answers from {answered}"
    # each worker signed its handshakes through the daemon, as itself
    signs = [r for r in audit_records(ks) if r["op"] == "sign" and r["label"] == "tls"
             and r["program"] == "nginx"]
    assert {r["pid"] for r in signs} == pids, signs
    assert all(r["via"] == "daemon" and r["outcome"] == "ok" and r["user"] == "nobody"
               for r in signs), signs
    assert len(signs) >= 48


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# -- valgrind --------------------------------------------------------------------------------

@pytest.mark.skipif(ASAN, reason="valgrind cannot run ASan-instrumented code")
def test_daemon_clean_under_valgrind(ks, tmp_path):
    """The normal build's daemon under memcheck (the options of test_hardening_memory:
    any error or definite leak fails) serves signatures of each key type, a refusal, a
    status and a client that sends garbage, then exits 0 on SIGTERM."""
    from test_hardening_memory import VALGRIND

    class Valgrinded(conftest.Daemon):
        def argv(self, *extra):
            return VALGRIND + [str(a) for a in super().argv(*extra)]

    for label, type_ in (("k", "ec:P-256"), ("ed", "ed25519"), ("rsa", "rsa:2048")):
        ks.keygen(label, type_)
    ks.keygen("prod", "ec:P-256", "--env", "prod")
    d = Valgrinded(ks)
    try:
        d.start(timeout=300)
        with open(f"/proc/{d.proc.pid}/comm") as f:
            assert f.read().startswith("memcheck"), "the daemon is not under valgrind"
        data = tmp_path / "data"
        data.write_bytes(b"signed by a daemon under valgrind\n")
        for label in ("k", "ed", "rsa"):
            sig = tmp_path / f"{label}.sig"
            how = ["pkeyutl", "-sign", "-rawin", "-inkey", f"sealhsm:{label}", "-in", data,
                   "-out", sig] if label == "ed" else \
                ["dgst", "-sha256", "-sign", f"sealhsm:{label}", "-out", sig, data]
            run([OPENSSL, how[0], *ks.provider_args(), *how[1:]],
                env=base_env(SEALHSM_DAEMON=d.sock), check=0, preload=True, timeout=300)
            assert sig.stat().st_size > 0
        res, _, _, _ = sign_through(ks, d, tmp_path, label="prod", timeout=300)
        assert res.rc != 0 and "sealhsm: policy: key prod: env" in res.errtext, res
        run([conftest.SEALHSM, "status", "--socket", d.sock], env=base_env(), check=0,
            timeout=300)
        s = connect(d)
        s.sendall(frame(b"\xff" * 32))
        s.settimeout(300)
        assert closed_by_daemon(s)
        s.close()
        rc = d.stop()
        log = d.logtext()
        assert rc == 0 and not re.search(r"==\d+== ", log), log
    finally:
        d.cleanup()
