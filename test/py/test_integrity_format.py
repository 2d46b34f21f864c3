# SPDX-License-Identifier: Apache-2.0
"""The keystore authenticates everything that changes what it allows (docs/security.md):
each test performs an attack of a file writer without a PIN by editing data.mdb, as
the adversarial review did, and sees exit 6 naming what was put back or forged."""
import hashlib
import json
import struct

import pytest

from conftest import (SO_PIN, USER_PIN, Signer, assert_fails, audit_records, mdb_records,
                      mdb_rewrite)

OFFICER_PIN = "officer-pin-7777"
HEAD = b"audit/head"


def meta(ks):
    return dict(mdb_records(ks.path, "meta"))


def put(ks, db, key, value):
    """Sets (value bytes) or deletes (value None) one record of table db."""
    recs = dict(mdb_records(ks.path, db))
    if value is None:
        recs.pop(key, None)
    else:
        recs[key] = value
    mdb_rewrite(ks.path, db, sorted(recs.items()))


def head(ks):
    """(seq, hash, raw head bytes) of the audit head."""
    raw = meta(ks)[HEAD]
    return struct.unpack(">Q", raw[:8])[0], raw[8:40], raw


def key_id(ks, label):
    return next(k["id"] for k in json.loads(ks.sealhsm("list", "--json").out)
                if k["label"] == label)


def s32(b):
    return struct.pack(">I", len(b)) + b


def fake_record(seq, prev, op, outcome, kid=b"", label=b"", reason=b"", digest=b"", tbs=b""):
    """An audit record as audit.c encodes it, without a MAC (written as if before a login)."""
    content = (bytes([1]) + struct.pack(">QQI", seq, 1_700_000_000_000, 4242) + s32(b"mallory")
               + struct.pack(">I", 4242) + s32(b"openssl") + bytes([op]) + s32(kid) + s32(label)
               + bytes([outcome]) + s32(reason) + s32(digest) + s32(tbs) + prev)
    h = hashlib.sha256(b"sealhsm-audit-v1" + content).digest()
    return content + b"\0" + bytes(32), h


def append_forged(ks, op, outcome, **fields):
    """Appends a chained record after the head and moves the head's seq and hash to it,
    as someone who can write the file but holds no PIN can. Returns its seq."""
    seq, h, raw = head(ks)
    rec, nh = fake_record(seq + 1, h, op, outcome, **fields)
    put(ks, "audit", struct.pack(">Q", seq + 1), rec)
    put(ks, "meta", HEAD, struct.pack(">Q", seq + 1) + nh + raw[40:])
    return seq + 1


def test_forged_sign_record_without_pin_is_exit_6(ks):
    ks.keygen("k1", "ec:P-256")
    kid = bytes.fromhex(key_id(ks, "k1"))
    n = append_forged(ks, 7, 0, kid=kid, label=b"k1", digest=b"sha256", tbs=bytes(32))
    # the next login refuses it, naming the record; so do both verifies
    for cmd in (["list"], ["audit", "verify"], ["verify"]):
        assert_fails(ks.sealhsm(*cmd, check=None), 6, f"audit record {n}", "sign ok")
    # it was never MACed by those logins
    assert_fails(ks.sealhsm("audit", "verify", check=None), 6, f"audit record {n}")


def test_failed_unlocks_stay_unauthenticated(ks):
    ks.keygen("k1", "ec:P-256")
    assert_fails(ks.sealhsm("list", check=None, user=False, SEALHSM_PIN="wrong-pin-000"), 4)
    ks.sealhsm("list")
    recs = audit_records(ks)
    denied = [r for r in recs if r["op"] == "unlock" and r["outcome"] == "denied"]
    assert len(denied) == 1 and denied[0]["mac"] is None, denied
    text = ks.sealhsm("audit", "export", "--format", "text").out
    assert "(unauthenticated)" in text
    doc = json.loads(ks.sealhsm("audit", "verify", "--json").out)
    assert doc["ok"] and doc["unauthenticated"] == 1, doc
    assert "1 unauthenticated" in ks.sealhsm("audit", "verify").out
    # a forged failed unlock is the one thing a file writer can add, and it shows as such
    n = append_forged(ks, 1, 1, reason=b"wrong PIN for user")
    ks.sealhsm("list")
    rec = next(r for r in audit_records(ks) if r["seq"] == n)
    assert rec["user"] == "mallory" and rec["mac"] is None
    assert json.loads(ks.sealhsm("verify", "--json").out)["unauthenticated"] == 2


