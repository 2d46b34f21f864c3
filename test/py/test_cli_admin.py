# SPDX-License-Identifier: Apache-2.0
"""`sealhsm` tool: officers and approvals, audit verify/export, backup/restore,
certificates and attestation (docs/reference.md: Command-line tool, Audit log, Attestation certificates)."""
import json
import re

import pytest

import conftest
from conftest import OPENSSL, SEALHSM, SO_PIN, Keystore, assert_fails, run_no_tty

pytestmark = pytest.mark.usefixtures("secret_watch")

ALICE_PIN = "alice-pin-6666"
BOB_PIN = "bob-pin-7777"
ATTEST_OID = "2.25.46257168805481854645121500197199491533.1"
AUDIT_MEMBERS = {"seq", "time", "user", "pid", "program", "via", "op", "key_id", "label", "outcome",
                 "reason", "digest", "tbs_hash", "prev_hash", "mac"}
AUDIT_OPS = {"init", "unlock", "keygen", "import", "policy", "officer", "approve", "sign",
             "state", "cert", "backup", "restore", "pin"}
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(autouse=True)
def _watch_officer_pins(secret_watch):
    secret_watch.add(ALICE_PIN, BOB_PIN)


def openssl(*args, **kw):
    return conftest.run([OPENSSL, *args], check=kw.pop("check", 0), **kw)


def list_json(ks):
    return json.loads(ks.sealhsm("list", "--json").out)


def show(ks, label):
    return json.loads(ks.sealhsm("show", label, "--json").out)


def audit_records(ks, *args):
    out = ks.sealhsm("audit", "export", "--format", "jsonl", *args).out
    return [json.loads(l) for l in out.splitlines()]


# -- officers and approvals ---------------------------------------------------------------

def add_officers(ks, tmp_path):
    ks.sealhsm("officer", "add", "alice", so=True, SEALHSM_OFFICER_PIN=ALICE_PIN)
    pin = tmp_path / "bob.pin"
    pin.write_text(BOB_PIN)
    ks.sealhsm("officer", "add", "bob", "--officer-pin-file", pin, so=True)


def test_officer_add_list_remove(ks, tmp_path):
    assert json.loads(ks.sealhsm("officer", "list", "--json").out) == []
    add_officers(ks, tmp_path)
    assert sorted(json.loads(ks.sealhsm("officer", "list", "--json").out)) == ["alice", "bob"]
    assert sorted(ks.sealhsm("officer", "list", "--so", so=True).out.split()) == ["alice", "bob"]
    res = ks.sealhsm("officer", "add", "alice", so=True, check=None,
                     SEALHSM_OFFICER_PIN=ALICE_PIN)
    assert res.rc != 0
    assert_fails(res, res.rc, "alice")
    ks.sealhsm("officer", "remove", "bob", so=True)
    assert ks.sealhsm("officer", "list").out.split() == ["alice"]
    assert_fails(ks.sealhsm("officer", "remove", "bob", so=True, check=None), 2, "bob")


def test_officer_add_without_pin_and_terminal(ks):
    res = run_no_tty([SEALHSM, "officer", "add", "carol"], ks.env(so=True))
    assert_fails(res, 3, "SEALHSM_OFFICER_PIN")


def test_approvals_activate_key(ks, tmp_path):
    add_officers(ks, tmp_path)
    ks.keygen("k1", "ec:P-256", "--approvals", "2", "--activation-ttl", "10m")
    env = ks.env(user=False, SEALHSM_OFFICER_PIN=ALICE_PIN)
    res = ks.sealhsm("approve", "k1", "--officer", "alice", env=env)
    assert "alice" in res.out and "not yet activated" in res.out
    res = ks.sealhsm("approve", "k1", "--officer", "bob", env=env, check=None)
    assert_fails(res, 4, "bob")
    pin = tmp_path / "bob.pin"
    res = ks.sealhsm("approve", "k1", "--officer", "bob", "--officer-pin-file", pin, env=env)
    assert "activated until" in res.out
    fields = dict(l.split(": ", 1) for l in ks.sealhsm("show", "k1").out.splitlines())
    assert re.match(r"\d{4}-", fields["activation_expires"])
    assert_fails(ks.sealhsm("approve", "ghost", "--officer", "alice", env=env, check=None), 2,
                 "ghost")
    assert_fails(ks.sealhsm("approve", "k1", "--officer", "mallory", env=env, check=None), 2,
                 "mallory")


