# SPDX-License-Identifier: Apache-2.0
"""The clock floor (docs/security.md): in embedded mode the signing process chooses its
clock. A key past --not-after signed when the clock was set back with libfaketime; now
the keystore refuses a clock more than 5 minutes behind the latest time it recorded
(policy rule `clock`, audited), until the SO runs `sealhsm clock accept`."""
from pathlib import Path

import pytest

from conftest import (ASAN, FAST_KDF, OPENSSL, SEALHSM, USER_PIN, Keystore, Signer, assert_fails,
                      audit_records, base_env, run)

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
# The sanitizer runtime intercepts clock_gettime itself and binds the versioned libc
# symbol, so libfaketime's does not take effect in an ASan build: these run in the
# normal build.
pytestmark = [
    pytest.mark.skipif(not FAKETIME.exists(), reason="libfaketime not installed"),
    pytest.mark.skipif(ASAN, reason="libfaketime cannot fake clock_gettime under ASan"),
]


def faked(env, when):
    """env with the process clock at `when` (FAKETIME syntax: '@2025-06-01 00:00:00',
    '-1d')."""
    env = dict(env)
    env["LD_PRELOAD"] = str(FAKETIME)
    env["FAKETIME"] = when
    env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    return env


def sealhsm(ks, *args, when=None, check=0, so=False, **extra):
    env = ks.env(so=so, **extra)
    if when is not None:
        env = faked(env, when)
    return run([SEALHSM, *args], env=env, check=check)


def sign(ks, label, when=None):
    env = faked(ks.env(), when) if when else ks.env()
    return Signer(ks).sign(label, env=env)


@pytest.fixture
def old_ks(tmp_path):
    """A keystore made on 2025-06-01 with a key valid for one day."""
    k = Keystore(tmp_path / "ks", tmp_path)
    t = "@2025-06-01 00:00:00"
    run([SEALHSM, "init", *FAST_KDF], env=faked(k.env(so=True), t), check=0)
    sealhsm(k, "keygen", "day", "--type", "ec:P-256", "--not-after", "2025-06-02", when=t,
            so=True)
    return k


def test_clock_set_back_past_not_after_is_refused(old_ks):
    ks = old_ks
    res, sig, _ = sign(ks, "day")  # today: expired
    assert res.rc != 0 and "not-after" in res.err
    # the attack: the signer sets its clock back into the key's validity
    res, sig, _ = sign(ks, "day", when="@2025-06-01 12:00:00")
    assert res.rc != 0 and (not sig.exists() or sig.stat().st_size == 0), res
    assert "sealhsm: policy:" in res.err and "clock" in res.err and "day" in res.err, res
    rec = [r for r in audit_records(ks) if r["op"] == "sign"][-1]
    assert rec["outcome"] == "denied" and "clock" in rec["reason"], rec


def test_relative_clock_set_back_is_refused_and_audited(ks):
    ks.keygen("k1", "ec:P-256")
    signer = Signer(ks)
    signer.ok("k1")
    res, sig, _ = sign(ks, "k1", when="-1d")
    assert res.rc != 0 and "clock" in res.err, res
    rec = [r for r in audit_records(ks) if r["op"] == "sign"][-1]
    assert rec["outcome"] == "denied" and "clock" in rec["reason"], rec
    # other changes with a clock behind are refused too (exit 5), nothing written
    res = sealhsm(ks, "keygen", "k2", "--type", "ec:P-256", when="-1d", so=True, check=None)
    assert_fails(res, 5, "clock")
    assert "k2" not in ks.sealhsm("list").out
    # within the 5 minutes of slack a clock a little behind is fine
    res, sig, _ = sign(ks, "k1", when="-2m")
    assert res.rc == 0, res


def test_clock_accept_rebaselines_and_is_audited(old_ks):
    ks = old_ks
    sign(ks, "day")  # a denied record at today's time: the floor is now
    t = "@2025-06-01 12:00:00"
    assert sign(ks, "day", when=t)[0].rc != 0
    # only the SO can accept a clock
    res = sealhsm(ks, "clock", "accept", when=t, check=None)
    assert res.rc != 0
    out = sealhsm(ks, "clock", "accept", when=t, so=True).out
    assert "clock accepted" in out
    res, sig, _ = sign(ks, "day", when=t)
    assert res.rc == 0 and sig.stat().st_size > 0, res
    # (a process with the real clock moves the floor up again: read the log last)
    rec = [r for r in audit_records(ks) if r["op"] == "state"][-1]
    assert "clock accepted" in rec["reason"] and rec["mac"], rec
    ks.sealhsm("verify")


def sign_via(ks, sock, tmp_path, name, when=None):
    """openssl through the daemon at sock, the client's clock faked when `when`."""
    data = tmp_path / f"{name}.data"
    data.write_bytes(name.encode())
    sig = tmp_path / f"{name}.sig"
    env = base_env(SEALHSM_DAEMON=sock)
    if when is not None:
        env = faked(env, when)
    res = run([OPENSSL, "dgst", *ks.provider_args(), "-sha256", "-sign", "sealhsm:day", "-out",
               sig, data], env=env, check=None)
    return res, sig


def test_in_daemon_mode_the_clock_is_the_daemons(old_ks, daemon_factory, tmp_path):
    ks = old_ks
    t = "@2025-06-01 12:00:00"
    fake_daemon_env = faked(base_env(SEALHSM_PIN=USER_PIN), t)
    # the daemon's own clock is what counts (here set back, within the keystore's floor)
    d = daemon_factory(ks, env=fake_daemon_env).start()
    res, sig = sign_via(ks, d.sock, tmp_path, "c1")
    assert res.rc == 0 and sig.stat().st_size > 0, res
    d.stop()
    # a client that fakes its clock gains nothing: the daemon's real clock says expired
    d = daemon_factory(ks).start()
    res, sig = sign_via(ks, d.sock, tmp_path, "c2", when=t)
    assert res.rc != 0 and "not-after" in res.err, res
    d.stop()
    # the keystore has now recorded today's date: a daemon a year behind is refused
    d = daemon_factory(ks, env=fake_daemon_env).start()
    res, sig = sign_via(ks, d.sock, tmp_path, "c3")
    assert res.rc != 0 and "clock" in res.err, res
    rec = [r for r in audit_records(ks) if r["op"] == "sign"][-1]
    assert rec["outcome"] == "denied" and "clock" in rec["reason"] and rec["via"] == "daemon"
