# SPDX-License-Identifier: Apache-2.0
"""Issue 5: sealed backup and restore. A restored keystore keeps ids, labels, states,
policy, counters, certificates and the audit chain, and its keys sign signatures that
verify under the original public keys; the backup file holds no private-key bytes;
every truncation and flipped byte is refused with exit 6 before anything is written."""
import base64
import concurrent.futures
import hashlib
import json
import os
import re

import pytest

import conftest
from conftest import Keystore, Signer, assert_fails, audit_records

OFFICERS = {"alice": "alice-pin-1111", "bob": "bob-pin-2222"}


def shows(ks):
    """{label: `show --json`} for every key."""
    labels = [k["label"] for k in json.loads(ks.sealhsm("list", "--json").out)]
    return {l: json.loads(ks.sealhsm("show", l, "--json").out) for l in labels}


def gone(path):
    """No keystore left behind: absent, or an empty directory."""
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def restore(ks, backup, target, check=0, env=None, **extra):
    return ks.sealhsm("restore", "--in", backup, "--keystore", target, user=False, so=True,
                      check=check, env=env, **extra)


def genpkey(tmp, name, *args):
    pem = tmp / f"{name}.pem"
    conftest.run([conftest.OPENSSL, "genpkey", *args, "-out", pem], check=0)
    return pem


# -- round trip -----------------------------------------------------------------------

