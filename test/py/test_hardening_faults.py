# SPDX-License-Identifier: Apache-2.0
"""Fault injection (issue 8): a full LMDB map, a full disk (a size-limited tmpfs when
this machine lets us mount one, and always an LD_PRELOAD shim failing the writes of
data.mdb at every point of an operation in turn), a read-only keystore, stale lock
files, data.mdb replaced by garbage / truncated / emptied, and a newer on-disk format.

Each fault must give a clear one-line error with the documented exit code (README:
6 integrity failure, 7 other I/O error) or, through the provider, an OpenSSL error
naming the cause; it must release no signature and crash nothing; and once the fault
is removed the keystore must be intact: `audit verify` passes, every key signs, and
the log holds exactly one `sign ok` record per signature that was released.
"""
import json
import os
import subprocess
import uuid

import pytest

from conftest import (OPENSSL, SEALHSM, USER_PIN, Keystore, assert_fails, audit_records,
                      base_env, mdb_records, mdb_rewrite, preload_env, run)


# -- helpers -----------------------------------------------------------------------

class Ledger:
    """What a test released: signatures that verify, per key label."""

    def __init__(self, ks):
        self.ks = ks
        self.released = {}
        self.n = 0

    def sign(self, label, env=None, check_ok=False):
        """openssl dgst -sign through the provider with env (a full environment, e.g.
        with the shim preloaded). Returns (Result, signature bytes or b'')."""
        self.n += 1
        data = self.ks.tmp / f"ledger-data-{self.n}"
        data.write_bytes(f"artifact {self.n} {uuid.uuid4()}\n".encode())
        sig = self.ks.tmp / f"ledger-sig-{self.n}"
        e = env if env is not None else preload_env(self.ks.env())
        res = run([OPENSSL, "dgst", "-sha256", *self.ks.provider_args(), "-sign",
                   f"sealhsm:{label}", "-out", sig, data], env=e, check=None)
        out = sig.read_bytes() if sig.exists() else b""
        if out:
            assert verifies(self.ks, label, sig, data), f"a released signature does not verify: {res}"
            self.released[label] = self.released.get(label, 0) + 1
        if check_ok:
            assert res.rc == 0 and out, f"signing with {label} failed: {res}"
        return res, out

    def refused(self, label, env, *needles):
        """The signature is refused: openssl fails, writes no signature, and its error
        output names the cause."""
        res, out = self.sign(label, env=env)
        assert res.rc != 0 and out == b"", f"signature released under a fault: {res}"
        for n in needles:
            assert n in res.err, f"{n!r} not in the error output: {res}"
        return res


def pubkey(ks, label):
    p = ks.tmp / f"{label}.pub.pem"
    if not p.exists():
        ks.sealhsm("pubkey", label, "--out", p)
    return p


def verifies(ks, label, sig, data):
    return run([OPENSSL, "dgst", "-sha256", "-verify", pubkey(ks, label), "-signature", sig,
                data], check=None).rc == 0


def sign_ok_records(ks, label):
    return sum(1 for r in audit_records(ks)
               if r["op"] == "sign" and r["outcome"] == "ok" and r["label"] == label)


def assert_intact(ledger, labels):
    """The fault is gone: the log verifies, every key is listed and signs, and each
    signature released so far has exactly one `sign ok` record."""
    ks = ledger.ks
    ks.sealhsm("audit", "verify")
    listed = {k["label"] for k in json.loads(ks.sealhsm("list", "--json").out)}
    assert set(labels) <= listed, listed
    for label in labels:
        ledger.sign(label, check_ok=True)
        assert sign_ok_records(ks, label) == ledger.released.get(label, 0), \
            f"{label}: sign records differ from the signatures released"
    ks.sealhsm("audit", "verify")


def one_line(res):
    """The tool's error contract: one stderr line starting 'sealhsm: '."""
    lines = res.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sealhsm: "), res
    return lines[0]


def tool(ks, *args, env=None, so=True):
    """`sealhsm` with an explicit environment (for the shim), never asserting the exit."""
    return run([SEALHSM, *args], env=env if env is not None else ks.env(so=so), check=None)


