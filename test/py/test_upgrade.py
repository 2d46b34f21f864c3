# SPDX-License-Identifier: Apache-2.0
"""Format migration: a keystore made by the release before format 2 (keys, officers,
approvals, a certificate, signatures, a backup, a failed login) opens with this build,
is upgraded at the first login with its audit chain intact, verifies, and signs.

The old release is built from this repository's own history (git archive of the last
commit with format 1) into $SEALHSM_BUILD/format1-<commit>, once; no keystore is
committed. Needs a clone with history (a shallow clone skips, saying why)."""
import fcntl
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import (BUILD, FAST_KDF, OPENSSL, REPO, SO_PIN, USER_PIN, Keystore, Signer,
                      base_env, mdb_records, mdb_rewrite, run)

MARK = "#define ST_FORMAT_VERSION 1"
ALICE, BOB = "alice-pin-111", "bob-pin-2222"


def git(*args):
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)


def format1_commit():
    """The last commit whose store/internal.h says format 1."""
    last = git("log", "-1", "--format=%H", f"-S{MARK}", "--", "store/internal.h")
    sha = last.stdout.strip()
    if last.returncode != 0 or not sha:
        return None
    has = git("show", f"{sha}:store/internal.h")
    if has.returncode == 0 and MARK in has.stdout:
        return sha  # this checkout is still format 1 itself
    parent = git("rev-parse", f"{sha}^")
    return parent.stdout.strip() if parent.returncode == 0 else None


@pytest.fixture(scope="module")
def old_build(tmp_path_factory):
    if shutil.which("git") is None or git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout: the format 1 release cannot be built")
    sha = format1_commit()
    if sha is None or git("cat-file", "-e", f"{sha}^{{commit}}").returncode != 0:
        pytest.skip("the format 1 commit is not in this clone (shallow?)")
    out = BUILD / f"format1-{sha[:12]}"
    tool, prov = out / "build" / "tools" / "sealhsm", out / "build" / "provider"
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / "format1.lock", "w") as lock:  # pytest-xdist workers build once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not tool.exists() or not (prov / "sealhsm.so").exists():
            build_release(sha, out)
    return tool, prov


def build_release(sha, out):
    """The tool and provider of commit sha, from `git archive`, built under out."""
    src = out / "src"
    shutil.rmtree(out, ignore_errors=True)
    src.mkdir(parents=True)
    arch = subprocess.run(["git", "-C", str(REPO), "archive", sha], capture_output=True,
                          check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=arch, check=True)
    subprocess.run(["cmake", "-S", str(src), "-B", str(out / "build"),
                    "-DCMAKE_BUILD_TYPE=Release", "-DSEALHSM_TESTS=OFF"],
                   check=True, capture_output=True)
    subprocess.run(["cmake", "--build", str(out / "build"), "-j2", "--target", "sealhsm",
                    "sealhsm_provider"], check=True, capture_output=True)


def old_env(ks, so=False):
    e = base_env(SEALHSM_KEYSTORE=ks.path, SEALHSM_PIN=USER_PIN)
    if so:
        e["SEALHSM_SO_PIN"] = SO_PIN
    e.pop("LD_PRELOAD", None)
    return e


def old(tool, ks, *args, so=False, check=0, **extra):
    e = old_env(ks, so)
    e.update({k: str(v) for k, v in extra.items()})
    return run([tool, *args], env=e, check=check)


def old_openssl(prov, ks, *args, check=0):
    return run([OPENSSL, args[0], "-provider-path", prov, "-provider", "sealhsm", "-provider",
                "default", *args[1:]], env=old_env(ks), check=check)


def export(tool, ks):
    out = run([tool, "audit", "export", "--format", "jsonl"], env=old_env(ks), check=0).out
    return [json.loads(l) for l in out.splitlines()]