def test_policy_change_of_key_with_approvals_needs_activation(ks, tmp_path):
    add_officers(ks, tmp_path)
    ks.keygen("k1", "ec:P-256", "--approvals", "1")
    before = show(ks, "k1")["policy"]
    res = ks.sealhsm("policy", "k1", "--approvals", "0", so=True, check=None)
    assert_fails(res, 5, "k1")
    assert show(ks, "k1")["policy"] == before
    denied = [r for r in audit_records(ks) if r["op"] == "policy"]
    assert denied and denied[-1]["outcome"] == "denied" and denied[-1]["label"] == "k1"
    ks.sealhsm("approve", "k1", "--officer", "alice", user=False, SEALHSM_OFFICER_PIN=ALICE_PIN)
    # lowering --approvals also needs the officers' admin activation (the officer quorum)
    ks.sealhsm("approve", "--admin", "--officer", "alice", user=False,
               SEALHSM_OFFICER_PIN=ALICE_PIN)
    ks.sealhsm("policy", "k1", "--approvals", "0", so=True)
    assert show(ks, "k1")["policy"]["approvals"] == 0


# -- audit ----------------------------------------------------------------------------------

def test_audit_verify(ks):
    ks.keygen("k1", "ec:P-256")
    res = ks.sealhsm("audit", "verify")
    assert re.fullmatch(r"audit: \d+ records verified, chain and MACs intact.*\n", res.out)
    doc = json.loads(ks.sealhsm("audit", "verify", "--json").out)
    assert set(doc) == {"records", "unauthenticated", "ok"}
    assert doc["ok"] is True and doc["records"] >= 3
    ks.sealhsm("audit", "verify", "--so", so=True)


def test_audit_export_jsonl(ks):
    ks.keygen("k1", "ec:P-256")
    assert_fails(ks.sealhsm("list", check=None, user=False, SEALHSM_PIN="wrong-pin-0000"), 4)
    recs = audit_records(ks)
    assert [r["seq"] for r in recs] == list(range(recs[0]["seq"], recs[0]["seq"] + len(recs)))
    for r in recs:
        assert set(r) == AUDIT_MEMBERS
        assert r["op"] in AUDIT_OPS and r["outcome"] in {"ok", "denied", "error"}
        assert RFC3339_MS.match(r["time"])
        assert re.fullmatch(r"[0-9a-f]{64}", r["prev_hash"])
        assert r["mac"] is None or re.fullmatch(r"[0-9a-f]{64}", r["mac"])
        assert isinstance(r["pid"], int) and r["user"]
    assert recs[0]["op"] == "init"
    kg = [r for r in recs if r["op"] == "keygen"]
    assert len(kg) == 1 and kg[0]["label"] == "k1" and kg[0]["outcome"] == "ok"
    assert kg[0]["key_id"] == list_json(ks)[0]["id"]
    assert any(r["op"] == "unlock" and r["outcome"] != "ok" for r in recs)
    # --since is inclusive
    third = recs[2]["seq"]
    since = audit_records(ks, "--since", str(third))
    assert since[0]["seq"] == third
    assert since[:len(recs) - 2] == recs[2:]


def test_audit_export_text(ks):
    ks.keygen("k1", "ec:P-256")
    recs = audit_records(ks)
    lines = ks.sealhsm("audit", "export").out.splitlines()
    # one line per record; this export's own unlock is the one more
    assert [int(l.split()[0]) for l in lines] == [r["seq"] for r in recs] + [recs[-1]["seq"] + 1]
    assert all(re.match(r"^\d+ \d{4}-\d\d-\d\dT\S+Z op=\w+ outcome=\w+", l) for l in lines)
    assert any("op=keygen" in l and 'label="k1"' in l for l in lines)


# -- backup and restore ---------------------------------------------------------------------