def test_backup_restore_round_trip(ks, signer, tmp_path):
    prod = ks.conf("prod.cnf", environment="prod")
    ks.keygen("rel", "ec:P-384", "--env", "prod", "--digests", "sha384",
              "--max-signatures", "5", "--description", "release signing")
    ks.keygen("dis", "ec:P-256")
    ks.keygen("rev", "ec:P-256")
    ks.keygen("gone", "ec:P-256")
    ks.keygen("rl", "ec:P-256", "--rate", "2/hour")
    known = genpkey(tmp_path, "known", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    ks.sealhsm("import", "imp", "--in", known, "--padding", "pss", so=True)
    cert = tmp_path / "imp.crt"
    conftest.run([conftest.OPENSSL, "req", "-x509", "-key", known, "-subj", "/CN=imp",
                  "-days", "10", "-out", cert], check=0)
    ks.sealhsm("cert", "import", "imp", cert, so=True)
    for name, pin in OFFICERS.items():
        ks.sealhsm("officer", "add", name, so=True, SEALHSM_OFFICER_PIN=pin)
    ks.keygen("dual", "ec:P-256", "--approvals", "2")
    signer.ok("rel", digest="sha384", via="conf", conf=prod)
    signer.ok("rel", "pkeyutl", digest="sha384", via="conf", conf=prod)
    signer.ok("rl")
    signer.ok("imp", pss=True)
    ks.sealhsm("disable", "dis", so=True)
    ks.sealhsm("revoke", "rev", "--reason", "superseded", so=True)
    ks.sealhsm("destroy", "gone", so=True)
    pubs = {l: signer.pubkey(l) for l in ("rel", "rl", "imp", "dis")}
    before = shows(ks)
    attest_ca = ks.sealhsm("attest", "--ca").out
    backup = tmp_path / "ks.bak"
    ks.sealhsm("backup", "--out", backup, so=True)
    src_audit = audit_records(ks)
    brec = [r for r in src_audit if r["op"] == "backup"]
    assert len(brec) == 1 and brec[0]["outcome"] == "ok"

    new = tmp_path / "restored"
    restore(ks, backup, new)
    assert (new.stat().st_mode & 0o777) == 0o700
    for f in new.iterdir():
        assert (f.stat().st_mode & 0o077) == 0, f
    r = Keystore(new, tmp_path)
    after = shows(r)
    assert after == before                      # ids, labels, states, policy, usage, certs
    assert json.loads(r.sealhsm("list", "--json").out) == json.loads(
        ks.sealhsm("list", "--json").out)
    assert r.sealhsm("officer", "list").out == ks.sealhsm("officer", "list").out
    assert r.sealhsm("attest", "--ca").out == attest_ca
    # the audit chain came along: the same records up to the backup, then the restore
    r.sealhsm("audit", "verify")
    rrecs = audit_records(r)
    k = brec[0]["seq"]
    assert rrecs[:k] == src_audit[:k]
    assert rrecs[k]["op"] == "restore" and rrecs[k]["outcome"] == "ok"
    # keys sign in the restored keystore; signatures verify under the original keys
    rs = Signer(r)
    rprod = r.conf("rprod.cnf", environment="prod")
    for _ in range(3):                                 # 2 of 5 were used before the backup
        rs.ok("rel", digest="sha384", via="conf", conf=rprod, pub=pubs["rel"])
    rs.refused("rel", "max-signatures", digest="sha384", via="conf", conf=rprod)
    rs.ok("rl", pub=pubs["rl"])                        # 2/hour: one was used before
    rs.refused("rl", "rate")
    rs.ok("imp", pss=True, pub=pubs["imp"])
    rs.refused("imp", "padding")
    rs.refused("dis", "disabled")
    rs.refused("rev", "revoked")
    rs.refused("dual", "approvals")
    res, _, _ = rs.sign("gone")
    assert res.rc != 0 and "gone" in res.errtext
    assert r.sealhsm("keygen", "gone", "--type", "ec:P-256", so=True, check=None).rc != 0
    r.sealhsm("audit", "verify")
    # the source is unaffected by what happens in the copy
    assert shows(ks)["rel"]["usage"]["signatures"] == 2
    ks.sealhsm("audit", "verify")


def test_restore_needs_a_new_directory(ks, tmp_path):
    ks.keygen("k", "ec:P-256")
    backup = tmp_path / "ks.bak"
    ks.sealhsm("backup", "--out", backup, so=True)
    res = restore(ks, backup, ks.path, check=None)
    assert res.rc != 0
    ks.sealhsm("audit", "verify")
    assert [k["label"] for k in json.loads(ks.sealhsm("list", "--json").out)] == ["k"]


# -- no private-key bytes -------------------------------------------------------------

def private_parts(pem):
    """Private material of a PEM key, as byte strings: the PKCS#8 DER, the PEM base64
    body (joined, and each line), and each private component big-endian (RSA d, p, q,
    dP, dQ, qInv; EC and EdDSA private scalar)."""
    der = conftest.run([conftest.OPENSSL, "pkey", "-in", pem, "-outform", "DER"],
                       binary=True, check=0).out
    body = [l for l in pem.read_text().splitlines() if l and not l.startswith("-----")]
    parts = {"pkcs8-der": der, "pem-body": "".join(body).encode()}
    for i, l in enumerate(body[:-1]):
        parts[f"pem-line{i}"] = l.encode()
    text = conftest.run([conftest.OPENSSL, "pkey", "-in", pem, "-noout", "-text"], check=0).out
    names = ("privateExponent", "prime1", "prime2", "exponent1", "exponent2", "coefficient",
             "priv")
    cur = None
    hexes = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s*$", line)
        if m:
            cur = m.group(1) if m.group(1) in names else None
            continue
        if cur and re.fullmatch(r"\s+[0-9a-f:]+", line):
            hexes[cur] = hexes.get(cur, "") + line.strip().replace(":", "")
        elif not line.startswith(" "):
            cur = None
    assert hexes, text
    for n, h in hexes.items():
        v = int(h, 16)
        raw = v.to_bytes((v.bit_length() + 7) // 8, "big")
        parts[n] = raw
        if n == "priv":                                   # fixed-width scalar too
            parts["priv-fixed"] = bytes.fromhex(h)[-len(bytes.fromhex(h)):]
    return parts


def test_backup_holds_no_private_key_bytes(ks, tmp_path):
    keys = {
        "rsa": genpkey(tmp_path, "rsa", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"),
        "ec": genpkey(tmp_path, "ec", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"),
        "ed": genpkey(tmp_path, "ed", "-algorithm", "ED25519"),
    }
    for label, pem in keys.items():
        ks.sealhsm("import", label, "--in", pem, so=True)
    backup = tmp_path / "ks.bak"
    ks.sealhsm("backup", "--out", backup, so=True)
    new = tmp_path / "restored"
    restore(ks, backup, new)
    blobs = {"backup": backup.read_bytes()}
    for d in (ks.path, new):
        for f in d.iterdir():
            blobs[f"{d.name}/{f.name}"] = f.read_bytes()
    checked = 0
    for label, pem in keys.items():
        parts = private_parts(pem)
        assert {"pkcs8-der", "pem-body"} <= parts.keys()
        if label == "rsa":
            assert {"privateExponent", "prime1", "prime2"} <= parts.keys()
        else:
            assert "priv" in parts
        for name, secret in parts.items():
            assert len(secret) >= 16, (label, name)
            for where, blob in blobs.items():
                assert secret not in blob, f"{label} {name} found in {where}"
                assert base64.b64encode(secret) not in blob, f"{label} {name} (b64) in {where}"
                # no 16-byte piece of a private component either (the DER and PEM also
                # hold the public key, which the keystore keeps in the clear)
                if not name.startswith(("pem-", "pkcs8-")):
                    pieces = {secret[i:i + 16] for i in range(0, len(secret) - 15, 4)}
                    assert not [p for p in pieces if p in blob], f"{label} {name} part in {where}"
                checked += 1
    assert checked > 50


# -- damaged backups ------------------------------------------------------------------

@pytest.fixture
def small_backup(ks, tmp_path):
    """The backup of a keystore with one Ed25519 key and a few audit records."""
    ks.keygen("e", "ed25519")
    p = tmp_path / "small.bak"
    ks.sealhsm("backup", "--out", p, so=True)
    return p


def _attempt(ks, work, data, name):
    f = work / f"{name}.bak"
    f.write_bytes(data)
    target = work / f"{name}.ks"
    res = restore(ks, f, target, check=None)
    ok = gone(target)
    f.unlink()
    return res, ok, f


def _refused_cleanly(ks, work, cases):
    """Runs restore for each (name, bytes) in parallel; returns the failures."""
    def one(case):
        name, data = case
        res, ok, f = _attempt(ks, work, data, name)
        if res.rc == 6 and ok:
            assert_fails(res, 6, f.name)
            return None
        return name, res, ok

    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2)) as pool:
        bad = [r for r in pool.map(one, cases) if r is not None]
    assert not any(work.iterdir()), "files left behind"
    return bad


def test_every_truncation_is_refused(ks, tmp_path):
    """Every length 0..n-1 of the smallest backup there is, a fresh keystore's (~2 KB:
    header, SO slot, every table with the PIN slots, attestation key and CA, audit
    records, HMAC, checksum): ~2000 restores through the tool, in parallel, 15-30 s on
    2 cores (process start-up dominates). Under ASan, where each start costs ~10x,
    every length of the header, slot and trailer and every 16th of the rest.
    A backup with keys is truncated at a sample of lengths below."""
    p = tmp_path / "fresh.bak"
    ks.sealhsm("backup", "--out", p, so=True)
    data = p.read_bytes()
    assert len(data) < 4096
    work = tmp_path / "trunc"
    work.mkdir()
    lengths = range(len(data))
    if conftest.ASAN:
        lengths = sorted(set(range(0, 140)) | set(range(140, len(data), 16))
                         | set(range(len(data) - 70, len(data))))
    bad = _refused_cleanly(ks, work, [(f"t{n}", data[:n]) for n in lengths])
    assert not bad, f"{len(bad)} of {len(data)} truncations not refused cleanly: {bad[:3]}"


def test_truncations_of_a_backup_with_keys(ks, small_backup, tmp_path):
    data = small_backup.read_bytes()
    work = tmp_path / "trunc"
    work.mkdir()
    lengths = _sample_positions(len(data))
    bad = _refused_cleanly(ks, work, [(f"t{n}", data[:n]) for n in lengths])
    assert not bad, f"{len(bad)} of {len(lengths)} truncations not refused cleanly: {bad[:3]}"


def _sample_positions(n, step=3, body=80, trailer=64):
    """Byte positions: the header (magic 16, version 4, store id 16, slot length 4)
    every one, the SO slot every `step`, `body` spread over the tables, and the last
    `trailer` bytes (HMAC 32 + SHA-256 checksum 32) every one; bytes of the checksum
    itself are left out when trailer < 64. Sparser under ASan."""
    if conftest.ASAN:                               # ~10x the cost per restore
        step, body = step * 4, body // 4
    pos = set(range(0, 44, 3 if conftest.ASAN else 1))
    pos |= set(range(44, 140, step))
    pos |= set(range(140, n - 64, max(1, (n - 204) // body)))
    pos |= set(range(n - 64, n - 64 + trailer, 3 if conftest.ASAN else 1))
    return sorted(p for p in pos if p < n)


def test_flipped_bytes_are_refused(ks, small_backup, tmp_path):
    data = small_backup.read_bytes()
    work = tmp_path / "flip"
    work.mkdir()

    def flipped(p):
        b = bytearray(data)
        b[p] ^= 0x20
        return bytes(b)

    pos = _sample_positions(len(data))
    bad = _refused_cleanly(ks, work, [(f"f{p}", flipped(p)) for p in pos])
    assert not bad, f"{len(bad)} of {len(pos)} flipped bytes not refused cleanly: {bad[:3]}"


def test_flipped_bytes_with_a_recomputed_checksum_are_refused(ks, small_backup, tmp_path):
    """An attacker who also fixes the trailing (unkeyed) SHA-256: the HMAC refuses every
    change to the tables and to the HMAC itself (exit 6); a changed header or SO slot
    cannot be told apart from a wrong SO PIN, but is refused all the same."""
    data = small_backup.read_bytes()
    work = tmp_path / "fixed"
    work.mkdir()
    slot_len = int.from_bytes(data[36:40], "big")
    body_start = 40 + slot_len

    def one(p):
        b = bytearray(data)
        b[p] ^= 0x20
        b = bytes(b[:-32]) + hashlib.sha256(bytes(b[:-32])).digest()
        res, ok, f = _attempt(ks, work, b, f"x{p}")
        return p, res, ok

    with concurrent.futures.ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2)) as pool:
        for p, res, ok in pool.map(one, _sample_positions(len(data), step=8, body=24,
                                                          trailer=32)):
            assert ok, f"byte {p}: something was written"
            if p >= body_start:
                assert res.rc == 6, f"byte {p}: {res}"
            else:
                assert res.rc in (4, 6, 7), f"byte {p}: {res}"


def test_wrong_so_pin_for_restore(ks, small_backup, tmp_path):
    target = tmp_path / "new"
    env = dict(ks.env(user=False), SEALHSM_SO_PIN="wrong-so-pin")
    assert_fails(restore(ks, small_backup, target, check=None, env=env), 4)
    assert gone(target)
    env = dict(ks.env(user=False), SEALHSM_SO_PIN=conftest.USER_PIN)   # the user's PIN
    assert_fails(restore(ks, small_backup, target, check=None, env=env), 4)
    assert gone(target)
    res = restore(ks, small_backup, target, check=None, env=ks.env(user=False))  # no PIN
    assert_fails(res, 3)
    assert gone(target)
    restore(ks, small_backup, target)
    Keystore(target, tmp_path).sealhsm("audit", "verify")