def shim_calls(hardening_bin, ks, argv, env, **cfg):
    """How many matching calls the shim sees in one run of argv (no fault injected)."""
    count = ks.tmp / f"count-{uuid.uuid4().hex}"
    e = preload_env(env, hardening_bin / "faultshim.so", after=10**9, count=count, **cfg)
    run(argv, env=e, check=0)
    return sum(int(x) for x in count.read_text().split())


@pytest.fixture
def key(ks):
    ks.keygen("k", "ec:P-256")
    return "k"


# -- full LMDB map -------------------------------------------------------------------

def fill_map(ks):
    """Puts bulk data into an extra named database of the environment (invisible to the
    store) with mdb_load limited to a 1 MiB map, in passes of smaller and smaller
    values, until LMDB refuses more: the file is then full for a process that maps
    1 MiB (SEALHSM_MAP_MIB=1)."""
    for size in (1500, 150, 15):
        lines = ["VERSION=3", "format=bytevalue", "mapsize=1048576", "database=filler",
                 "type=btree", "HEADER=END"]
        for i in range(20000 if size < 1500 else 1200):
            lines += [f" {size:04x}{i:08x}", " " + "ab" * size]
        lines.append("DATA=END")
        cp = subprocess.run(["mdb_load", "-s", "filler", "-f", "/dev/stdin", ks.path],
                            input="\n".join(lines) + "\n", text=True, capture_output=True)
        assert "MDB_MAP_FULL" in cp.stderr, cp
    assert os.path.getsize(ks.path / "data.mdb") > 1000 * 1024


def test_map_full_refuses_cleanly_and_recovers(ks, key):
    ledger = Ledger(ks)
    ledger.sign(key, check_ok=True)
    fill_map(ks)
    full = dict(SEALHSM_MAP_MIB="1")
    # whatever step meets the full map (the unlock's try counter, the signature's
    # record), the signature is refused and says why
    for _ in range(50):
        res, out = ledger.sign(key, env=preload_env(ks.env(**full)))
        if res.rc != 0:
            break
    assert res.rc != 0 and out == b"", "the map never filled up"
    assert "is full (map size reached)" in res.err, res
    res = tool(ks, "keygen", "k2", "--type", "ec:P-256", env=ks.env(so=True, **full))
    assert res.rc == 7 and "is full (map size reached)" in one_line(res), res
    assert res.out == ""
    # the fault removed (a bigger map): nothing was lost, k2 was never made
    assert_intact(ledger, [key])
    assert "k2" not in ks.sealhsm("list").out
    ks.keygen("k2", "ec:P-256")
    assert_intact(ledger, [key, "k2"])


# -- disk full ---------------------------------------------------------------------------

def try_mount(*args):
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", *map(str, args)], capture_output=True).returncode == 0


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def small_fs(tmp_path):
    """A 4 MiB tmpfs (tests run as root in CI); skipped where mounting is not allowed,
    the shim tests below inject the same errors without it."""
    mnt = tmp_path / "small"
    mnt.mkdir(mode=0o700)
    if not try_mount("-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", mnt):
        pytest.skip("cannot mount a tmpfs here (needs root): covered by the shim tests")
    yield mnt
    umount(mnt)


