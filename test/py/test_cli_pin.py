# SPDX-License-Identifier: Apache-2.0
"""`sealhsm` tool: wrong PINs, lockout across processes, PIN change and reset (docs/reference.md, Roles and PINs)."""
import signal
import subprocess
import time

import pytest

import conftest
from conftest import FAST_KDF, SEALHSM, USER_PIN, Keystore, assert_fails, run_no_tty

pytestmark = pytest.mark.usefixtures("secret_watch")

WRONG = "wrong-pin-0000"
NEW_PIN = "new-user-pin-2222"
NEW_SO_PIN = "new-so-pin-3333"


@pytest.fixture(autouse=True)
def _watch_test_pins(secret_watch):
    secret_watch.add(WRONG, NEW_PIN, NEW_SO_PIN)


def make_ks(tmp_path, *init_args):
    k = Keystore(tmp_path / "ks", tmp_path)
    conftest.run([SEALHSM, "init", *FAST_KDF, *init_args], env=k.env(so=True), check=0)
    return k


def snapshot(ks):
    """Everything a PIN failure must leave alone, read with the right PINs."""
    keys = ks.sealhsm("list", "--json").out
    shows = [ks.sealhsm("show", "k1", "--json").out]
    return keys, shows


def test_wrong_user_pin_exits_4_and_changes_nothing(ks):
    ks.keygen("k1", "ec:P-256")
    before = snapshot(ks)
    for cmd in (["list"], ["show", "k1"], ["pubkey", "k1"], ["audit", "verify"]):
        res = ks.sealhsm(*cmd, check=None, user=False, SEALHSM_PIN=WRONG)
        assert_fails(res, 4, "user")
        assert res.out == ""
    assert snapshot(ks) == before


def test_wrong_so_pin_exits_4_and_changes_nothing(ks):
    ks.keygen("k1", "ec:P-256")
    before = snapshot(ks)
    env = ks.env(so=True)
    env["SEALHSM_SO_PIN"] = WRONG
    attempts = [
        ["keygen", "k2", "--type", "ec:P-256"],
        ["policy", "k1", "--max-signatures", "5"],
        ["disable", "k1"],
        ["destroy", "k1"],
        ["pin", "reset-user"],
    ]
    for cmd in attempts:
        res = ks.sealhsm(*cmd, env=env, check=None, SEALHSM_NEW_PIN=NEW_PIN)
        assert_fails(res, 4, "so")
    assert snapshot(ks) == before
    ks.sealhsm("list")  # the user PIN was not reset


def test_ten_wrong_pins_lock_user_across_processes(tmp_path):
    ks = make_ks(tmp_path, "--max-pin-tries", "10")
    for _ in range(10):
        assert_fails(ks.sealhsm("list", check=None, user=False, SEALHSM_PIN=WRONG), 4)
    # locked: even the right PIN is refused, in a fresh process
    res = ks.sealhsm("list", check=None)
    assert_fails(res, 4, "locked")
    assert_fails(ks.sealhsm("show", "x", check=None), 4, "locked")
    # the SO is not affected, and only the SO can unlock the user role
    ks.sealhsm("list", "--so", so=True)
    ks.sealhsm("pin", "reset-user", so=True, SEALHSM_NEW_PIN=NEW_PIN)
    ks.sealhsm("list", user=False, SEALHSM_PIN=NEW_PIN)
    assert_fails(ks.sealhsm("list", check=None), 4)


def test_success_resets_the_try_counter(tmp_path):
    ks = make_ks(tmp_path, "--max-pin-tries", "3")
    for _ in range(3):
        for _ in range(2):
            assert_fails(ks.sealhsm("list", check=None, user=False, SEALHSM_PIN=WRONG), 4)
        ks.sealhsm("list")
    for _ in range(3):
        assert_fails(ks.sealhsm("list", check=None, user=False, SEALHSM_PIN=WRONG), 4)
    assert_fails(ks.sealhsm("list", check=None), 4, "locked")


