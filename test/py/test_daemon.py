# SPDX-License-Identifier: Apache-2.0
"""sealhsmd and its clients (README: "Production: the signing daemon"; docs/protocol.md):
startup codes that leave no socket, `sealhsm status`, `--check`, a daemon that is
not there, fork and threads of one client process, the audit trail of daemon
signatures, `--groups`, `--environment`, and keystore changes the running daemon
applies. The provider end-to-end suites also run through the daemon (fixture
sealhsm_mode in conftest.py)."""
import json
import os
import re
import signal
import subprocess

import pytest

import conftest
from conftest import (BUILD, OPENSSL, SEALHSMD, USER_PIN, Signer, assert_fails, audit_records,
                      base_env, run)

PROBE = BUILD / "test" / "client" / "client_probe"


def probe(d, label, *args, input=None, timeout=120, ks=None):
    """client_probe (a signer on sealclient.h alone) through daemon d, or with d None
    embedded in keystore ks."""
    if d is None:
        return run([PROBE, "-", label, *args], env=ks.env(), input=input, timeout=timeout)
    return run([PROBE, d.sock, label, *args], env=base_env(), input=input, timeout=timeout)


def status(d, *args, check=0):
    return run([conftest.SEALHSM, "status", "--socket", d.sock, *args], env=base_env(),
               check=check)


def sign_via_daemon(ks, d, label, tmp_path, name="sig", env=None):
    """openssl dgst through daemon d; only SEALHSM_DAEMON in the environment."""
    data = tmp_path / f"{name}.data"
    data.write_bytes(os.urandom(64))
    sig = tmp_path / name
    e = env if env is not None else base_env(SEALHSM_DAEMON=d.sock)
    res = run([OPENSSL, "dgst", *ks.provider_args(), "-sha256", "-sign", f"sealhsm:{label}",
               "-out", sig, data], env=e, check=None, preload=True)
    return res, sig, data


def verifies(ks, label, sig, data):
    pub = ks.tmp / f"{label}.pub.pem"
    if not pub.exists():
        ks.sealhsm("pubkey", label, "--out", pub)
    res = run([OPENSSL, "dgst", "-sha256", "-verify", pub, "-signature", sig, data], check=None)
    return res.rc == 0 and "Verified OK" in res.out


def one_line(res, code, *needles):
    """The daemon's startup error contract: exit code, one 'sealhsm: ' line naming things."""
    return assert_fails(res, code, *needles)


# -- startup ------------------------------------------------------------------------

def test_status_text_and_json(ks, daemon_factory, tmp_path):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks, "--environment", "test").start()
    st = json.loads(status(d, "--json").out)
    assert {"version", "keystore_id", "environment", "uptime_s", "clients",
            "signatures"} <= set(st)
    assert re.fullmatch(r"[0-9a-f]{32}", st["keystore_id"])
    assert st["environment"] == "test" and st["signatures"] == 0 and st["clients"] >= 1
    assert st["keystore"] == str(ks.path.resolve())
    # the keystore id is the one key-reference files carry
    ref = ks.sealhsm("keyref", "k").out
    der = subprocess.run([OPENSSL, "asn1parse"], input=ref, capture_output=True, text=True).stdout
    assert st["keystore_id"].upper() in der.upper().replace(":", "")
    ks.keygen("t", "ec:P-256", "--env", "test")
    res, sig, data = sign_via_daemon(ks, d, "t", tmp_path)
    assert res.rc == 0, res
    text = status(d).out
    fields = dict(l.split(": ", 1) for l in text.splitlines())
    assert fields["signatures"] == "1" and fields["keystore_id"] == st["keystore_id"]
    assert fields["environment"] == "test" and int(fields["uptime_s"]) >= 0


def test_status_without_daemon_is_one_line(tmp_path):
    sock = tmp_path / "none.sock"
    res = run([conftest.SEALHSM, "status", "--socket", sock], env=base_env(), check=None)
    one_line(res, 7, f"daemon: cannot reach {sock}")


