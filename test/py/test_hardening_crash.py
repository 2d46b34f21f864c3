# SPDX-License-Identifier: Apache-2.0
"""Crash safety (issue 8): `sealhsm keygen`, `openssl dgst -sign` through the provider and
`sealhsm backup` are SIGKILLed at random points, at least 200 times in all, and after
each batch:

  - the keystore opens and `audit verify` passes (chain, MACs, freshness of every key);
  - every key whose keygen returned success is there;
  - no signature was released without its audit record: the `sign ok` records are at
    least as many as the signature files that were written completely (they verify
    with the public key);
  - every backup file in its final place restores into a keystore that verifies.

Delays are drawn uniformly over each command's runtime, measured first and re-measured
from the runs that end by themselves. With the fast KDF of the tests an unlock takes a
few milliseconds, so a second keystore uses a larger Argon2id memory (16 MiB) and its
kills land in the KDF as well.

Kills during an unlock count as failed PIN tries (docs/decisions.md: killing the process
does not buy a free guess), so these keystores allow the maximum of 1000 tries; the
lockout itself is the subject of other tests.

Under ASan (SEALHSM_ASAN=1) every command is several times slower: the batches are
halved there (about 110 kills), the normal build makes 225.
"""
import json
import random
import statistics
import subprocess
import time
import uuid

import pytest

from conftest import (ASAN, OPENSSL, SEALHSM, Keystore, audit_records, preload_env, run)

SCALE = 0.5 if ASAN else 1.0
RNG = random.Random()


class Target:
    """A keystore under test and what was observed to succeed in it."""

    def __init__(self, tmp_path, name, kdf_mib):
        self.ks = Keystore(tmp_path / name, tmp_path / f"{name}-files")
        self.ks.tmp.mkdir()
        run([SEALHSM, "init", "--kdf-memory", str(kdf_mib), "--kdf-iterations", "1",
             "--max-pin-tries", "1000"], env=self.ks.env(so=True), check=0)
        self.ks.keygen("signer", "ec:P-256")
        self.pub = tmp_path / f"{name}-signer.pub.pem"
        self.ks.sealhsm("pubkey", "signer", "--out", self.pub)
        self.generated = []      # labels whose keygen exited 0
        self.signatures = []     # (data, sig) of every signing run
        self.backups = []        # backup paths of every backup run
        self.kills = 0
        self.n = 0

    def name(self, what):
        self.n += 1
        return f"{self.ks.path.name}-{what}{self.n}"

    # each returns (argv, env, on_success)
    def keygen(self):
        label = self.name("key")
        return ([SEALHSM, "keygen", label, "--type", "ec:P-256"], self.ks.env(so=True),
                lambda: self.generated.append(label))

    def sign(self):
        n = self.name("sig")
        data = self.ks.tmp / f"{n}.data"
        sig = self.ks.tmp / f"{n}.sig"
        data.write_bytes(f"crash test {n} {uuid.uuid4()}\n".encode())
        self.signatures.append((data, sig))
        argv = [OPENSSL, "dgst", "-sha256", *self.ks.provider_args(), "-sign",
                "sealhsm:signer", "-out", sig, data]
        return argv, preload_env(self.ks.env()), lambda: None

    def backup(self):
        out = self.ks.tmp / f"{self.name('backup')}.sealhsm-backup"
        self.backups.append(out)
        return [SEALHSM, "backup", "--out", out], self.ks.env(so=True), lambda: None


def launch(argv, env, kill_after):
    """Runs argv and SIGKILLs it after kill_after seconds unless it ended first.
    Returns (killed, returncode, stderr)."""
    p = subprocess.Popen([str(a) for a in argv], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = False
    try:
        p.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        p.kill()
        killed = True
    out, err = p.communicate(timeout=60)
    err = err.decode(errors="replace")
    assert "Sanitizer" not in err and "runtime error:" not in err, err
    # a kill that raced with the exit is no kill
    killed = killed and p.returncode == -9
    return killed, p.returncode, err


def runtime(make):
    """Median wall time of three undisturbed runs of a command."""
    times = []
    for _ in range(3):
        argv, env, on_ok = make()
        t = time.monotonic()
        killed, rc, err = launch(argv, env, 120)
        times.append(time.monotonic() - t)
        assert rc == 0, err
        on_ok()
    return statistics.median(times)


def batch(target, make, kills):
    """Kills `kills` runs of a command at random points of its runtime. The runtime is
    re-measured from every run that ended by itself (a loaded machine makes the first
    measurement too long or too short), so the kills keep landing inside the command."""
    t = runtime(make)
    recent = [t]
    done = 0
    for _ in range(kills * 4):
        if done >= kills:
            break
        argv, env, on_ok = make()
        start = time.monotonic()
        killed, rc, err = launch(argv, env, RNG.uniform(0.0, t))
        if killed:
            done += 1
        else:
            assert rc == 0, f"{argv[1]} failed after earlier kills: {err}"
            on_ok()
            recent = (recent + [time.monotonic() - start])[-5:]
            t = statistics.median(recent)
    assert done >= kills * 0.9, f"only {done} of {kills} runs were killed (runtime {t:.3f}s)"
    target.kills += done
    check(target)
    return done, t


def check(target):
    ks = target.ks
    ks.sealhsm("audit", "verify")
    listed = {k["label"] for k in json.loads(ks.sealhsm("list", "--json").out)}
    missing = set(target.generated) - listed
    assert not missing, f"keys whose keygen succeeded are gone: {missing}"
    released = 0
    for data, sig in target.signatures:
        if sig.exists() and sig.stat().st_size > 0:
            assert run([OPENSSL, "dgst", "-sha256", "-verify", target.pub, "-signature", sig,
                        data], check=None).rc == 0, f"{sig} was written but does not verify"
            released += 1
    recorded = sum(1 for r in audit_records(ks)
                   if r["op"] == "sign" and r["outcome"] == "ok" and r["label"] == "signer")
    assert recorded >= released, \
        f"{released} signatures released but only {recorded} sign records"
    for b in target.backups:
        if b.exists():
            new = Keystore(ks.tmp / f"restored-{uuid.uuid4().hex}", ks.tmp)
            run([SEALHSM, "restore", "--in", b, "--keystore", new.path], env=new.env(so=True),
                check=0)
            new.sealhsm("audit", "verify")
    target.backups = [b for b in target.backups if not b.exists()]


def test_random_kills(tmp_path):
    fast = Target(tmp_path, "fast", 1)
    slow = Target(tmp_path, "slow-kdf", 16)
    plan = [(fast, fast.keygen, 40), (slow, slow.keygen, 25),
            (fast, fast.sign, 50), (slow, slow.sign, 30),
            (fast, fast.backup, 45), (slow, slow.backup, 35)]
    report = []
    planned = 0
    for target, make, kills in plan:
        n = max(5, int(kills * SCALE))
        planned += n
        done, t = batch(target, make, n)
        report.append(f"{make.__name__}@{target.ks.path.name}: {done} kills over {t * 1000:.0f} ms")
    total = fast.kills + slow.kills
    print("crash test:", "; ".join(report), f"; total {total} kills")
    # each batch reaches at least 90% of its kills; the normal build plans 225
    assert total >= 0.9 * planned and (ASAN or total >= 200), report
    # what was generated is still there and still signs
    for target in (fast, slow):
        res = target.ks.openssl("dgst", "-sha256", "-sign", "sealhsm:signer", "-out",
                                tmp_path / "final.sig", target.pub)
        assert res.rc == 0