def meta_dump(ks):
    return subprocess.run(["mdb_dump", "-s", "meta", str(ks.path)], capture_output=True,
                          check=True).stdout


def test_killed_attempt_still_counts(tmp_path):
    """The try counter is committed before the KDF runs: killing the process while it
    derives the key (even with the right PIN) cannot be used to guess for free."""
    slow_kdf = ["--kdf-memory", "64", "--kdf-iterations", "8"]  # a few tenths of a second
    ks = Keystore(tmp_path / "ks", tmp_path)
    conftest.run([SEALHSM, "init", *slow_kdf, "--max-pin-tries", "2"], env=ks.env(so=True),
                 check=0)
    for _ in range(2):
        before = meta_dump(ks)
        p = subprocess.Popen([str(SEALHSM), "list"], env=ks.env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while meta_dump(ks) == before and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert p.poll() is None, "the unlock finished before the counter was seen to change"
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert_fails(ks.sealhsm("list", check=None), 4, "locked")
    ks.sealhsm("pin", "reset-user", so=True, SEALHSM_NEW_PIN=NEW_PIN)
    ks.sealhsm("list", user=False, SEALHSM_PIN=NEW_PIN)


def test_locked_so_stays_locked(tmp_path):
    ks = make_ks(tmp_path, "--max-pin-tries", "2")
    env = ks.env(so=True)
    env["SEALHSM_SO_PIN"] = WRONG
    for _ in range(2):
        assert_fails(ks.sealhsm("list", "--so", env=env, check=None), 4)
    assert_fails(ks.sealhsm("list", "--so", so=True, check=None), 4, "locked")
    ks.sealhsm("list")  # the user role is separate


def test_pin_change_user(ks, tmp_path):
    res = ks.sealhsm("pin", "change", SEALHSM_NEW_PIN=NEW_PIN)
    assert "user PIN changed" in res.out
    assert_fails(ks.sealhsm("list", check=None), 4)
    ks.sealhsm("list", user=False, SEALHSM_PIN=NEW_PIN)
    # back again, new PIN from a file, current one from a file
    (tmp_path / "cur").write_text(NEW_PIN)
    (tmp_path / "new").write_text(USER_PIN + "\n")
    ks.sealhsm("pin", "change", "--pin-file", tmp_path / "cur", "--new-pin-file",
               tmp_path / "new")
    ks.sealhsm("list")


def test_pin_change_so(ks):
    ks.sealhsm("pin", "change", "--so", so=True, SEALHSM_NEW_PIN=NEW_SO_PIN)
    assert_fails(ks.sealhsm("list", "--so", so=True, check=None), 4)
    ks.sealhsm("list", "--so", so=False, SEALHSM_SO_PIN=NEW_SO_PIN)
    ks.sealhsm("list")  # user PIN untouched


def test_pin_change_with_wrong_current_pin(ks):
    res = ks.sealhsm("pin", "change", check=None, user=False, SEALHSM_PIN=WRONG,
                     SEALHSM_NEW_PIN=NEW_PIN)
    assert_fails(res, 4)
    ks.sealhsm("list")


def test_new_pin_rules(ks):
    res = ks.sealhsm("pin", "change", check=None, SEALHSM_NEW_PIN="12345")
    assert_fails(res, 1, "PIN")
    res = run_no_tty([SEALHSM, "pin", "change"], ks.env())
    assert_fails(res, 3, "SEALHSM_NEW_PIN")
    res = run_no_tty([SEALHSM, "pin", "reset-user"], ks.env(so=True))
    assert_fails(res, 3, "SEALHSM_NEW_PIN")
    ks.sealhsm("list")


def test_reset_user_needs_so(ks):
    # logged in as SO, so the user PIN is no way to reset
    env = ks.env(so=False)
    res = run_no_tty([SEALHSM, "pin", "reset-user"], dict(env, SEALHSM_NEW_PIN=NEW_PIN))
    assert_fails(res, 3, "SEALHSM_SO_PIN")
    ks.sealhsm("list")
