# SPDX-License-Identifier: Apache-2.0
"""Keystore files as a local attacker meets them (docs/security.md, "File modes"):
a keystore readable by others, symbolic links planted inside it, and backups
written under a permissive umask. Each test performs the attack and expects the
refusal (exit 7 naming the path and, for modes, the mode) or a private file."""
import os
import shutil
import stat
import subprocess

import pytest

from conftest import FAST_KDF, SEALHSM, Keystore, assert_fails, run


# -- item 7: group/other access to the keystore --------------------------------------

@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711, 0o701, 0o705])
def test_keystore_dir_readable_or_searchable_by_others_refused(ks, mode):
    os.chmod(ks.path, mode)
    line = assert_fails(ks.sealhsm("list", check=None), 7, str(ks.path), f"mode {mode:03o}")
    assert "refused" in line
    # the provider refuses it too: no signature from a world-readable keystore
    res = ks.openssl("pkey", "-in", "sealhsm:nokey", "-pubout", check=None)
    assert res.rc != 0
    os.chmod(ks.path, 0o700)
    ks.sealhsm("list")


@pytest.mark.parametrize("name", ["data.mdb", "lock.mdb", "sealhsm.lock"])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_keystore_file_open_to_others_refused(ks, name, mode):
    f = ks.path / name
    assert f.exists(), f
    os.chmod(f, mode)
    assert_fails(ks.sealhsm("list", check=None), 7, str(f), f"mode {mode:03o}")
    os.chmod(f, 0o600)
    ks.sealhsm("list")


def test_everything_created_is_private_under_umask_000(tmp_path):
    """init, keygen and a backup/restore made with umask 000: every directory 0700,
    every file 0600, and the keystore opens."""
    env_ks = Keystore(tmp_path / "a" / "b" / "ks", tmp_path)
    old = os.umask(0)
    try:
        run([SEALHSM, "init", *FAST_KDF], env=env_ks.env(so=True), check=0)
        env_ks.keygen("k1", "ec:P-256")
        bak = tmp_path / "ks.bak"
        env_ks.sealhsm("backup", "--out", bak, so=True)
        restored = Keystore(tmp_path / "r1" / "ks", tmp_path)
        env_ks.sealhsm("restore", "--in", bak, "--keystore", restored.path, so=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(bak.stat().st_mode) == 0o600
    for d in (tmp_path / "a", tmp_path / "a" / "b", env_ks.path, tmp_path / "r1",
              restored.path):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    for ksd in (env_ks.path, restored.path):
        files = list(ksd.iterdir())
        assert {f.name for f in files} >= {"data.mdb", "lock.mdb", "sealhsm.lock"}
        for f in files:
            assert stat.S_IMODE(f.lstat().st_mode) == 0o600, (f, oct(f.lstat().st_mode))
    restored.sealhsm("list")


def test_init_into_an_existing_empty_0755_dir_makes_it_private(tmp_path):
    d = tmp_path / "premade"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    k = Keystore(d, tmp_path)
    run([SEALHSM, "init", *FAST_KDF], env=k.env(so=True), check=0)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    k.sealhsm("list")


# -- item 14: backups 0600 whatever the umask -----------------------------------------

def test_backup_is_0600_under_umask_022(ks, tmp_path):
    ks.keygen("k1", "ec:P-256")
    bak = tmp_path / "umask022.bak"
    old = os.umask(0o022)
    try:
        ks.sealhsm("backup", "--out", bak, so=True)
    finally:
        os.umask(old)
    mode = stat.S_IMODE(bak.stat().st_mode)
    assert mode == 0o600, oct(mode)
    # and another user could not read it: no group/other bits at all
    assert mode & 0o077 == 0


# -- item 19: symbolic links inside the keystore --------------------------------------

@pytest.mark.parametrize("name", ["sealhsm.lock", "lock.mdb"])
def test_dangling_symlink_lock_file_refused_and_target_not_created(ks, tmp_path, name):
    target = tmp_path / f"planted-{name}"
    (ks.path / name).unlink()
    os.symlink(target, ks.path / name)
    assert_fails(ks.sealhsm("list", check=None), 7, str(ks.path / name), "symbolic link")
    assert not target.exists() and not os.path.lexists(target), "the link's target was created"
    # the provider refuses the same way and creates nothing either
    res = ks.openssl("pkey", "-in", "sealhsm:nokey", "-pubout", check=None)
    assert res.rc != 0
    assert not os.path.lexists(target)
    (ks.path / name).unlink()
    ks.sealhsm("list")


@pytest.mark.parametrize("name", ["sealhsm.lock", "lock.mdb"])
def test_symlink_lock_file_to_existing_file_refused(ks, tmp_path, name):
    target = tmp_path / f"other-{name}"
    target.write_bytes(b"")
    os.chmod(target, 0o600)
    (ks.path / name).unlink()
    os.symlink(target, ks.path / name)
    assert_fails(ks.sealhsm("list", check=None), 7, str(ks.path / name), "symbolic link")
    assert target.stat().st_size == 0, "LMDB wrote through the link"


def test_data_mdb_symlinked_to_another_keystore_refused(ks, tmp_path):
    other = Keystore(tmp_path / "other", tmp_path)
    run([SEALHSM, "init", *FAST_KDF], env=other.env(so=True), check=0)
    other.keygen("theirs", "ec:P-256")
    (ks.path / "data.mdb").unlink()
    (ks.path / "lock.mdb").unlink()
    os.symlink(other.path / "data.mdb", ks.path / "data.mdb")
    res = ks.sealhsm("list", check=None)
    assert_fails(res, 7, str(ks.path / "data.mdb"), "symbolic link")
    assert "theirs" not in res.out
    assert not (ks.path / "lock.mdb").exists(), "a second lock file was made for one data file"
    # the other keystore is untouched and still works
    assert "theirs" in other.sealhsm("list").out


def test_data_mdb_hard_to_fool_with_a_directory(ks):
    """Not a symlink, not a regular file: refused, exit 7, naming it."""
    shutil.move(ks.path / "data.mdb", ks.path / "data.keep")
    (ks.path / "data.mdb").mkdir(mode=0o700)
    assert_fails(ks.sealhsm("list", check=None), 7, str(ks.path / "data.mdb"))
    (ks.path / "data.mdb").rmdir()
    shutil.move(ks.path / "data.keep", ks.path / "data.mdb")
    ks.sealhsm("list")