def fill_fs(path):
    """Fills the file system of path; returns the filler file."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (65536, 4096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass
    return filler


def test_disk_full_tmpfs(small_fs, tmp_path):
    ks = Keystore(small_fs / "ks", tmp_path)
    run([SEALHSM, "init", "--kdf-memory", "1", "--kdf-iterations", "1"], env=ks.env(so=True), check=0)
    ks.keygen("k", "ec:P-256")
    ledger = Ledger(ks)
    ledger.sign("k", check_ok=True)
    filler = fill_fs(small_fs)
    # LMDB reuses freed pages first: sign until the file has to grow
    for _ in range(200):
        res, out = ledger.sign("k")
        if res.rc != 0:
            break
    assert res.rc != 0 and out == b"", "the disk never filled up"
    assert "no space left on device" in res.err, res
    res = tool(ks, "keygen", "k2", "--type", "rsa:2048")
    assert res.rc == 7 and "no space left on device" in one_line(res), res
    backup = small_fs / "ks.backup"
    res = tool(ks, "backup", "--out", backup)
    assert res.rc == 7, res
    one_line(res)
    assert not backup.exists() and not list(small_fs.glob("ks.backup*")), "a partial backup was left"
    filler.unlink()
    assert_intact(ledger, ["k"])
    ks.sealhsm("backup", "--out", backup, so=True)


SIGN_ERRORS = {"ENOSPC": "no space left on device", "EIO": "Input/output error",
               "EDQUOT": "no space left on device"}


@pytest.mark.parametrize("errno_name", ["ENOSPC", "EIO"])
def test_every_failing_write_of_a_signature(ks, key, hardening_bin, errno_name):
    """The shim fails the Nth write or sync of data.mdb, for every N an `openssl dgst
    -sign` makes (the unlock's two commits and the signature's): each run is refused
    with the cause and releases nothing, and afterwards nothing is lost."""
    ledger = Ledger(ks)
    count = ks.tmp / "count"
    ledger.sign(key, env=preload_env(ks.env(), hardening_bin / "faultshim.so", after=10**9,
                                     count=count), check_ok=True)
    calls = int(count.read_text())
    assert calls >= 6, calls
    for n in range(calls):
        env = preload_env(ks.env(), hardening_bin / "faultshim.so", after=n, errno=errno_name)
        ledger.refused(key, env, SIGN_ERRORS[errno_name])
    assert_intact(ledger, [key])


def test_every_failing_write_of_a_keygen(ks, hardening_bin):
    ks.keygen("first", "ec:P-256")
    ledger = Ledger(ks)
    argv = [SEALHSM, "keygen", "probe", "--type", "ec:P-256"]
    calls = shim_calls(hardening_bin, ks, argv, ks.env(so=True))
    for n in range(calls):
        label = f"k{n}"
        env = preload_env(ks.env(so=True), hardening_bin / "faultshim.so", after=n)
        res = tool(ks, "keygen", label, "--type", "ec:P-256", env=env)
        assert res.rc == 7 and "no space left on device" in one_line(res), res
        assert res.out == ""
        assert label not in ks.sealhsm("list").out
    # the labels were never taken: the same keygens now succeed
    for n in range(calls):
        ks.keygen(f"k{n}", "ec:P-256")
    assert_intact(ledger, ["first", "probe"] + [f"k{n}" for n in range(calls)])


def test_failing_backup_leaves_no_file(ks, key, hardening_bin):
    """A backup whose file cannot be synced or renamed, or whose audit record cannot be
    committed, fails with exit 7 and leaves no backup file and no temporary behind."""
    ledger = Ledger(ks)
    out = ks.tmp / "ks.backup"
    cases = [dict(match="ks.backup", ops="fsync"), dict(match="ks.backup", ops="rename"),
             dict(match="data.mdb", ops="pwrite,writev,fdatasync", arm="fsync")]
    for cfg in cases:
        env = preload_env(ks.env(so=True), hardening_bin / "faultshim.so", **cfg)
        res = tool(ks, "backup", "--out", out, env=env)
        assert res.rc == 7, (cfg, res)
        one_line(res)
        assert not out.exists(), f"{cfg}: a backup file was left although the backup failed"
        assert not list(ks.tmp.glob("ks.backup.tmp*")), f"{cfg}: a temporary file was left"
    assert_intact(ledger, [key])
    ks.sealhsm("backup", "--out", out, so=True)


def test_backup_killed_anywhere_after_its_file_is_complete(ks, key, hardening_bin):
    """SIGKILL at each write and sync of data.mdb after the backup file is complete
    (synced): the backup's own commit and whatever follows it. A backup file under its
    name must always have its record in the source keystore's log (a backup is a copy of
    every sealed key: it must not leave unseen), and the keystore stays intact."""
    out = ks.tmp / "ks.backup"
    count = ks.tmp / "backup-writes"
    env = preload_env(ks.env(so=True), hardening_bin / "faultshim.so", match="data.mdb",
                      ops="pwrite,writev,fdatasync", arm="fsync", after=10**9, count=count)
    run([SEALHSM, "backup", "--out", out], env=env, check=0)
    out.unlink()
    writes = int(count.read_text())
    assert writes >= 2, writes
    for n in range(writes + 1):
        env = preload_env(ks.env(so=True), hardening_bin / "faultshim.so", match="data.mdb",
                          ops="pwrite,writev,fdatasync", arm="fsync", after=n, action="kill")
        cp = subprocess.run([SEALHSM, "backup", "--out", out], env=env, capture_output=True)
        assert cp.returncode in (0, -9), cp
        ks.sealhsm("audit", "verify")
        recorded = [r for r in audit_records(ks) if r["op"] == "backup" and r["outcome"] == "ok"
                    and str(out) in r["reason"]]
        assert not out.exists() or recorded, f"kill at write {n}: backup released without its record"
        if out.exists():
            restored = Keystore(ks.tmp / f"restored{n}", ks.tmp)
            run([SEALHSM, "restore", "--in", out, "--keystore", restored.path],
                env=restored.env(so=True), check=0)
            out.unlink()
    assert_intact(Ledger(ks), [key])


# -- read-only keystore --------------------------------------------------------------

def read_only_views(ks, hardening_bin):
    """(name, keystore path, env) for each way of making the keystore read-only here:
    a read-only bind mount (root) and the shim refusing opens for writing (EROFS)."""
    views = []
    ro = ks.tmp / "ro-view"
    ro.mkdir(mode=0o700, exist_ok=True)
    if try_mount("--bind", ks.path, ro):
        if try_mount("-o", "remount,bind,ro", ro):
            views.append(("bind-mount", ro, None))
        else:
            umount(ro)
    views.append(("shim", ks.path, dict(match=str(ks.path), ops="open", errno="EROFS")))
    return views, ro


def test_read_only_keystore(ks, key, hardening_bin):
    ledger = Ledger(ks)
    ledger.sign(key, check_ok=True)
    views, mnt = read_only_views(ks, hardening_bin)
    try:
        for name, path, shim in views:
            ro = Keystore(path, ks.tmp)
            def env(**kw):
                e = ro.env(**kw)
                return preload_env(e, hardening_bin / "faultshim.so", **shim) if shim else preload_env(e)
            for args in (["list"], ["keygen", "k2", "--type", "ec:P-256"], ["audit", "verify"]):
                res = tool(ro, *args, env=env(so=True))
                line = one_line(res)
                assert res.rc == 7 and "Read-only file system" in line and str(path) in line, (name, res)
            res, out = Ledger(ro).sign(key, env=env())
            assert res.rc != 0 and out == b"" and "Read-only file system" in res.err, (name, res)
    finally:
        umount(mnt)
    assert_intact(ledger, [key])
    assert "k2" not in ks.sealhsm("list").out


# -- stale locks -------------------------------------------------------------------------

def test_writer_killed_holding_the_lmdb_lock(ks, key, hardening_bin):
    """A process SIGKILLed in the middle of a write transaction (it holds LMDB's writer
    mutex in lock.mdb) must not block or break the next one."""
    ledger = Ledger(ks)
    ledger.sign(key, check_ok=True)
    for n in (0, 2, 5):
        env = preload_env(ks.env(so=True), hardening_bin / "faultshim.so", after=n, action="kill")
        cp = subprocess.run([SEALHSM, "keygen", f"dead{n}", "--type", "ec:P-256"], env=env,
                            capture_output=True, timeout=60)
        assert cp.returncode == -9, cp
        res = run([SEALHSM, "list"], env=ks.env(), check=0, timeout=30)
        assert key in res.out
    assert_intact(ledger, [key])


def test_leftover_lock_files(ks, key, hardening_bin):
    """lock.mdb and sealhsm.lock left behind with any content (garbage, empty, the
    reader slot of a process that died logged in) are not an obstacle."""
    ledger = Ledger(ks)
    ledger.sign(key, check_ok=True)
    pin = ks.tmp / "user.pin"
    pin.write_text(USER_PIN)
    p = subprocess.Popen([hardening_bin / "memprobe", ks.path, "user", pin],
                         env=preload_env(base_env()), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert p.stdout.readline().startswith(b"READY"), "memprobe did not log in"
    p.kill()
    p.wait()
    ledger.sign(key, check_ok=True)
    for name, content in (("lock.mdb", os.urandom(8192)), ("lock.mdb", b""),
                          ("sealhsm.lock", b"stale pid 12345\n"), ("sealhsm.lock", os.urandom(64))):
        (ks.path / name).write_bytes(content)
        os.chmod(ks.path / name, 0o600)
        ledger.sign(key, check_ok=True)
        ks.sealhsm("audit", "verify")
    for name in ("lock.mdb", "sealhsm.lock"):
        (ks.path / name).unlink()
    assert_intact(ledger, [key])


# -- damaged data file -------------------------------------------------------------------

def damage_cases(size):
    return {
        "zero-length": lambda f: f.write_bytes(b""),
        "garbage": lambda f: f.write_bytes(os.urandom(size)),
        "zeros": lambda f: f.write_bytes(b"\0" * size),
        "garbage-first-pages": lambda f: f.write_bytes(os.urandom(8192) + f.read_bytes()[8192:]),
        "truncated-half": lambda f: f.write_bytes(f.read_bytes()[: size // 2]),
        "truncated-to-meta": lambda f: f.write_bytes(f.read_bytes()[:12288]),
    }


@pytest.mark.parametrize("case", ["zero-length", "garbage", "zeros", "garbage-first-pages",
                                  "truncated-half", "truncated-to-meta"])
def test_damaged_data_file(ks, key, case):
    ledger = Ledger(ks)
    ledger.sign(key, check_ok=True)
    for i in range(6):  # a file of many pages, so that truncation cuts records
        ks.keygen(f"more{i}", "ec:P-256", "--description", "x" * 1000)
    data = ks.path / "data.mdb"
    good = data.read_bytes()
    damage_cases(len(good))[case](data)
    for args, so in ((["list"], False), (["audit", "verify"], False),
                     (["keygen", "k2", "--type", "ec:P-256"], True), (["show", key], False)):
        res = tool(ks, *args, so=so)
        assert_fails(res, 6, str(ks.path))
        assert "corrupt" in res.err or "not a sealhsm keystore" in res.err, res
    res, out = ledger.sign(key)
    assert res.rc != 0 and out == b"" and str(ks.path) in res.err, res
    data.write_bytes(good)
    assert_intact(ledger, [key] + [f"more{i}" for i in range(6)])


# -- newer on-disk format ------------------------------------------------------------------

def test_newer_format_is_refused(ks, key):
    ledger = Ledger(ks)
    ledger.sign(key, check_ok=True)
    meta = mdb_records(ks.path, "meta")
    cur = int.from_bytes(dict(meta)[b"format"], "big")
    assert cur == 2
    newer = cur + 1
    mdb_rewrite(ks.path, "meta", [(k, newer.to_bytes(4, "big") if k == b"format" else v)
                                  for k, v in meta])
    for args, so in ((["list"], False), (["keygen", "k2", "--type", "ec:P-256"], True),
                     (["audit", "verify"], False), (["backup", "--out", ks.tmp / "b"], True)):
        res = tool(ks, *args, so=so)
        line = assert_fails(res, 7, str(ks.path))
        assert f"format version {newer}" in line and "upgrade sealhsm" in line, line
    res, out = ledger.sign(key)
    assert res.rc != 0 and out == b"" and f"format version {newer}" in res.err, res
    assert not (ks.tmp / "b").exists()
    mdb_rewrite(ks.path, "meta", meta)
    assert_intact(ledger, [key])
