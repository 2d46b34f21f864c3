# SPDX-License-Identifier: Apache-2.0
"""PINs in the environment (docs/security.md, "PINs in the environment").

A signing `openssl` (embedded mode: the provider opens the keystore in its own
process) is stopped in the middle of a run: after it logged in with the user PIN
from SEALHSM_PIN, while it waits for a key's usage PIN on a pipe. Its
/proc/PID/environ and a core file written by gcore must hold none of the PINs it
was given. Then the key PIN is written and the signature verifies."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import ASAN, OPENSSL, SO_PIN, USER_PIN, preload_env

KEY_PIN = "key-pin-7d1f3a"
OTHER_PIN = "ci-pin-9c2e44"  # a user PIN under a custom variable named by pin-source


def _blocked_on_read(pid, fd):
    """True while pid sits in read(fd) (x86-64 and aarch64 syscall numbers)."""
    try:
        fields = open(f"/proc/{pid}/syscall").read().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] in ("0", "63") and int(fields[1], 16) == fd


def _start_blocked_signer(ks, tmp_path, pin_source, env_extra):
    r, w = os.pipe()
    conf = ks.conf(name="pinenv.cnf", pin_source=pin_source,
                   extra_lines=[f"key-pin-source = fd:{r}"])
    env = ks.env(so=True, OPENSSL_CONF=conf, **env_extra)
    data = tmp_path / "artifact.txt"
    data.write_bytes(b"release 1.0\n")
    sig = tmp_path / "artifact.sig"
    p = subprocess.Popen([OPENSSL, "dgst", "-sha256", "-sign", "sealhsm:guarded", "-out", sig,
                          data], env=preload_env(env), pass_fds=(r,), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(r)
    deadline = time.monotonic() + 60
    while not _blocked_on_read(p.pid, r):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline, "openssl never asked for the key PIN"
        time.sleep(0.05)
    return p, w, data, sig


def _assert_no_pins(blob, where, pins):
    for name, pin in pins.items():
        assert pin.encode() not in blob, f"{name} ({pin}) found in {where}"


def _check_core(ks, tmp_path, pid, pins):
    g = subprocess.run(["gcore", "-o", tmp_path / "core", str(pid)], capture_output=True,
                       text=True, timeout=120)
    corefile = tmp_path / f"core.{pid}"
    assert g.returncode == 0 and corefile.exists(), g.stderr
    blob = corefile.read_bytes()
    assert len(blob) > 1 << 20, "gcore wrote no real core"
    # the core is real: it holds the keystore path the process was given
    assert str(ks.path).encode() in blob
    _assert_no_pins(blob, "the core file", pins)
    corefile.unlink()


@pytest.mark.skipif(shutil.which("gcore") is None, reason="needs gdb's gcore")
@pytest.mark.parametrize("source", ["default", "custom"])
def test_signing_openssl_environ_and_core_hold_no_pin(ks, tmp_path, source):
    ks.sealhsm("keygen", "guarded", "--type", "ec:P-256", "--key-pin", so=True,
               SEALHSM_KEY_PIN=KEY_PIN)
    pub = tmp_path / "guarded.pub.pem"
    ks.sealhsm("pubkey", "guarded", "--out", pub)
    if source == "default":
        pin_source, extra = None, {}
        pins = {"user PIN": USER_PIN, "SO PIN": SO_PIN}
    else:
        # the keystore's user PIN under a variable of the application's choosing
        pin_source, extra = "env:CI_RELEASE_PIN", {"CI_RELEASE_PIN": USER_PIN}
        pins = {"user PIN": USER_PIN, "SO PIN": SO_PIN}
    p, w, data, sig = _start_blocked_signer(ks, tmp_path, pin_source, extra)
    try:
        environ = open(f"/proc/{p.pid}/environ", "rb").read()
        _assert_no_pins(environ, "/proc/PID/environ", pins)
        assert b"SEALHSM_KEYSTORE=" in environ  # the rest of the environment is intact
        assert b"SEALHSM_PIN=" not in environ and b"SEALHSM_SO_PIN=" not in environ
        assert b"CI_RELEASE_PIN=" not in environ
        if not ASAN:  # an ASan process maps terabytes of shadow: no core file of it
            _check_core(ks, tmp_path, p.pid, pins)
    finally:
        os.write(w, KEY_PIN.encode())
        os.close(w)
        out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    ks.openssl("dgst", "-sha256", "-verify", pub, "-signature", sig, data, via=None)


def test_tool_takes_pin_variables_out_of_its_environment(ks, tmp_path):
    """The tool too: `sealhsm list` blocked reading its PIN from --pin-fd shows none of
    the SEALHSM_*PIN* values it was given in /proc/PID/environ."""
    r, w = os.pipe()
    env = ks.env(so=True, SEALHSM_NEW_PIN="unused-new-pin")
    from conftest import SEALHSM
    p = subprocess.Popen([SEALHSM, "list", "--pin-fd", str(r)], env=preload_env(env),
                         pass_fds=(r,), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    os.close(r)
    deadline = time.monotonic() + 60
    while not _blocked_on_read(p.pid, r):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline, "sealhsm never read the PIN fd"
        time.sleep(0.05)
    try:
        environ = open(f"/proc/{p.pid}/environ", "rb").read()
        _assert_no_pins(environ, "/proc/PID/environ",
                        {"user PIN": USER_PIN, "SO PIN": SO_PIN, "new PIN": "unused-new-pin"})
    finally:
        os.write(w, USER_PIN.encode())
        os.close(w)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
