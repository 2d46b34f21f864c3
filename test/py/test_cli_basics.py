# SPDX-License-Identifier: Apache-2.0
"""`sealhsm` tool: help, usage errors, keystore location and permissions, PIN sources,
init parameters and selftest (docs/reference.md: Keystore, Command-line tool, Formats and conventions)."""
import json
import os
import pwd
import stat

import pytest

import conftest
from conftest import (FAST_KDF, SEALHSM, SO_PIN, USER_PIN, Keystore, assert_fails, base_env,
                      run_no_tty)

pytestmark = pytest.mark.usefixtures("secret_watch")

COMMANDS = [
    ["init"], ["keygen"], ["import"], ["list"], ["show"], ["pubkey"], ["keyref"],
    ["cert", "import"], ["policy"], ["disable"], ["enable"], ["revoke"], ["destroy"],
    ["pin", "change"], ["pin", "reset-user"], ["officer", "add"], ["officer", "remove"],
    ["officer", "list"], ["approve"], ["audit", "verify"], ["audit", "export"], ["backup"],
    ["restore"], ["selftest"], ["attest"],
]


def sealhsm(*args, env=None, check=None, input=None):
    return conftest.run([SEALHSM, *args], env=env if env is not None else base_env(),
                        check=check, input=input)


@pytest.mark.parametrize("cmd", COMMANDS, ids=" ".join)
def test_every_command_has_help(cmd):
    res = sealhsm(*cmd, "--help", check=0)
    assert res.out.startswith("usage: sealhsm " + " ".join(cmd)), res.out
    assert "--keystore DIR" in res.out
    assert res.err == ""


def test_overview_help_lists_every_command():
    res = sealhsm("--help", check=0)
    for cmd in COMMANDS:
        assert "  " + " ".join(cmd) + "\n" in res.out


@pytest.mark.parametrize("args,needle", [
    ([], "missing command"),
    (["frobnicate"], "frobnicate"),
    (["pin"], "change|reset-user"),
    (["officer", "fire"], "fire"),
    (["list", "--bogus"], "--bogus"),
    (["--bogus", "list"], "--bogus"),
    (["show", "--keystore"], "--keystore"),
    (["show"], "LABEL"),
    (["list", "extra"], "extra"),
    (["keygen", "k1"], "--type"),
    (["import", "k1"], "--in"),
    (["attest"], "--ca"),
    (["backup"], "--out"),
    (["restore"], "--in"),
    (["approve", "k1"], "--officer"),
    (["policy", "k1"], "policy option"),
    (["audit", "export", "--format", "xml"], "xml"),
    (["audit", "export", "--since", "-3"], "--since"),
    (["list", "--pin-fd", "x"], "--pin-fd"),
])
def test_usage_errors_exit_1_with_one_line(args, needle, tmp_path):
    res = sealhsm(*args, env=base_env(SEALHSM_KEYSTORE=tmp_path / "nope"))
    assert_fails(res, 1, needle)
    assert res.out == ""


def test_version():
    res = sealhsm("--version", check=0)
    assert res.out.startswith("sealhsm ")


# -- keystore location ---------------------------------------------------------------

def test_missing_keystore_exits_2_naming_path(tmp_path):
    missing = tmp_path / "does-not-exist"
    env = base_env(SEALHSM_PIN=USER_PIN)
    assert_fails(sealhsm("list", "--keystore", missing, env=env), 2, str(missing))
    assert_fails(sealhsm("--keystore", missing, "list", env=env), 2, str(missing))
    env["SEALHSM_KEYSTORE"] = str(missing)
    assert_fails(sealhsm("list", env=env), 2, str(missing))
    assert not missing.exists()


def test_keystore_from_xdg_data_home(tmp_path):
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    env = base_env(XDG_DATA_HOME=xdg, SEALHSM_SO_PIN=SO_PIN, SEALHSM_PIN=USER_PIN)
    sealhsm("init", *FAST_KDF, env=env, check=0)
    assert (xdg / "sealhsm").is_dir()
    assert sealhsm("list", "--json", env=env, check=0).out.strip() == "[]"


def test_keystore_from_home(tmp_path):
    env = base_env(HOME=tmp_path, SEALHSM_SO_PIN=SO_PIN, SEALHSM_PIN=USER_PIN)
    env.pop("XDG_DATA_HOME", None)
    sealhsm("init", *FAST_KDF, env=env, check=0)
    assert (tmp_path / ".local" / "share" / "sealhsm").is_dir()


def test_keystore_is_private(ks):
    mode = stat.S_IMODE(os.stat(ks.path).st_mode)
    assert mode == 0o700, oct(mode)
    for f in ks.path.iterdir():
        if f.is_file():
            assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0, (f, oct(f.stat().st_mode))


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_group_or_world_writable_keystore_refused(ks, mode):
    os.chmod(ks.path, mode)
    res = ks.sealhsm("list", check=None)
    assert_fails(res, 7, str(ks.path))
    assert "writable" in res.err
    assert_fails(ks.sealhsm("keygen", "k1", "--type", "ec:P-256", so=True, check=None), 7,
                 str(ks.path))
    os.chmod(ks.path, 0o700)
    ks.sealhsm("list")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_keystore_owned_by_another_user_refused(ks):
    nobody = pwd.getpwnam("nobody")
    os.chown(ks.path, nobody.pw_uid, nobody.pw_gid)
    res = ks.sealhsm("list", check=None)
    assert_fails(res, 7, str(ks.path))
    assert "owned" in res.err
    os.chown(ks.path, 0, 0)
    ks.sealhsm("list")