def test_older_head_and_tail_cut_is_exit_6(ks, tmp_path):
    ks.keygen("k1", "ec:P-256")
    old_seq, _, old_head = head(ks)
    # a denied signature, a backup and an officer add...
    res, sig, _ = Signer(ks).sign("k1", digest="sha1")
    assert res.rc != 0
    ks.sealhsm("backup", "--out", tmp_path / "b.bak", so=True)
    ks.sealhsm("officer", "add", "carol", so=True, SEALHSM_OFFICER_PIN=OFFICER_PIN)
    # ...vanish: the older authentic head put back, the records after it deleted
    recs = [(k, v) for k, v in mdb_records(ks.path, "audit")
            if struct.unpack(">Q", k)[0] <= old_seq]
    mdb_rewrite(ks.path, "audit", recs)
    put(ks, "meta", HEAD, old_head)
    for cmd in (["list"], ["audit", "verify"], ["verify"]):
        assert_fails(ks.sealhsm(*cmd, check=None), 6, "rolled back")
    assert_fails(ks.sealhsm("approve", "--admin", "--officer", "carol", check=None,
                            user=False, SEALHSM_OFFICER_PIN=OFFICER_PIN), 6)


def test_removed_officers_slot_put_back_is_exit_6(ks):
    ks.sealhsm("officer", "add", "alice", so=True, SEALHSM_OFFICER_PIN=OFFICER_PIN)
    ks.sealhsm("officer", "add", "bob", so=True, SEALHSM_OFFICER_PIN=OFFICER_PIN)
    ks.keygen("dual", "ec:P-256", "--approvals", "1")
    slot = dict(mdb_records(ks.path, "officers"))[b"alice"]
    ks.sealhsm("approve", "--admin", "--officer", "bob", user=False,
               SEALHSM_OFFICER_PIN=OFFICER_PIN)
    ks.sealhsm("officer", "remove", "alice", so=True)
    put(ks, "officers", b"alice", slot)
    res = ks.sealhsm("approve", "dual", "--officer", "alice", check=None, user=False,
                     SEALHSM_OFFICER_PIN=OFFICER_PIN)
    assert_fails(res, 6, "officer alice")
    assert_fails(ks.sealhsm("verify", check=None), 6, "officer alice")
    assert_fails(ks.sealhsm("list", check=None), 6, "officer alice")


def test_user_slot_from_before_pin_change_is_exit_6(ks, tmp_path):
    old = meta(ks)[b"slot/user"]
    ks.sealhsm("pin", "change", SEALHSM_NEW_PIN="user-pin-2222")
    put(ks, "meta", b"slot/user", old)
    res = ks.sealhsm("list", check=None)  # the old PIN opens the old slot...
    assert_fails(res, 6, "user PIN slot")  # ...and is refused
    res = ks.sealhsm("list", check=None, user=False, SEALHSM_PIN="user-pin-2222")
    assert res.rc == 4  # the new slot is gone: the new PIN does not open the old one


@pytest.mark.parametrize("setting", [b"syslog", b"max_tries", b"quorum", b"label"])
def test_settings_deleted_or_put_back_are_exit_6(ks, setting):
    ks.sealhsm("officer", "add", "alice", so=True, SEALHSM_OFFICER_PIN=OFFICER_PIN)
    ks.sealhsm("officer", "quorum", "1", so=True)
    m = meta(ks)
    assert setting in m
    if setting == b"quorum":  # an older copy: the quorum lowered to 0
        put(ks, "meta", setting, struct.pack(">I", 0))
    elif setting == b"label":  # another token label, valid on its own
        put(ks, "meta", setting, b"renamed")
    else:
        put(ks, "meta", setting, None)
    # max_tries is read when the keystore opens: refused there already
    needle = "PIN try limit" if setting == b"max_tries" else setting.decode()
    assert_fails(ks.sealhsm("list", check=None), 6, needle)
    assert_fails(ks.sealhsm("verify", "--so", check=None, so=True), 6, needle)


def test_deleted_label_entry_does_not_hide_the_key(ks):
    ks.keygen("k1", "ec:P-256")
    ks.keygen("k2", "ec:P-256")
    kid = key_id(ks, "k1")
    signer = Signer(ks)
    signer.ok(f"id={kid}", pub=signer.pubkey("k1"))
    put(ks, "labels", b"k1", None)
    assert_fails(ks.sealhsm("list", check=None), 6, "k1")
    assert_fails(ks.sealhsm("verify", check=None), 6, "k1")
    res, sig, _ = signer.sign(f"id={kid}")
    assert res.rc != 0 and (not sig.exists() or sig.stat().st_size == 0), res
    assert "rolled back" in res.err or "replaced" in res.err, res


