# SPDX-License-Identifier: Apache-2.0
"""What the process boundary of sealhsmd buys (README "Production: the signing daemon",
docs/security.md), tried as an attacker who controls the signing process would.

The signer is another user (`nobody`, switched to with setpriv) with no PIN and no
access to the keystore (it lives under root's private pytest directory); it reaches
the daemon only through the socket, whose group it is given as a supplementary group.
Its whole configuration is an openssl.cnf naming the module and the socket. Then:
- its memory (/proc/PID/mem, scanned as test_hardening_memory does) holds no PIN, no
  master key, no KEK, no subkey and no part of the signing key, after TLS handshakes;
- libfaketime in the signer cannot sign past --not-after, reset --rate, or revive an
  expired activation: the daemon's clock decides;
- its `environment` parameter and SEALHSM_ENVIRONMENT cannot sign another environment's
  key: the daemon's --environment decides;
- --users and --groups allow and refuse by the uid and gids the kernel reports for the
  connection (SO_PEERCRED), whatever USER or LOGNAME say;
and every case is audited with the peer's user, pid and program and via=daemon.
Runs as root (setpriv needs it), as the suite does in CI."""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import conftest
from conftest import (ASAN, OPENSSL, PROVIDER_DIR, USER_PIN, audit_records, base_env,
                      assert_policy_refusal, run)

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs root and setpriv to run a signer as another user")

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
needs_faketime = pytest.mark.skipif(not os.path.exists(FAKETIME_LIB),
                                    reason="libfaketime not installed")

# Group ids the tests hand out without naming them: the kernel and the daemon deal in
# numbers (the socket's group, and a group a key may require).
SOCK_GID = 54321
KEY_GID = 54322
NOBODY = pwd.getpwnam("nobody")


