# SPDX-License-Identifier: Apache-2.0
"""`sealhsm` tool: keygen, list, show, pubkey, keyref, policy, state changes and destroy
(docs/reference.md: Command-line tool, Policy, JSON output)."""
import json
import re

import pytest

import conftest
from conftest import OPENSSL, assert_fails, run_no_tty, SEALHSM

pytestmark = pytest.mark.usefixtures("secret_watch")

TYPES = ["rsa:2048", "rsa:3072", "rsa:4096", "ec:P-256", "ec:P-384", "ec:P-521", "ed25519",
         "ed448"]
LIST_MEMBERS = {"label", "id", "type", "env", "state", "origin", "created"}
SHOW_MEMBERS = LIST_MEMBERS | {"description", "state_reason", "policy", "usage"}
POLICY_MEMBERS = {"env", "digests", "padding", "not_before", "not_after", "max_signatures",
                  "rate", "approvals", "activation_ttl", "users", "groups", "key_pin", "audit"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
KEY_PIN = "key-pin-4444"


def keys(ks, so=False):
    return json.loads(ks.sealhsm("list", "--json", *(["--so"] if so else []), so=so).out)


def show(ks, label):
    return json.loads(ks.sealhsm("show", label, "--json").out)


@pytest.mark.parametrize("type_", TYPES)
def test_keygen_every_type(ks, type_):
    res = ks.keygen("k1", type_)
    assert "k1" in res.out and type_ in res.out
    [k] = keys(ks)
    assert k["type"] == type_
    pem = ks.sealhsm("pubkey", "k1").out
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    txt = conftest.run([OPENSSL, "pkey", "-pubin", "-noout", "-text"], input=pem, check=0).out
    expected = {"rsa": f"({type_[4:]} bit)", "ec": type_[3:], "ed25519": "ED25519",
                "ed448": "ED448"}[type_.split(":")[0]]
    assert expected in txt


def test_list_json_shape(ks):
    assert keys(ks) == []
    ks.keygen("b-key", "ec:P-256", "--env", "prod")
    ks.keygen("a-key", "ed25519")
    doc = keys(ks)
    assert [k["label"] for k in doc] == ["a-key", "b-key"]
    for k in doc:
        assert set(k) == LIST_MEMBERS
        assert re.fullmatch(r"[0-9a-f]{32}", k["id"])
        assert RFC3339.match(k["created"])
        assert k["state"] == "active" and k["origin"] == "generated"
    assert doc[0]["env"] == "dev" and doc[1]["env"] == "prod"
    assert doc[0]["id"] != doc[1]["id"]
    assert keys(ks, so=True) == doc


def test_list_text(ks):
    ks.keygen("signer", "ec:P-384")
    lines = ks.sealhsm("list").out.splitlines()
    assert lines[0].split() == ["LABEL", "ID", "TYPE", "ENV", "STATE", "ORIGIN", "CREATED"]
    cols = lines[1].split()
    assert cols[0] == "signer" and cols[2:6] == ["ec:P-384", "dev", "active", "generated"]
    assert cols[1] == keys(ks)[0]["id"]


def test_show_json_shape_and_defaults(ks):
    ks.keygen("k1", "rsa:2048", "--description", "release signing")
    doc = show(ks, "k1")
    assert set(doc) == SHOW_MEMBERS
    assert {k: doc[k] for k in LIST_MEMBERS} == keys(ks)[0]
    assert doc["description"] == "release signing"
    assert doc["state_reason"] == ""
    assert doc["usage"] == {"signatures": 0, "last_used": None}
    assert doc["policy"] == {
        "env": "dev",
        "digests": ["sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512"],
        "padding": ["pss", "pkcs1"],
        "not_before": None, "not_after": None, "max_signatures": None, "rate": None,
        "approvals": 0, "activation_ttl": "1h", "users": None, "groups": None, "key_pin": False,
        "audit": "durable",
    }


def test_show_text(ks):
    ks.keygen("k1", "ec:P-256", "--description", "x")
    out = ks.sealhsm("show", "k1").out
    fields = dict(l.split(": ", 1) for l in out.splitlines())
    assert fields["label"] == "k1" and fields["type"] == "ec:P-256"
    assert fields["state"] == "active" and fields["signatures"] == "0"
    assert fields["last_used"] == "never" and fields["description"] == "x"
    assert fields["digests"] == "sha256,sha384,sha512,sha3-256,sha3-384,sha3-512"


def test_policy_options_round_trip(ks):
    for name in ("alice", "bob"):  # --approvals 2 needs two officers
        ks.sealhsm("officer", "add", name, so=True, SEALHSM_OFFICER_PIN="officer-pin-1")
    ks.keygen("k1", "rsa:3072", "--env", "prod", "--digests", "SHA-384,sha512",
              "--padding", "pss", "--not-before", "2025-01-01", "--not-after",
              "2030-12-31T10:00:00Z", "--max-signatures", "100", "--rate", "10/min",
              "--approvals", "2", "--activation-ttl", "30m", "--users", "root,1234",
              "--groups", "root,4321")
    p = show(ks, "k1")["policy"]
    assert p == {
        "env": "prod", "digests": ["sha384", "sha512"], "padding": ["pss"],
        "not_before": "2025-01-01T00:00:00Z", "not_after": "2030-12-31T10:00:00Z",
        "max_signatures": 100, "rate": "10/min", "approvals": 2, "activation_ttl": "30m",
        "users": [0, 1234], "groups": [0, 4321], "key_pin": False, "audit": "durable",
    }
    ks.keygen("tls", "ec:P-256", "--audit", "batched")
    assert show(ks, "tls")["policy"]["audit"] == "batched"


def test_batched_audit_refuses_exact_counters(ks):
    # batched records may trail the signature by a few ms: counts could not be exact
    for opt in (["--max-signatures", "5"], ["--rate", "10/min"]):
        res = ks.sealhsm("keygen", "k1", "--type", "ec:P-256", "--audit", "batched", *opt,
                         so=True, check=None)
        assert_fails(res, 1, "k1", "batched")
    assert keys(ks) == []


@pytest.mark.parametrize("opt,value", [
    ("--type", "rsa:1024"), ("--type", "rsa:8192"), ("--type", "dsa:2048"),
    ("--type", "ec:P-192"), ("--digests", "sha1"), ("--digests", "sha256,SHA-1"),
    ("--digests", "md5"), ("--digests", "sha999"), ("--digests", "sha256,,sha384"),
    ("--padding", "oaep"), ("--env", "staging"), ("--not-after", "2030-13-01"),
    ("--not-before", "yesterday"), ("--max-signatures", "0"), ("--rate", "10/week"),
    ("--approvals", "x"), ("--activation-ttl", "1y"), ("--users", "no-such-user-xyz"),
    ("--audit", "lazy"),
])
def test_bad_policy_or_type_is_usage_error(ks, opt, value):
    args = ["keygen", "k1", "--type", "ec:P-256", opt, value]
    res = ks.sealhsm(*args, so=True, check=None)
    bad = value.split(",")[-1] if opt == "--digests" and value != "sha256,,sha384" else value
    line = assert_fails(res, 1)
    assert bad.split(":")[-1] in line or opt in line, line
    assert keys(ks) == []


def test_sha1_message_names_it(ks):
    res = ks.sealhsm("keygen", "k1", "--type", "ec:P-256", "--digests", "sha256,sha1",
                     so=True, check=None)
    assert_fails(res, 1, "sha1", "--digests")


def test_rsa_1024_refused_naming_type(ks):
    assert_fails(ks.sealhsm("keygen", "k1", "--type", "rsa:1024", so=True, check=None), 1,
                 "rsa:1024")


def test_duplicate_label_refused(ks):
    ks.keygen("dup", "ec:P-256")
    before = keys(ks)
    res = ks.sealhsm("keygen", "dup", "--type", "ed25519", so=True, check=None)
    assert_fails(res, 1, "dup")
    assert keys(ks) == before


def test_unknown_key_exits_2_naming_label(ks):
    for cmd in (["show", "ghost"], ["pubkey", "ghost"], ["keyref", "ghost"]):
        assert_fails(ks.sealhsm(*cmd, check=None), 2, "ghost")
    for cmd in (["disable", "ghost"], ["destroy", "ghost"], ["policy", "ghost", "--env", "prod"],
                ["keygen", "new", "--like", "ghost"]):
        assert_fails(ks.sealhsm(*cmd, so=True, check=None), 2, "ghost")


def test_policy_changes_only_given_options(ks):
    ks.keygen("k1", "rsa:2048", "--env", "test", "--max-signatures", "10", "--rate", "5/hour")
    before = show(ks, "k1")["policy"]
    res = ks.sealhsm("policy", "k1", "--digests", "sha512", "--rate", "none", so=True)
    assert "k1" in res.out
    after = show(ks, "k1")["policy"]
    assert after == dict(before, digests=["sha512"], rate=None)
    ks.sealhsm("policy", "k1", "--max-signatures", "none", "--users", "0", so=True)
    after2 = show(ks, "k1")["policy"]
    assert after2 == dict(after, max_signatures=None, users=[0])
    ks.sealhsm("policy", "k1", "--users", "any", so=True)
    assert show(ks, "k1")["policy"]["users"] is None


def test_keygen_like_copies_type_env_and_policy(ks):
    ks.keygen("old", "ec:P-384", "--env", "prod", "--digests", "sha384", "--max-signatures",
              "50", "--activation-ttl", "2h")
    ks.sealhsm("keygen", "new", "--like", "old", so=True)
    old, new = show(ks, "old"), show(ks, "new")
    assert new["type"] == "ec:P-384" and new["env"] == "prod"
    assert new["policy"] == old["policy"]
    assert new["id"] != old["id"]
    ks.sealhsm("keygen", "newer", "--like", "old", "--env", "test", "--type", "ec:P-256",
               so=True)
    newer = show(ks, "newer")
    assert newer["type"] == "ec:P-256"
    assert newer["policy"] == dict(old["policy"], env="test")


def test_key_pin(ks, secret_watch):
    secret_watch.add(KEY_PIN)
    ks.sealhsm("keygen", "k1", "--type", "ec:P-256", "--key-pin", so=True,
               SEALHSM_KEY_PIN=KEY_PIN)
    assert show(ks, "k1")["policy"]["key_pin"] is True
    res = run_no_tty([SEALHSM, "keygen", "k2", "--type", "ec:P-256", "--key-pin"],
                     ks.env(so=True))
    assert_fails(res, 3, "SEALHSM_KEY_PIN")
    ks.sealhsm("policy", "k1", "--no-key-pin", so=True)
    assert show(ks, "k1")["policy"]["key_pin"] is False
    assert [k["label"] for k in keys(ks)] == ["k1"]
    # switching it on later needs a key PIN too
    res = run_no_tty([SEALHSM, "policy", "k1", "--key-pin"], ks.env(so=True))
    assert_fails(res, 3, "SEALHSM_KEY_PIN")
    assert show(ks, "k1")["policy"]["key_pin"] is False
    ks.sealhsm("policy", "k1", "--key-pin", so=True, SEALHSM_KEY_PIN=KEY_PIN)
    assert show(ks, "k1")["policy"]["key_pin"] is True
    # other policy changes keep the key PIN without asking for it
    res = run_no_tty([SEALHSM, "policy", "k1", "--max-signatures", "3"], ks.env(so=True))
    assert res.rc == 0, res
    assert show(ks, "k1")["policy"]["key_pin"] is True


def test_pubkey_out_file(ks, tmp_path):
    ks.keygen("k1", "ed25519")
    out = tmp_path / "k1.pub.pem"
    res = ks.sealhsm("pubkey", "k1", "--out", out)
    assert res.out == ""
    assert out.read_text() == ks.sealhsm("pubkey", "k1").out


def test_keyref(ks, tmp_path):
    ks.keygen("k1", "ec:P-256")
    pem = ks.sealhsm("keyref", "k1").out
    assert pem.startswith("-----BEGIN SEALHSM KEY REF-----\n")
    assert pem.endswith("-----END SEALHSM KEY REF-----\n")
    ref = tmp_path / "k1.ref"
    ks.sealhsm("keyref", "k1", "--out", ref)
    assert ref.read_text() == pem
    parsed = conftest.run([OPENSSL, "asn1parse", "-in", ref], check=0).out
    kid = keys(ks)[0]["id"].upper()
    assert kid in parsed.replace(":", "").upper() or kid in parsed.upper()
    assert "k1" in parsed


def test_disable_enable_revoke(ks):
    ks.keygen("k1", "ec:P-256")
    res = ks.sealhsm("disable", "k1", "--reason", "maintenance window", so=True)
    assert "k1" in res.out
    doc = show(ks, "k1")
    assert doc["state"] == "disabled" and doc["state_reason"] == "maintenance window"
    ks.sealhsm("enable", "k1", so=True)
    assert show(ks, "k1")["state"] == "active"
    ks.sealhsm("revoke", "k1", "--reason", "key compromise", so=True)
    doc = show(ks, "k1")
    assert doc["state"] == "revoked" and doc["state_reason"] == "key compromise"
    res = ks.sealhsm("enable", "k1", so=True, check=None)
    assert res.rc != 0
    assert_fails(res, res.rc, "k1")
    assert show(ks, "k1")["state"] == "revoked"


def test_state_changes_need_so(ks):
    ks.keygen("k1", "ec:P-256")
    res = run_no_tty([SEALHSM, "disable", "k1"], ks.env(so=False))
    assert_fails(res, 3, "SEALHSM_SO_PIN")


def test_destroy_leaves_tombstone(ks):
    ks.keygen("k1", "ec:P-256")
    kid = keys(ks)[0]["id"]
    res = ks.sealhsm("destroy", "k1", so=True)
    assert "k1" in res.out
    [k] = keys(ks)
    assert k["label"] == "k1" and k["id"] == kid and k["state"] == "destroyed"
    assert show(ks, "k1")["state"] == "destroyed"
    assert_fails(ks.sealhsm("pubkey", "k1", check=None), 2, "k1")
    assert_fails(ks.sealhsm("keyref", "k1", check=None), 2, "k1")
    # the label cannot be reused
    res = ks.sealhsm("keygen", "k1", "--type", "ec:P-256", so=True, check=None)
    assert res.rc != 0
    assert_fails(res, res.rc, "k1")
    res = ks.sealhsm("destroy", "k1", so=True, check=None)
    assert_fails(res, 2, "k1")