# -- PIN sources -----------------------------------------------------------------------

def test_no_pin_and_no_terminal_exits_3(ks):
    env = ks.env(user=False)
    res = run_no_tty([SEALHSM, "list"], env)
    assert_fails(res, 3, "user", "SEALHSM_PIN")
    res = run_no_tty([SEALHSM, "keygen", "k1", "--type", "ec:P-256"], env)
    assert_fails(res, 3, "so", "SEALHSM_SO_PIN")
    res = run_no_tty([SEALHSM, "approve", "k1", "--officer", "alice"], env)
    assert_fails(res, 3, "officer:alice", "SEALHSM_OFFICER_PIN")
    # an empty variable is no PIN either
    res = run_no_tty([SEALHSM, "list"], ks.env(user=False, SEALHSM_PIN=""))
    assert_fails(res, 3, "SEALHSM_PIN")


def test_init_without_pins_and_no_terminal_exits_3(keystore_dir):
    env = base_env(SEALHSM_KEYSTORE=keystore_dir)
    res = run_no_tty([SEALHSM, "init", *FAST_KDF], env)
    assert_fails(res, 3, "SO", "SEALHSM_SO_PIN")
    env["SEALHSM_SO_PIN"] = SO_PIN
    res = run_no_tty([SEALHSM, "init", *FAST_KDF], env)
    assert_fails(res, 3, "user", "SEALHSM_PIN")
    assert not (keystore_dir / "data.mdb").exists()


def test_pin_file_and_fd(ks, tmp_path):
    pin_file = tmp_path / "user.pin"
    pin_file.write_text(USER_PIN + "\n")  # one trailing newline is stripped
    env = ks.env(user=False)
    ks.sealhsm("list", "--pin-file", pin_file, env=env)
    ks.sealhsm("list", "--pin-fd", "0", env=env, input=USER_PIN)
    so_file = tmp_path / "so.pin"
    so_file.write_text(SO_PIN)
    ks.sealhsm("keygen", "k1", "--type", "ec:P-256", "--so-pin-file", so_file, env=env)
    ks.sealhsm("keygen", "k2", "--type", "ec:P-256", "--pin-file", so_file, env=env)
    ks.sealhsm("list", "--so", "--pin-file", so_file, env=env)
    # the file beats the environment
    bad = tmp_path / "bad.pin"
    bad.write_text("wrong-pin-99")
    assert_fails(ks.sealhsm("list", "--pin-file", bad, check=None), 4)


def test_missing_pin_file_is_reported(ks, tmp_path):
    missing = tmp_path / "nope.pin"
    assert_fails(ks.sealhsm("list", "--pin-file", missing, check=None), 2, str(missing))


# -- init ----------------------------------------------------------------------------

@pytest.mark.parametrize("opt,value", [
    ("--kdf-memory", "0"), ("--kdf-memory", "4097"), ("--kdf-memory", "lots"),
    ("--kdf-iterations", "0"), ("--kdf-iterations", "101"),
    ("--kdf-lanes", "0"), ("--kdf-lanes", "17"),
    ("--max-pin-tries", "0"), ("--max-pin-tries", "1001"), ("--max-pin-tries", "-1"),
])
def test_init_parameter_bounds(keystore_dir, opt, value):
    env = base_env(SEALHSM_KEYSTORE=keystore_dir, SEALHSM_SO_PIN=SO_PIN, SEALHSM_PIN=USER_PIN)
    assert_fails(sealhsm("init", opt, value, env=env), 1, opt, value)
    assert not keystore_dir.exists()


def test_init_pins_from_files(keystore_dir, tmp_path):
    (tmp_path / "so").write_text(SO_PIN)
    (tmp_path / "user").write_text(USER_PIN)
    env = base_env(SEALHSM_KEYSTORE=keystore_dir)
    res = sealhsm("init", *FAST_KDF, "--so-pin-file", tmp_path / "so", "--pin-file",
                  tmp_path / "user", env=env, check=0)
    assert str(keystore_dir) in res.out
    ks = Keystore(keystore_dir, tmp_path)
    ks.sealhsm("list")
    ks.sealhsm("list", "--so", so=True)


def test_init_refuses_short_pin(keystore_dir):
    env = base_env(SEALHSM_KEYSTORE=keystore_dir, SEALHSM_SO_PIN="short", SEALHSM_PIN=USER_PIN)
    assert_fails(sealhsm("init", *FAST_KDF, env=env), 1, "PIN")


def test_init_twice_refused(ks):
    res = ks.sealhsm("init", *FAST_KDF, so=True, check=None)
    assert res.rc != 0
    assert_fails(res, res.rc, str(ks.path))
    ks.sealhsm("list")


# -- selftest --------------------------------------------------------------------------

def test_selftest(tmp_path):
    res = sealhsm("selftest", env=base_env(SEALHSM_KEYSTORE=tmp_path / "none"), check=0)
    lines = res.out.splitlines()
    assert len(lines) >= 2
    assert all(l.startswith("selftest: ") for l in lines)
    assert all(l.endswith(" ok") for l in lines[:-1]), res.out
    assert "passed" in lines[-1]


def test_selftest_json():
    res = sealhsm("selftest", "--json", check=0)
    doc = json.loads(res.out)
    assert set(doc) == {"tests", "ok"}
    assert doc["ok"] is True
    assert doc["tests"] and all(set(t) == {"name", "ok"} and t["ok"] is True
                                for t in doc["tests"])