def test_label_entry_pointing_elsewhere_is_exit_6(ks):
    ks.keygen("k1", "ec:P-256")
    ks.keygen("k2", "ec:P-256")
    labels = dict(mdb_records(ks.path, "labels"))
    put(ks, "labels", b"k1", labels[b"k2"])
    assert_fails(ks.sealhsm("list", check=None), 6)
    assert_fails(ks.sealhsm("verify", check=None), 6, "k")


def test_forged_freshness_tree_is_not_blessed(ks):
    """The tree is unkeyed: a writer who recomputes it after putting back an older
    usage record must still be caught (no later append copies a root it did not make)."""
    ks.keygen("k1", "ec:P-256", "--max-signatures", "2")
    signer = Signer(ks)
    kid = bytes.fromhex(key_id(ks, "k1"))
    old_usage = dict(mdb_records(ks.path, "usage"))[kid]
    before = {k: v for k, v in meta(ks).items() if k.startswith(b"f/")}
    signer.ok("k1")
    signer.ok("k1")
    signer.refused("k1", "max-signatures")
    # put back the usage record and the whole tree as they were (all consistent)
    put(ks, "usage", kid, old_usage)
    m = {k: v for k, v in meta(ks).items() if not k.startswith(b"f/") or k == b"f/g"}
    m.update(before)
    mdb_rewrite(ks.path, "meta", sorted(m.items()))
    ks.sealhsm("list")  # an authenticated append (the unlock) must not bless it
    res, sig, _ = signer.sign("k1")
    assert res.rc != 0 and (not sig.exists() or sig.stat().st_size == 0), res
    assert_fails(ks.sealhsm("verify", check=None), 6)


def test_verify_reports_counts(ks):
    ks.keygen("k1", "ec:P-256")
    ks.keygen("k2", "ed25519")
    ks.sealhsm("officer", "add", "alice", so=True, SEALHSM_OFFICER_PIN=OFFICER_PIN)
    out = ks.sealhsm("verify").out
    assert out.startswith("keystore: 2 keys, 2 labels, 1 officers,"), out
    doc = json.loads(ks.sealhsm("verify", "--json", "--so", so=True).out)
    assert doc["ok"] and doc["keys"] == 2 and doc["officers"] == 1 and doc["audit_records"] > 4
    ks.sealhsm("destroy", "k2", so=True)
    assert json.loads(ks.sealhsm("verify", "--json").out)["ok"]


def test_orphan_usage_record_is_exit_6(ks):
    ks.keygen("k1", "ec:P-256")
    kid = bytes.fromhex(key_id(ks, "k1"))
    usage = dict(mdb_records(ks.path, "usage"))[kid]
    put(ks, "usage", bytes(16), usage)
    assert_fails(ks.sealhsm("verify", check=None), 6, "belongs to no key")


@pytest.mark.parametrize("key", [b"f/k/" + bytes(16), b"settings/extra"])
def test_stray_meta_entry_is_exit_6(ks, key):
    ks.keygen("k1", "ec:P-256")
    put(ks, "meta", key, bytes(32))
    assert_fails(ks.sealhsm("verify", check=None), 6, "inserted")


def test_key_pin_tries_reset_by_a_file_writer_is_exit_6(ks, tmp_path):
    """A key PIN's counter is raised in a session with keys, so it is authenticated
    with the key's records: resetting it to gain guesses is caught at the next use."""
    from test_integrity_pins import KEY_PIN, _sign_with_key_pin
    ks.sealhsm("keygen", "guarded", "--type", "ec:P-256", "--key-pin", so=True,
               SEALHSM_KEY_PIN=KEY_PIN)
    for i in range(3):
        res, _, _ = _sign_with_key_pin(ks, tmp_path, f"wrong-key-pin-{i}", i)
        assert "tries left" in res.err, res.err
    kid = key_id(ks, "guarded")
    name = b"tries/key/" + kid.encode()
    assert struct.unpack(">I", meta(ks)[name])[0] == 3
    put(ks, "meta", name, struct.pack(">I", 0))
    res, sig, _ = _sign_with_key_pin(ks, tmp_path, KEY_PIN, 10)
    assert res.rc != 0 and ("replaced" in res.err or "rolled back" in res.err), res
    assert_fails(ks.sealhsm("verify", check=None), 6, "guarded")