def test_check_validates_and_creates_nothing(ks, daemon_factory):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks)
    res = run(d.argv("--check"), env=base_env(SEALHSM_PIN=USER_PIN), check=0)
    assert "would serve keystore" in res.out and str(d.sock) in res.out
    assert "1 keys" in res.out
    assert not d.sock.exists()
    res = run(d.argv("--check"), env=base_env(SEALHSM_PIN="wrong-pin-0000"), check=None)
    one_line(res, 4)
    assert not d.sock.exists()


def test_startup_failures_exit_with_the_tool_codes_and_leave_no_socket(ks, daemon_factory,
                                                                       tmp_path):
    d = daemon_factory(ks)
    # no PIN anywhere (no terminal either)
    res = conftest.run_no_tty([str(a) for a in d.argv()], base_env())
    one_line(res, 3, "no user PIN")
    # wrong PIN, from a file
    pinfile = tmp_path / "pin"
    pinfile.write_text("wrong-pin-0000\n")
    res = run(d.argv("--pin-file", pinfile), env=base_env(), check=None)
    one_line(res, 4)
    # the right one from a file, a systemd credential or a descriptor works (--check)
    pinfile.write_text(USER_PIN + "\n")
    run(d.argv("--check", "--pin-file", pinfile), env=base_env(), check=0)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "pin").write_text(USER_PIN)
    run(d.argv("--check"), env=base_env(CREDENTIALS_DIRECTORY=creds), check=0)
    r, w = os.pipe()
    os.write(w, USER_PIN.encode())
    os.close(w)
    cp = subprocess.run([str(a) for a in d.argv("--check", "--pin-fd", str(r))], env=base_env(),
                        pass_fds=(r,), capture_output=True, text=True)
    os.close(r)
    assert cp.returncode == 0, cp.stderr
    # no keystore
    missing = daemon_factory(conftest.Keystore(tmp_path / "nope", tmp_path))
    res = run(missing.argv(), env=base_env(SEALHSM_PIN=USER_PIN), check=None)
    assert res.rc == 2, res
    assert len(res.err.splitlines()) == 1 and "nope" in res.err, res
    # a socket directory anyone may write to
    os.chmod(d.dir, 0o777)
    res = run(d.argv(), env=base_env(SEALHSM_PIN=USER_PIN), check=None)
    one_line(res, 7, str(d.dir), "writable by others")
    os.chmod(d.dir, 0o700)
    # a keystore directory anyone may write to
    os.chmod(ks.path, 0o777)
    res = run(d.argv(), env=base_env(SEALHSM_PIN=USER_PIN), check=None)
    one_line(res, 7, str(ks.path))
    os.chmod(ks.path, 0o700)
    assert not d.sock.exists()
    # a failed known-answer test of an algorithm the daemon runs
    res = run(d.argv(), env=base_env(SEALHSM_PIN=USER_PIN, SEALHSM_SELFTEST_CORRUPT="ed25519"),
              check=None)
    one_line(res, 6, "self-test ed25519 failed")
    # bad options are usage errors
    one_line(run(d.argv("--environment", "staging"), env=base_env(), check=None), 1,
             "--environment")
    one_line(run(d.argv("--max-clients", "0"), env=base_env(), check=None), 1, "--max-clients")
    assert not d.sock.exists()


def test_stale_socket_of_a_killed_daemon_does_not_block_restart(ks, daemon_factory, tmp_path):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    # a second daemon on a live socket is refused
    res = run(d.argv(), env=base_env(SEALHSM_PIN=USER_PIN), check=None)
    one_line(res, 7, str(d.sock), "running daemon")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    d.proc = None
    assert d.sock.exists()
    d.start()
    res, sig, data = sign_via_daemon(ks, d, "k", tmp_path)
    assert res.rc == 0 and verifies(ks, "k", sig, data), res


