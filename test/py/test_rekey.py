# SPDX-License-Identifier: Apache-2.0
"""`sealhsm rekey` (docs/security.md): a new master key. Old copies of PIN slots still
hold the old master key; after a rekey no copy of an old slot or sealed record opens
anything, while PINs stay the same, keys sign and earlier backups still restore."""
import json

import pytest

from conftest import (SO_PIN, Keystore, Signer, assert_fails, audit_records, copy_keystore,
                      mdb_records, mdb_rewrite)

ALICE = "alice-pin-1111"
BOB = "bob-pin-22222"


def put(ks, db, key, value):
    recs = dict(mdb_records(ks.path, db))
    recs[key] = value
    mdb_rewrite(ks.path, db, sorted(recs.items()))


def key_id(ks, label):
    return bytes.fromhex(next(k["id"] for k in json.loads(ks.sealhsm("list", "--json").out)
                              if k["label"] == label))


def rekey(ks, *args, check=0, **env):
    return ks.sealhsm("rekey", *args, so=True, check=check, **env)


@pytest.fixture
def populated(ks, tmp_path):
    """Keys (one with a certificate and signatures, one needing an approval), two
    officers, a backup; returns the old copies of every kind of record."""
    ks.sealhsm("officer", "add", "alice", so=True, SEALHSM_OFFICER_PIN=ALICE)
    ks.sealhsm("officer", "add", "bob", so=True, SEALHSM_OFFICER_PIN=BOB)
    ks.keygen("k1", "ec:P-256")
    ks.keygen("dual", "ec:P-384", "--approvals", "1")
    signer = Signer(ks)
    pub = signer.pubkey("k1")
    cert = tmp_path / "k1.crt"
    ks.openssl("req", "-new", "-x509", "-key", "sealhsm:k1", "-subj", "/CN=k1", "-days", "30",
               "-out", cert)
    ks.sealhsm("cert", "import", "k1", cert, so=True)
    signer.ok("k1", pub=pub)
    ks.sealhsm("backup", "--out", tmp_path / "before.bak", so=True)
    kid = key_id(ks, "k1")
    meta = dict(mdb_records(ks.path, "meta"))
    old = {
        ("meta", b"slot/user"): meta[b"slot/user"],
        ("meta", b"slot/so"): meta[b"slot/so"],
        ("officers", b"alice"): dict(mdb_records(ks.path, "officers"))[b"alice"],
        ("officers", b"bob"): dict(mdb_records(ks.path, "officers"))[b"bob"],
        ("keys", kid): dict(mdb_records(ks.path, "keys"))[kid],
        ("usage", kid): dict(mdb_records(ks.path, "usage"))[kid],
        ("certs", kid): dict(mdb_records(ks.path, "certs"))[kid],
    }
    return ks, old


def test_rekey_needs_admin_activation_and_the_pins(populated, tmp_path):
    ks, _ = populated
    pinfile = tmp_path / "alice.pin"
    pinfile.write_text(ALICE)
    # Q = 1 (the key needing one approval): an admin activation is needed
    assert_fails(rekey(ks, "--officer-pin", f"alice={pinfile}", check=None), 5,
                 "admin activation")
    assert [r for r in audit_records(ks) if r["op"] == "pin"][-1]["outcome"] == "denied"
    ks.sealhsm("approve", "--admin", "--officer", "alice", user=False,
               SEALHSM_OFFICER_PIN=ALICE)
    # a wrong user PIN: nothing changes
    assert_fails(rekey(ks, "--officer-pin", f"alice={pinfile}", check=None, user=False,
                       SEALHSM_PIN="not-the-pin-9"), 4, "user")
    # no officer PIN at all would leave fewer officers than the quorum
    ks.sealhsm("approve", "--admin", "--officer", "alice", user=False,
               SEALHSM_OFFICER_PIN=ALICE)
    assert_fails(rekey(ks, check=None), 5, "quorum")
    ks.sealhsm("verify")


def test_old_copies_are_refused_after_rekey(populated, tmp_path):
    ks, old = populated
    pinfile = tmp_path / "alice.pin"
    pinfile.write_text(ALICE)
    ks.sealhsm("approve", "--admin", "--officer", "alice", user=False,
               SEALHSM_OFFICER_PIN=ALICE)
    out = rekey(ks, "--officer-pin", f"alice={pinfile}").out
    assert "new master key" in out and "1 removed" in out, out  # bob gave no PIN
    new = dict(mdb_records(ks.path, "meta"))
    assert new[b"slot/user"] != old[("meta", b"slot/user")]

    # PINs unchanged, keys sign, the officer who gave a PIN approves, all verifies
    signer = Signer(ks)
    signer.ok("k1")
    ks.sealhsm("list", "--so", so=True)
    ks.sealhsm("approve", "dual", "--officer", "alice", user=False, SEALHSM_OFFICER_PIN=ALICE)
    signer.ok("dual")
    assert json.loads(ks.sealhsm("officer", "list", "--json").out) == ["alice"]
    doc = json.loads(ks.sealhsm("verify", "--json").out)
    assert doc["ok"] and doc["keys"] == 2, doc
    ks.sealhsm("audit", "verify")
    rec = [r for r in audit_records(ks) if r["op"] == "pin"][-1]
    assert rec["outcome"] == "ok" and "master key rotated" in rec["reason"], rec

    # every old copy, put back, opens nothing
    checks = {
        ("meta", b"slot/user"): lambda k: k.sealhsm("list", check=None),
        ("meta", b"slot/so"): lambda k: k.sealhsm("list", "--so", so=True, check=None),
        ("officers", b"alice"): lambda k: k.sealhsm("approve", "dual", "--officer", "alice",
                                                    user=False, check=None,
                                                    SEALHSM_OFFICER_PIN=ALICE),
        ("officers", b"bob"): lambda k: k.sealhsm("approve", "dual", "--officer", "bob",
                                                  user=False, check=None,
                                                  SEALHSM_OFFICER_PIN=BOB),
        ("keys", None): lambda k: k.sealhsm("show", "k1", check=None),
        ("usage", None): lambda k: k.sealhsm("show", "k1", check=None),
        ("certs", None): lambda k: k.sealhsm("verify", check=None),
    }
    for n, ((db, key), value) in enumerate(old.items()):
        copy = copy_keystore(ks, f"copy{n}")
        put(copy, db, key, value)
        res = checks[(db, key if db in ("meta", "officers") else None)](copy)
        assert res.rc == 6, f"old {db} record put back: {res}"


def test_backup_from_before_rekey_still_restores(populated, tmp_path):
    ks, _ = populated
    pinfile = tmp_path / "alice.pin"
    pinfile.write_text(ALICE)
    ks.sealhsm("approve", "--admin", "--officer", "alice", user=False,
               SEALHSM_OFFICER_PIN=ALICE)
    bob = tmp_path / "bob.pin"
    bob.write_text(BOB)
    out = rekey(ks, "--officer-pin", f"alice={pinfile}", "--officer-pin", f"bob={bob}").out
    assert "2 officers kept" in out, out
    target = tmp_path / "restored"
    ks.sealhsm("restore", "--in", tmp_path / "before.bak", "--keystore", target, so=True)
    r = Keystore(target, tmp_path)
    assert {k["label"] for k in json.loads(r.sealhsm("list", "--json").out)} == {"k1", "dual"}
    Signer(r).ok("k1")
    r.sealhsm("verify")