def test_backup_and_restore(ks, tmp_path):
    ks.keygen("k1", "ec:P-256", "--env", "prod")
    ks.keygen("k2", "ed25519")
    ks.sealhsm("disable", "k2", "--reason", "spare", so=True)
    ks.sealhsm("destroy", "k1", so=True)
    ks.keygen("k3", "rsa:2048")
    bak = tmp_path / "ks.bak"
    res = ks.sealhsm("backup", "--out", bak, so=True)
    assert str(bak) in res.out
    assert bak.stat().st_size > 0
    data = bak.read_bytes()
    assert SO_PIN.encode() not in data

    new = Keystore(tmp_path / "restored", tmp_path)
    res = conftest.run([SEALHSM, "restore", "--in", bak, "--keystore", new.path],
                       env=new.env(so=True), check=0)
    assert str(new.path) in res.out
    assert list_json(new) == list_json(ks)
    for label in ("k2", "k3"):
        assert show(new, label) == show(ks, label)
    assert new.sealhsm("pubkey", "k3").out == ks.sealhsm("pubkey", "k3").out
    new.sealhsm("audit", "verify")
    # the restored chain is the old one up to the backup record
    old_recs = audit_records(ks)
    upto = next(n for n, r in enumerate(old_recs) if r["op"] == "backup") + 1
    assert audit_records(new)[:upto] == old_recs[:upto]


def test_restore_refusals(ks, tmp_path):
    bak = tmp_path / "ks.bak"
    ks.sealhsm("backup", "--out", bak, so=True)
    env = ks.env(so=True)
    env["SEALHSM_SO_PIN"] = "wrong-so-pin-99"
    target = tmp_path / "r1"
    res = conftest.run([SEALHSM, "restore", "--in", bak, "--keystore", target], env=env)
    assert_fails(res, 4)
    assert not (target / "data.mdb").exists()
    res = conftest.run([SEALHSM, "restore", "--in", bak, "--keystore", ks.path],
                       env=ks.env(so=True))
    assert res.rc != 0
    assert_fails(res, res.rc, str(ks.path))
    missing = tmp_path / "nope.bak"
    res = conftest.run([SEALHSM, "restore", "--in", missing, "--keystore", tmp_path / "r2"],
                       env=ks.env(so=True))
    assert_fails(res, 2, str(missing))
    corrupt = tmp_path / "corrupt.bak"
    data = bytearray(bak.read_bytes())
    data[len(data) // 2] ^= 0x01
    corrupt.write_bytes(bytes(data))
    res = conftest.run([SEALHSM, "restore", "--in", corrupt, "--keystore", tmp_path / "r3"],
                       env=ks.env(so=True))
    assert_fails(res, 6, str(corrupt))
    assert not (tmp_path / "r3" / "data.mdb").exists()


# -- certificates and attestation --------------------------------------------------------------

def imported_key_with_cert(ks, tmp_path, label="signer", days="365", eku=True):
    key = tmp_path / f"{label}.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    cert = tmp_path / f"{label}.crt"
    ext = ["-addext", "extendedKeyUsage=codeSigning"] if eku else []
    openssl("req", "-x509", "-new", "-key", key, "-subj", f"/CN={label} signer/O=Example",
            "-days", days, "-set_serial", "0x1234abcd", *ext, "-out", cert)
    ks.sealhsm("import", label, "--in", key, so=True)
    return key, cert


def test_cert_import_and_show(ks, tmp_path):
    _, cert = imported_key_with_cert(ks, tmp_path)
    res = ks.sealhsm("cert", "import", "signer", cert, so=True)
    assert "signer" in res.out
    doc = show(ks, "signer")
    assert set(doc) == {"label", "id", "type", "env", "state", "origin", "created",
                        "description", "state_reason", "policy", "usage", "certificate"}
    c = doc["certificate"]
    assert set(c) == {"subject", "issuer", "not_before", "not_after", "serial"}
    assert c["subject"] == "O=Example,CN=signer signer" == c["issuer"]
    assert c["serial"] == "1234abcd"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", c["not_after"])
    out = ks.sealhsm("show", "signer").out
    assert "certificate_subject: O=Example,CN=signer signer" in out
    assert "warning:" not in out


def test_cert_warnings(ks, tmp_path):
    _, cert = imported_key_with_cert(ks, tmp_path, days="10", eku=False)
    ks.sealhsm("cert", "import", "signer", cert, so=True)
    out = ks.sealhsm("show", "signer").out
    assert re.search(r"^warning: certificate expires in (9|10) days$", out, re.M), out
    assert "warning: certificate lacks the codeSigning extended key usage" in out


def test_cert_import_with_chain_and_der(ks, tmp_path):
    ca_key = tmp_path / "ca.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ca_key)
    ca = tmp_path / "ca.crt"
    openssl("req", "-x509", "-new", "-key", ca_key, "-subj", "/CN=Test CA", "-days", "30",
            "-out", ca)
    key = tmp_path / "leaf.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    csr = tmp_path / "leaf.csr"
    openssl("req", "-new", "-key", key, "-subj", "/CN=leaf", "-out", csr)
    leaf = tmp_path / "leaf.der"
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial", "7",
            "-days", "20", "-outform", "DER", "-out", leaf)
    ks.sealhsm("import", "leaf", "--in", key, so=True)
    res = ks.sealhsm("cert", "import", "leaf", leaf, ca, so=True)
    assert "2 certificates" in res.out
    c = show(ks, "leaf")["certificate"]
    assert c["subject"] == "CN=leaf" and c["issuer"] == "CN=Test CA" and c["serial"] == "07"