def test_socket_mode_and_default_path(ks, daemon_factory, tmp_path):
    import grp
    group = grp.getgrgid(1).gr_name if os.getuid() == 0 else grp.getgrgid(os.getgid()).gr_name
    d = daemon_factory(ks, "--socket-mode", "0600", "--socket-group", group).start()
    st = d.sock.stat()
    assert (st.st_mode & 0o777) == 0o600 and st.st_gid == grp.getgrnam(group).gr_gid
    d.stop()
    out = run([SEALHSMD, "--help"], check=0).out
    assert "--socket-group" in out and "--pin-file" in out
    assert run([SEALHSMD, "--version"], check=0).out.startswith("sealhsmd ")
    # $RUNTIME_DIRECTORY/sealhsm.sock when no --socket is given; status finds it
    # through $SEALHSM_SOCKET
    rt = daemon_factory(ks, env=base_env(SEALHSM_PIN=USER_PIN))
    argv = [SEALHSMD, "--foreground", "--keystore", ks.path]
    env = base_env(SEALHSM_PIN=USER_PIN, RUNTIME_DIRECTORY=rt.dir)
    proc = subprocess.Popen([str(a) for a in argv], env=env, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    sock = rt.dir / "sealhsm.sock"
    try:
        import time
        for _ in range(500):
            if sock.exists():
                break
            time.sleep(0.02)
        assert (sock.stat().st_mode & 0o777) == 0o660
        res = run([conftest.SEALHSM, "status"], env=base_env(SEALHSM_SOCKET=sock), check=0)
        assert "keystore_id: " in res.out
    finally:
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 0, err
    assert not sock.exists()


# -- clients --------------------------------------------------------------------------

def test_daemon_not_running_is_one_error_and_the_next_call_works(ks, daemon_factory,
                                                                tmp_path):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks)
    res, sig, _ = sign_via_daemon(ks, d, "k", tmp_path)
    assert res.rc != 0
    errs = conftest.openssl_errors(res.errtext)
    assert errs and all(f"sealhsm: daemon: cannot reach {d.sock}" in e for e in errs), res
    assert not sig.exists() or sig.stat().st_size == 0
    d.start()
    res, sig, data = sign_via_daemon(ks, d, "k", tmp_path)
    assert res.rc == 0 and verifies(ks, "k", sig, data), res