class Host:
    """The signing host of a test: a sealhsmd serving `ks` on a socket of group
    SOCK_GID (0660, in a directory of that group), and a world-readable directory with a
    copy of the provider (the build tree may sit in a private home) and the signer's
    openssl.cnf."""

    def __init__(self, ks, daemon_factory):
        self.ks = ks
        self.pub = Path(tempfile.mkdtemp(prefix="shi", dir="/tmp"))
        os.chmod(self.pub, 0o755)
        shutil.copy(PROVIDER_DIR / "sealhsm.so", self.pub / "sealhsm.so")
        self.daemon = daemon_factory(ks, "--socket-group", str(SOCK_GID),
                                     "--socket-mode", "0660")
        os.chown(self.daemon.dir, 0, SOCK_GID)
        os.chmod(self.daemon.dir, 0o750)
        self.conf = self.write_conf("signer.cnf")

    def write_conf(self, name, extra=""):
        p = self.pub / name
        p.write_text(
            "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
            "[provider_sect]\ndefault = default_sect\nsealhsm = sealhsm_sect\n"
            "[default_sect]\nactivate = 1\n"
            f"[sealhsm_sect]\nmodule = {self.pub}/sealhsm.so\ndaemon = {self.daemon.sock}\n"
            f"{extra}activate = 1\n")
        p.chmod(0o644)
        return p

    def start(self):
        self.daemon.start()
        return self

    def command(self, argv, user="nobody", gid=None, groups=(SOCK_GID,), env=None,
                faketime=None, conf=None):
        """argv as `user` with primary group gid (default the user's) and exactly the
        supplementary groups given, in an environment holding only what is listed."""
        uid, dgid = (user, NOBODY.pw_gid) if isinstance(user, int) else \
            (pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
        e = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
             "OPENSSL_CONF": str(conf or self.conf)}
        e.update({k: v for k, v in base_env().items() if k.startswith(("ASAN_", "UBSAN_"))})
        preload = [conftest._asan_preload()] if ASAN else []
        if faketime is not None:
            # libfaketime after the ASan runtime hangs at start (its constructor and
            # ASan's interceptors), before it works; the order check is then turned off
            preload.insert(0, FAKETIME_LIB)
            if ASAN:
                e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
            # the wall clock only: the client's timeouts keep the real monotonic clock
            e.update(FAKETIME=faketime, FAKETIME_DONT_FAKE_MONOTONIC="1",
                     FAKETIME_NO_CACHE="1")
        if preload:
            e["LD_PRELOAD"] = " ".join(preload)
        e.update(env or {})
        grp = ["--groups", ",".join(str(g) for g in groups)] if groups else ["--clear-groups"]
        return ["setpriv", f"--reuid={uid}", f"--regid={gid if gid is not None else dgid}",
                *grp, "--", "env", "-i", *(f"{k}={v}" for k, v in e.items()),
                *(str(a) for a in argv)]

    def run_as(self, argv, input=b"", timeout=60, **kw):
        """Runs command(argv, **kw); returns (Result, pid). setpriv and env exec, so the
        pid is the program's own, as the daemon sees it."""
        p = subprocess.Popen(self.command(argv, **kw), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate(input, timeout=timeout)
        res = conftest.Result(subprocess.CompletedProcess(argv, p.returncode, out, err))
        text = res.errtext
        assert "Sanitizer" not in text and "runtime error:" not in text, text
        return res, p.pid

    def sign(self, label, data=b"artifact\n", **kw):
        """openssl dgst -sha256 -sign sealhsm:LABEL as the signer: (Result, pid)."""
        return self.run_as([OPENSSL, "dgst", "-sha256", "-sign", f"sealhsm:{label}"],
                           input=data, **kw)

    def verifies(self, label, sig, data=b"artifact\n"):
        pub = self.ks.tmp / f"{label}.pub.pem"
        if not pub.exists():
            self.ks.sealhsm("pubkey", label, "--out", pub)
        (self.ks.tmp / "v.data").write_bytes(data)
        (self.ks.tmp / "v.sig").write_bytes(sig)
        return run([OPENSSL, "dgst", "-sha256", "-verify", pub, "-signature",
                    self.ks.tmp / "v.sig", self.ks.tmp / "v.data"], check=None).rc == 0

    def cleanup(self):
        shutil.rmtree(self.pub, ignore_errors=True)


@pytest.fixture
def host(ks, daemon_factory):
    h = Host(ks, daemon_factory)
    yield h
    h.cleanup()


def audited(ks, label, pid, outcome, rule=None, user="nobody"):
    """The last sign record of `label`: the peer as the kernel named it, via the daemon."""
    rec = [r for r in audit_records(ks) if r["op"] == "sign" and r["label"] == label][-1]
    assert (rec["user"], rec["pid"], rec["program"], rec["via"], rec["outcome"]) == \
        (str(user), pid, "openssl", "daemon", outcome), rec
    if rule is not None:
        assert "policy" in rec["reason"] and rule in rec["reason"], rec
    return rec


def ok(host, label, **kw):
    res, pid = host.sign(label, **kw)
    assert res.rc == 0 and res.out, res
    assert host.verifies(label, res.out), "the signature does not verify"
    audited(host.ks, label, pid, "ok", user=kw.get("user", "nobody"))
    return pid


def refused(host, label, rule, **kw):
    res, pid = host.sign(label, **kw)
    assert_policy_refusal(res, label, rule)
    assert res.out == b"", "a refused signer got bytes on stdout"
    audited(host.ks, label, pid, "denied", rule, user=kw.get("user", "nobody"))
    return res


# -- the signer holds nothing -----------------------------------------------------------

def test_signer_without_pin_or_keystore_access_signs_through_the_daemon(ks, host):
    ks.keygen("k", "ec:P-256")
    host.start()
    # the keystore is out of the signer's reach, and no PIN is in its environment
    for argv in (["ls", ks.path], ["cat", ks.path / "data.mdb"]):
        res, _ = host.run_as(argv)
        assert res.rc != 0 and "Permission denied" in res.errtext, (argv, res)
    res, _ = host.run_as(["env"])
    assert USER_PIN not in res.text and "SEALHSM_PIN" not in res.text
    assert "keystore" not in host.conf.read_text() and "pin" not in host.conf.read_text()
    # embedded mode is no way around it: the signer cannot open the keystore itself
    res, _ = host.run_as([OPENSSL, "dgst", "-sha256", "-sign", "sealhsm:k"], env={
        "SEALHSM_KEYSTORE": str(ks.path), "SEALHSM_PIN": USER_PIN}, conf="/dev/null")
    assert res.rc != 0
    # through the daemon it signs, and the record names it
    ok(host, "k")
    # without the socket's group it cannot even connect
    res, _ = host.sign("k", groups=())
    assert res.rc != 0 and "sealhsm: daemon: cannot reach" in res.errtext \
        and "Permission denied" in res.errtext, res


def test_signer_memory_holds_no_key_and_no_pin(ks, host, hardening_bin):
    """openssl s_server running as the signer with a keystore key, after a TLS 1.3 and a
    TLS 1.2 handshake signed through the daemon: none of the keystore's secrets is
    anywhere in its memory (not even in the secure heap) or its environment."""
    from test_hardening_memory import scan, secrets
    ks.keygen("ec", "ec:P-256")
    s = secrets(ks, hardening_bin, "user", "ec")
    # a marker the signer does hold (in its environment) proves the scan reads its memory
    marker = os.urandom(16).hex()
    needles = dict(s, pin=USER_PIN.encode(), marker=marker.encode())
    host.start()
    res, _ = host.run_as([OPENSSL, "req", "-new", "-x509", "-key", "sealhsm:ec", "-subj",
                          "/CN=localhost", "-days", "1"])
    assert res.rc == 0, res
    cert = host.pub / "ec.crt"
    cert.write_bytes(res.out)
    cert.chmod(0o644)
    server = subprocess.Popen(
        host.command([OPENSSL, "s_server", "-key", "sealhsm:ec", "-cert", cert, "-accept", "0",
                      "-naccept", "3", "-www"], env={"MARKER": marker}),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = None
        for line in server.stdout:
            m = re.match(rb"ACCEPT .*:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        assert port, "s_server did not start"
        for proto in ("-tls1_3", "-tls1_2"):
            run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", proto], input="",
                env=base_env(), check=0)
        signs = [r for r in audit_records(ks) if r["op"] == "sign" and r["pid"] == server.pid]
        assert len(signs) >= 2 and all(r["user"] == "nobody" and r["via"] == "daemon"
                                       for r in signs), signs
        hits, _ = scan(server.pid, needles)
        environ = Path(f"/proc/{server.pid}/environ").read_bytes()
    finally:
        server.kill()
        server.wait()
    assert hits.pop("marker"), "the scan did not read the signer's memory"
    assert set(hits) >= {"pin", "mk", "k_seal", "scalar", "pkcs8"}, sorted(hits)
    assert all(h == [] for h in hits.values()), \
        {k: h for k, h in hits.items() if h}
    assert USER_PIN.encode() not in environ and b"SEALHSM_PIN" not in environ


# -- the daemon's clock ------------------------------------------------------------------

@needs_faketime
def test_faked_clock_cannot_sign_past_not_after(ks, host):
    # a key expiring in 2 s (keygen refuses a --not-after already past)
    end = int(time.time()) + 2
    ks.keygen("expired", "ec:P-256", "--not-after",
              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end)))
    ks.keygen("early", "ec:P-256", "--not-before", "2099-01-01T00:00:00Z")
    host.start()
    time.sleep(max(0.0, end + 1.1 - time.time()))
    past = "@2025-06-01 00:00:00"
    # the preload reaches the signer: its clock says 2025
    res, _ = host.run_as(["date", "-u", "+%Y"], faketime=past)
    assert res.text.strip() == "2025", res
    refused(host, "expired", "not-after", faketime=past)
    refused(host, "early", "not-before", faketime="@2099-06-01 00:00:00")