def test_cert_import_refusals(ks, tmp_path):
    _, cert = imported_key_with_cert(ks, tmp_path, label="a")
    ks.keygen("b", "ec:P-256")
    res = ks.sealhsm("cert", "import", "b", cert, so=True, check=None)
    assert res.rc != 0
    assert_fails(res, res.rc, "b")
    assert "certificate" not in show(ks, "b")
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    assert_fails(ks.sealhsm("cert", "import", "a", junk, so=True, check=None), 1, str(junk))
    assert_fails(ks.sealhsm("cert", "import", "ghost", cert, so=True, check=None), 2, "ghost")


def test_attest(ks, tmp_path):
    ks.keygen("k1", "ec:P-256", "--env", "prod")
    ca = tmp_path / "ca.pem"
    ks.sealhsm("attest", "--ca", "--out", ca)
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----\n")
    att = ks.sealhsm("attest", "k1").out
    assert att.startswith("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "att.pem").write_text(att)
    assert openssl("verify", "-CAfile", ca, tmp_path / "att.pem").out.strip().endswith("OK")
    subject = openssl("x509", "-in", tmp_path / "att.pem", "-noout", "-subject").out
    assert subject.strip() == "subject=CN = k1"
    # the extension: origin generated(0), neverExtractable TRUE, type, env, digest, key id
    parsed = openssl("asn1parse", "-in", tmp_path / "att.pem").out.splitlines()
    i = next(n for n, l in enumerate(parsed) if ATTEST_OID in l)
    value = bytes.fromhex(parsed[i + 1].split("[HEX DUMP]:")[1])
    assert value[0] == 0x30
    body = value[2:] if value[1] < 0x80 else value[2 + (value[1] & 0x7f):]
    assert body.startswith(b"\x0a\x01\x00\x01\x01\xff")
    assert b"ec:P-256" in body and b"prod" in body
    assert bytes.fromhex(list_json(ks)[0]["id"]) in body
    pub = openssl("x509", "-in", tmp_path / "att.pem", "-noout", "-pubkey").out
    assert pub == ks.sealhsm("pubkey", "k1").out
    assert_fails(ks.sealhsm("attest", "ghost", check=None), 2, "ghost")
    assert_fails(ks.sealhsm("attest", "k1", "--ca", check=None), 1)


def test_attest_imported_key_is_not_never_extractable(ks, tmp_path):
    imported_key_with_cert(ks, tmp_path, label="imp")
    att = tmp_path / "att.pem"
    ks.sealhsm("attest", "imp", "--out", att)
    parsed = openssl("asn1parse", "-in", att).out.splitlines()
    i = next(n for n, l in enumerate(parsed) if ATTEST_OID in l)
    value = bytes.fromhex(parsed[i + 1].split("[HEX DUMP]:")[1])
    body = value[2:] if value[1] < 0x80 else value[2 + (value[1] & 0x7f):]
    assert body.startswith(b"\x0a\x01\x01\x01\x01\x00")