def test_client_reconnects_after_the_daemon_restarts(ks, daemon_factory):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    p = subprocess.Popen([str(PROBE), str(d.sock), "k", "restart"], env=base_env(),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip().endswith("ok")
        assert p.stdout.readline().strip() == "waiting"
        d.stop()
        d.start()
        out, err = p.communicate("go\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert out.strip().endswith("ok"), out


@pytest.mark.parametrize("mode", ["daemon", "embedded"])
def test_fork_child_signs_over_its_own_connection(ks, daemon_factory, mode):
    ks.keygen("k", "ed25519")
    d = daemon_factory(ks).start() if mode == "daemon" else None
    before = audit_records(ks)[-1]["seq"]
    res = probe(d, "k", "fork", ks=ks)
    assert res.rc == 0, res
    pids = [int(m) for m in re.findall(r"pid=(\d+) ok", res.out)]
    assert len(pids) == 3 and pids[0] == pids[2] != pids[1], res.out
    # through the daemon, each signer's pid comes from its own connection (SO_PEERCRED);
    # embedded, the child signs through the environment the store reopened for it
    signs = [r for r in audit_records(ks, since=before + 1) if r["op"] == "sign"]
    assert [r["pid"] for r in signs] == pids
    assert all(r["via"] == ("daemon" if d else "local") and r["outcome"] == "ok" for r in signs)


def test_threads_of_one_process_sign_concurrently(ks, daemon_factory):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    res = probe(d, "k", "threads", "8", "5")
    assert res.rc == 0, res
    assert res.out.count(" ok") == 40
    st = json.loads(status(d, "--json").out)
    assert st["signatures"] == 40
    signs = [r for r in audit_records(ks) if r["op"] == "sign"]
    assert len(signs) == 40 and all(r["via"] == "daemon" for r in signs)
    run([conftest.SEALHSM, "audit", "verify"], env=ks.env(), check=0)


def test_audit_names_the_peer_and_via_daemon(ks, daemon_factory, tmp_path):
    import pwd
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    res, sig, data = sign_via_daemon(ks, d, "k", tmp_path)
    assert res.rc == 0, res
    rec = [r for r in audit_records(ks) if r["op"] == "sign"][-1]
    assert rec["via"] == "daemon" and rec["program"] == "openssl"
    assert rec["user"] == pwd.getpwuid(os.getuid()).pw_name
    assert rec["pid"] != d.proc.pid
    unlock = [r for r in audit_records(ks) if r["op"] == "unlock" and r["pid"] == d.proc.pid]
    assert len(unlock) == 1 and unlock[0]["program"] == "sealhsmd"
    assert unlock[0]["via"] == "local"
    text = ks.sealhsm("audit", "export").out.splitlines()
    line = [l for l in text if "op=sign" in l][-1]
    assert "via=daemon" in line and 'program="openssl"' in line
    # refusals too
    ks.keygen("prod", "ec:P-256", "--env", "prod")
    res, sig, _ = sign_via_daemon(ks, d, "prod", tmp_path, name="sig2")
    assert res.rc != 0 and "sealhsm: policy: key prod: env" in res.errtext, res
    rec = [r for r in audit_records(ks) if r["op"] == "sign"][-1]
    assert rec["outcome"] == "denied" and rec["via"] == "daemon" and rec["program"] == "openssl"
    run([conftest.SEALHSM, "audit", "verify"], env=ks.env(), check=0)


def test_daemon_environment_decides_not_the_client(ks, daemon_factory, tmp_path):
    ks.keygen("prod", "ec:P-256", "--env", "prod")
    ks.keygen("dev", "ec:P-256")
    d = daemon_factory(ks).start()
    # a dev daemon: the client's SEALHSM_ENVIRONMENT does not make it prod
    res, _, _ = sign_via_daemon(ks, d, "prod", tmp_path,
                                env=base_env(SEALHSM_DAEMON=d.sock, SEALHSM_ENVIRONMENT="prod"))
    assert res.rc != 0 and "env: key is for prod" in res.errtext, res
    d.stop()
    d = daemon_factory(ks, "--environment", "prod").start()
    res, sig, data = sign_via_daemon(ks, d, "prod", tmp_path)
    assert res.rc == 0 and verifies(ks, "prod", sig, data), res
    res, _, _ = sign_via_daemon(ks, d, "dev", tmp_path, name="sig2")
    assert res.rc != 0 and "env: key is for dev" in res.errtext, res


@pytest.mark.parametrize("mode", ["embedded", "daemon"])
def test_groups_allow_and_refuse(ks, daemon_factory, tmp_path, mode):
    mine = os.getgid()
    other = max(os.getgroups() + [mine]) + 4242
    ks.keygen("mine", "ec:P-256", "--groups", f"{other},{mine}")
    ks.keygen("other", "ec:P-256", "--groups", str(other))
    shown = json.loads(ks.sealhsm("show", "other", "--json").out)["policy"]["groups"]
    assert shown == [other]
    signer = Signer(ks)
    if mode == "daemon":
        ks.daemon = daemon_factory(ks).start().sock
    try:
        signer.ok("mine")
        signer.refused("other", "groups")
    finally:
        ks.daemon = None
    rec = [r for r in audit_records(ks) if r["op"] == "sign"][-1]
    assert rec["via"] == ("daemon" if mode == "daemon" else "local")
    # --like copies the groups; 'any' drops them
    ks.keygen("like", "ec:P-256", "--like", "other")
    assert json.loads(ks.sealhsm("show", "like", "--json").out)["policy"]["groups"] == [other]
    ks.sealhsm("policy", "other", "--groups", "any", so=True)
    assert json.loads(ks.sealhsm("show", "other", "--json").out)["policy"]["groups"] is None
    signer.ok("other")


def test_tool_changes_apply_at_the_next_operation(ks, daemon_factory, tmp_path):
    ks.keygen("a", "ec:P-256")
    d = daemon_factory(ks).start()
    ks.daemon = d.sock
    signer = Signer(ks)
    try:
        signer.ok("a")
        # a key made while the daemon runs
        ks.keygen("b", "rsa:2048")
        signer.ok("b")
        # disable / enable
        ks.sealhsm("disable", "a", so=True)
        signer.refused("a", "key is disabled")
        ks.sealhsm("enable", "a", so=True)
        signer.ok("a")
        # a policy change
        ks.sealhsm("policy", "a", "--digests", "sha384", so=True)
        signer.refused("a", "digests")
        signer.ok("a", digest="sha384")
        # a certificate imported while it runs is served with the key
        cert = tmp_path / "b.pem"
        ks.openssl("req", "-new", "-x509", "-key", "sealhsm:b", "-subj", "/CN=b", "-days", "1",
                   "-out", cert)
        ks.sealhsm("cert", "import", "b", cert, so=True)
        res = ks.openssl("storeutl", "-certs", "sealhsm:b")
        assert "Total found: 1" in res.out and "BEGIN CERTIFICATE" in res.out, res
        # revoke, destroy
        ks.sealhsm("revoke", "b", "--reason", "test", so=True)
        signer.refused("b", "revoked")
    finally:
        ks.daemon = None


def test_uri_keystore_must_be_the_daemons(ks, daemon_factory, tmp_path):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    other = tmp_path / "other-ks"
    res, sig, _ = sign_via_daemon(ks, d, f"object=k;keystore={other}", tmp_path)
    assert res.rc != 0
    errs = conftest.openssl_errors(res.errtext)
    assert any(str(other) in e and str(ks.path) in e and "daemon" in e for e in errs), res
    res, sig, data = sign_via_daemon(ks, d, f"object=k;keystore={ks.path}", tmp_path,
                                     name="sig2")
    assert res.rc == 0, res


def test_destroyed_key_is_refused_by_name_and_audited_as_the_peer(ks, daemon_factory,
                                                                  tmp_path):
    ks.keygen("old", "ec:P-256")
    ks.sealhsm("destroy", "old", so=True)       # needs the keystore to itself
    d = daemon_factory(ks).start()
    res, sig, _ = sign_via_daemon(ks, d, "old", tmp_path)
    assert res.rc != 0 and "key old was destroyed" in res.errtext, res
    assert not sig.exists() or sig.stat().st_size == 0
    rec = [r for r in audit_records(ks) if r["op"] == "sign"][-1]
    assert rec["outcome"] == "denied" and rec["via"] == "daemon" and rec["program"] == "openssl"


def test_detaches_once_serving_unless_foreground(ks, tmp_path):
    import tempfile
    import time
    sockdir = tempfile.mkdtemp(prefix="shd", dir="/tmp")
    sock = f"{sockdir}/s.sock"
    log = tmp_path / "bg.log"
    with open(log, "wb") as f:
        cp = subprocess.run([str(SEALHSMD), "--keystore", str(ks.path), "--socket", sock],
                            env=base_env(SEALHSM_PIN=USER_PIN), stdout=f, stderr=f,
                            stdin=subprocess.DEVNULL, timeout=60)
    pid = None
    try:
        # the command returns with the startup's code once the socket serves
        assert cp.returncode == 0, log.read_text()
        assert os.path.exists(sock)
        pid = int(re.search(r"pid (\d+) serving", log.read_text()).group(1))
        run([conftest.SEALHSM, "status", "--socket", sock], env=base_env(), check=0)
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            for _ in range(1000):
                if "stopped after" in log.read_text():
                    break
                time.sleep(0.02)
    assert "stopped after" in log.read_text()
    assert not os.path.exists(sock)
    # a failed start in the background still reports its code (the unlock runs in the
    # detached process)
    cp = subprocess.run([str(SEALHSMD), "--keystore", str(ks.path), "--socket", sock],
                        env=base_env(SEALHSM_PIN="wrong-pin-0000"), capture_output=True,
                        stdin=subprocess.DEVNULL, timeout=60)
    subprocess.run(["rm", "-rf", sockdir])
    assert cp.returncode == 4, cp
    assert not os.path.exists(sock)


def frame(payload):
    return len(payload).to_bytes(4, "big") + payload


def read_frame(s):
    """One response frame's payload, or None when the daemon closed the connection."""
    head = b""
    while len(head) < 4:
        chunk = s.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    n = int.from_bytes(head, "big")
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return body


# hand-encoded CBOR (docs/protocol.md): {0: 1, 1: 1, 2: 1} is hello for version 1
HELLO_V1 = bytes([0xa3, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01])
HELLO_V5_7 = bytes([0xa3, 0x00, 0x01, 0x01, 0x05, 0x02, 0x07])
STATUS = bytes([0xa1, 0x00, 0x02])


def test_protocol_hello_comes_first_and_versions_are_negotiated(ks, daemon_factory):
    import socket
    d = daemon_factory(ks, "--idle-timeout", "1").start()

    def conn():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(str(d.sock))
        return s
    # a request before the hello: dropped without an answer
    s = conn()
    s.sendall(frame(STATUS))
    assert read_frame(s) is None
    s.close()
    # versions the daemon does not speak: status 1 naming both ranges, then closed
    s = conn()
    s.sendall(frame(HELLO_V5_7))
    resp = read_frame(s)
    assert resp is not None and resp[:3] == bytes([0xa2, 0x00, 0x01]), resp
    assert b"5..7" in resp and b"1..1" in resp
    assert read_frame(s) is None
    s.close()
    # version 1: status 0, the version chosen, then requests are answered
    s = conn()
    s.sendall(frame(HELLO_V1))
    resp = read_frame(s)
    assert resp is not None and resp[1:3] == bytes([0x00, 0x00]), resp
    s.sendall(frame(STATUS))
    resp = read_frame(s)
    assert resp is not None and resp[1:3] == bytes([0x00, 0x00]) and b"0.1" in resp
    # an op of a newer client: status 1, and the connection stays usable
    s.sendall(frame(bytes([0xa1, 0x00, 0x18, 77])))
    resp = read_frame(s)
    assert resp is not None and resp[:3] == bytes([0xa2, 0x00, 0x01]), resp
    assert b"unknown operation" in resp
    # --idle-timeout: a connection without a request is closed
    assert read_frame(s) is None
    s.close()
    assert "idle" in d.logtext()


def test_max_clients(ks, daemon_factory, tmp_path):
    import socket
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks, "--max-clients", "2").start()
    held = []
    for _ in range(2):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(str(d.sock))
        s.sendall(frame(HELLO_V1))
        assert read_frame(s) is not None
        held.append(s)
    # a third is closed at once, and its signer gets the daemon error, no signature
    res, sig, _ = sign_via_daemon(ks, d, "k", tmp_path)
    assert res.rc != 0 and "sealhsm: daemon: " in res.errtext, res
    assert not sig.exists() or sig.stat().st_size == 0
    assert "--max-clients" in d.logtext()
    held.pop().close()
    import time
    for _ in range(100):        # the daemon notices the close at its next poll
        res, sig, data = sign_via_daemon(ks, d, "k", tmp_path, name="sig2")
        if res.rc == 0:
            break
        time.sleep(0.05)
    assert res.rc == 0 and verifies(ks, "k", sig, data), res
    for s in held:
        s.close()


def test_large_eddsa_message_goes_whole(ks, daemon_factory, tmp_path):
    ks.keygen("ed", "ed25519")
    d = daemon_factory(ks).start()
    data = tmp_path / "big.bin"
    data.write_bytes(os.urandom(12 << 20))
    sig = tmp_path / "big.sig"
    run([OPENSSL, "pkeyutl", "-sign", *ks.provider_args(), "-rawin", "-inkey", "sealhsm:ed",
         "-in", data, "-out", sig], env=base_env(SEALHSM_DAEMON=d.sock), check=0, preload=True)
    ks.sealhsm("pubkey", "ed", "--out", tmp_path / "ed.pub")
    run([OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "ed.pub", "-rawin",
         "-in", data, "-sigfile", sig], check=0)