@needs_faketime
def test_faked_clock_cannot_reset_the_rate(ks, host):
    ks.keygen("rated", "ec:P-256", "--rate", "2/day")
    host.start()
    ok(host, "rated")
    ok(host, "rated")
    refused(host, "rated", "rate")
    for fake in ("+2d", "+30d", "-2d"):
        res, _ = host.run_as(["date", "-u", "+%s"], faketime=fake)
        assert abs(int(res.text) - time.time()) > 86400, (fake, res)
        refused(host, "rated", "rate", faketime=fake)


@needs_faketime
def test_faked_clock_cannot_revive_an_expired_activation(ks, host):
    ks.sealhsm("officer", "add", "alice", so=True, SEALHSM_OFFICER_PIN="officer-pin-2222")
    ks.keygen("gated", "ec:P-256", "--approvals", "1", "--activation-ttl", "3s")
    host.start()
    refused(host, "gated", "approvals")
    ks.sealhsm("approve", "gated", "--officer", "alice", SEALHSM_OFFICER_PIN="officer-pin-2222",
               user=False)
    approved = time.time()
    res, pid = host.sign("gated")
    if time.time() - approved < 2.5:  # a loaded machine may take longer than the TTL
        assert res.rc == 0 and host.verifies("gated", res.out), res
        audited(ks, "gated", pid, "ok")
    time.sleep(max(0.0, approved + 3.5 - time.time()))
    refused(host, "gated", "approvals")
    # the signer sets its clock back to the approval: the daemon's clock decides
    back = time.strftime("@%Y-%m-%d %H:%M:%S", time.localtime(approved))
    refused(host, "gated", "approvals", faketime=back)
    refused(host, "gated", "approvals", faketime="-1m")


# -- the daemon's environment --------------------------------------------------------------

def test_client_environment_cannot_sign_another_environments_key(ks, host):
    ks.keygen("prod", "ec:P-256", "--env", "prod")
    ks.keygen("dev", "ec:P-256")
    host.start()  # a dev daemon (the default)
    prod_conf = host.write_conf("prod.cnf", extra="environment = prod\n")
    for kw in ({"env": {"SEALHSM_ENVIRONMENT": "prod"}}, {"conf": prod_conf},
               {"env": {"SEALHSM_ENVIRONMENT": "prod"}, "conf": prod_conf}):
        res = refused(host, "prod", "env", **kw)
        assert "key is for prod, this signer is configured for dev" in res.errtext, res
    ok(host, "dev", conf=prod_conf)


# -- who signs: the kernel's identity ------------------------------------------------------

def test_users_and_groups_by_the_kernels_identity(ks, host):
    ks.keygen("for-nobody", "ec:P-256", "--users", "nobody")
    ks.keygen("for-root", "ec:P-256", "--users", "root,0")
    ks.keygen("for-group", "ec:P-256", "--groups", str(KEY_GID))
    host.start()
    ok(host, "for-nobody")
    # names in the environment are not an identity
    liar = {"USER": "root", "LOGNAME": "root", "SUDO_UID": "0", "SEALHSM_USER": "root"}
    refused(host, "for-root", "users", env=liar)
    refused(host, "for-group", "groups", env=liar)
    # the group counts as a supplementary group and as the primary group
    ok(host, "for-group", groups=(SOCK_GID, KEY_GID))
    ok(host, "for-group", gid=KEY_GID)
    refused(host, "for-nobody", "users", user="daemon")
    # a uid without an account is refused and audited by number
    refused(host, "for-nobody", "users", user=54399)