def test_format1_keystore_is_upgraded_with_its_chain(old_build, tmp_path):
    tool, prov = old_build
    ks = Keystore(tmp_path / "ks", tmp_path)
    old(tool, ks, "init", *FAST_KDF, so=True)
    old(tool, ks, "officer", "add", "alice", so=True, SEALHSM_OFFICER_PIN=ALICE)
    old(tool, ks, "officer", "add", "bob", so=True, SEALHSM_OFFICER_PIN=BOB)
    old(tool, ks, "keygen", "k1", "--type", "ec:P-256", so=True)
    old(tool, ks, "keygen", "dual", "--type", "ec:P-256", "--approvals", "2", so=True)
    old(tool, ks, "approve", "dual", "--officer", "alice", SEALHSM_OFFICER_PIN=ALICE)
    old(tool, ks, "approve", "dual", "--officer", "bob", SEALHSM_OFFICER_PIN=BOB)
    cert = tmp_path / "k1.crt"
    old_openssl(prov, ks, "req", "-new", "-x509", "-key", "sealhsm:k1", "-subj", "/CN=k1",
                "-days", "30", "-out", cert)
    old(tool, ks, "cert", "import", "k1", cert, so=True)
    data = tmp_path / "data.bin"
    data.write_bytes(b"signed by the old release\n")
    for label in ("k1", "k1", "dual"):
        old_openssl(prov, ks, "dgst", "-sha256", "-sign", f"sealhsm:{label}", "-out",
                    tmp_path / "old.sig", data)
    old(tool, ks, "backup", "--out", tmp_path / "old.bak", so=True)
    before = export(tool, ks)
    # last: a failed login, still unauthenticated when the new build opens the keystore
    assert old(tool, ks, "list", check=None, SEALHSM_PIN="wrong-pin-000").rc == 4

    # the new build: the first login upgrades, everything verifies
    doc = json.loads(ks.sealhsm("verify", "--json").out)
    assert doc["ok"] and doc["keys"] == 2 and doc["officers"] == 2, doc
    assert ks.sealhsm("upgrade", so=True).out.strip().endswith("format 2")
    after = json.loads("[" + ",".join(
        ks.sealhsm("audit", "export", "--format", "jsonl").out.splitlines()) + "]")
    # the old chain is kept record for record (hashes and MACs unchanged; the new
    # export adds `via`) ...
    assert [{k: v for k, v in r.items() if k != "via"} for r in after[:len(before)]] == before
    # ... followed by the failed login (unauthenticated), then the upgrade, chained on
    nxt = after[len(before):]
    assert (nxt[0]["op"], nxt[0]["outcome"], nxt[0]["mac"]) == ("unlock", "denied", None)
    up = [r for r in nxt if r["op"] == "init"]
    assert len(up) == 1 and "format upgraded from 1 to 2" in up[0]["reason"] and up[0]["mac"]
    ks.sealhsm("audit", "verify")

    # keys sign, counters and the activation carried over
    signer = Signer(ks)
    signer.ok("k1")
    signer.ok("dual")
    show = json.loads(ks.sealhsm("show", "k1", "--json").out)
    # the self-signed certificate, two old signatures, one new
    assert show["usage"]["signatures"] == 4 and show["certificate"]["subject"].endswith("k1")
    # the old release's backup restores into a new keystore and is upgraded there
    target = tmp_path / "restored"
    ks.sealhsm("restore", "--in", tmp_path / "old.bak", "--keystore", target, so=True)
    r = Keystore(target, tmp_path)
    assert json.loads(r.sealhsm("verify", "--json").out)["ok"]
    Signer(r).ok("k1", pub=signer.pubkey("k1"))


def test_tampered_format1_keystore_is_not_upgraded(old_build, tmp_path):
    """The upgrade carries nothing unchecked over: a format 1 keystore whose key
    record was put back to an older copy is refused, not re-baselined."""
    tool, prov = old_build
    ks = Keystore(tmp_path / "ks", tmp_path)
    old(tool, ks, "init", *FAST_KDF, so=True)
    old(tool, ks, "keygen", "k1", "--type", "ec:P-256", so=True)
    keys = mdb_records(ks.path, "keys")
    old(tool, ks, "revoke", "k1", so=True)
    mdb_rewrite(ks.path, "keys", keys)  # un-revoked by an older copy
    res = ks.sealhsm("list", check=None)
    assert res.rc == 6 and "rolled back" in res.err, res
    assert ks.sealhsm("upgrade", so=True, check=None).rc == 6
