# SPDX-License-Identifier: Apache-2.0
"""Issue 5: key states through stock openssl (disable, enable, revoke --reason, destroy),
zeroization, certificates served from the keystore for `openssl cms -sign`, key
attestation certificates, and `keygen --like` rotation."""
import json
import os
import re

import pytest

import conftest
from conftest import assert_fails, audit_records, mdb_records

ATTEST_OID = "2.25.46257168805481854645121500197199491533.1"


def info(ks, label):
    return json.loads(ks.sealhsm("show", label, "--json").out)


def listed(ks):
    return {k["label"]: k for k in json.loads(ks.sealhsm("list", "--json").out)}


def last_record(ks, op, label):
    return [r for r in audit_records(ks) if r["op"] == op and r["label"] == label][-1]


# -- states ---------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["dgst", "pkeyutl"])
def test_disable_enable(ks, signer, how):
    ks.keygen("k", "ec:P-256")
    signer.ok("k", how)
    ks.sealhsm("disable", "k", "--reason", "maintenance", so=True)
    assert info(ks, "k")["state"] == "disabled"
    assert last_record(ks, "state", "k")["outcome"] == "ok"
    signer.refused("k", "disabled", how)
    ks.sealhsm("enable", "k", so=True)
    assert info(ks, "k")["state"] == "active"
    signer.ok("k", how)
    # the tool needs the SO: the user PIN is refused
    assert_fails(ks.sealhsm("disable", "k", check=None, SEALHSM_SO_PIN="user-pin-1111"), 4)
    assert info(ks, "k")["state"] == "active"


@pytest.mark.parametrize("how", ["dgst", "pkeyutl"])
def test_revoke_is_final(ks, signer, how):
    ks.keygen("k", "ec:P-256")
    signer.ok("k", how)
    ks.sealhsm("revoke", "k", "--reason", "key compromise", so=True)
    k = info(ks, "k")
    assert k["state"] == "revoked" and "key compromise" in k["state_reason"]
    assert "key compromise" in last_record(ks, "state", "k")["reason"]
    signer.refused("k", "revoked", how)
    assert_fails(ks.sealhsm("enable", "k", so=True, check=None), 5, "k")
    assert_fails(ks.sealhsm("disable", "k", so=True, check=None), 5, "k")
    # nor does a revoked key take a new policy or key PIN
    res = ks.sealhsm("policy", "k", "--max-signatures", "10", so=True, check=None)
    assert_fails(res, 5, "key k: key is revoked, and revocation is final")
    res = ks.sealhsm("pin", "reset-key", "k", so=True, check=None,
                     SEALHSM_NEW_PIN="key-pin-4242")
    assert_fails(res, 5, "key k: key is revoked, and revocation is final")
    assert info(ks, "k")["state"] == "revoked"
    signer.refused("k", "revoked", how)
    # still listed, public key still available (to verify old signatures)
    assert listed(ks)["k"]["state"] == "revoked"
    ks.sealhsm("pubkey", "k")


def test_destroy(ks, signer):
    ks.keygen("doomed", "ec:P-384")
    ks.keygen("kept", "ec:P-256")
    sig, data = signer.ok("doomed", digest="sha384")
    kid = bytes.fromhex(listed(ks)["doomed"]["id"])
    record = dict(mdb_records(ks.path, "keys"))[kid]
    ks.sealhsm("destroy", "doomed", so=True)
    # refused through openssl, naming the key
    for how in ("dgst", "pkeyutl"):
        res, out, _ = signer.sign("doomed", how)
        assert res.rc != 0 and (not out.exists() or out.stat().st_size == 0), res
        assert re.search(r"sealhsm: .*doomed.*destroyed", res.errtext), res
    # the sealed bytes are nowhere in the keystore directory
    tombstone = dict(mdb_records(ks.path, "keys"))[kid]
    windows = {record[i:i + 24] for i in range(len(record) - 23)}
    sealed = {w for w in windows if w not in tombstone and len(set(w)) >= 16}
    assert len(sealed) > 50
    for f in ks.path.iterdir():
        blob = f.read_bytes()
        assert record not in blob, f
        hits = [w for w in sealed if w in blob]
        assert not hits, f"{len(hits)} windows of the sealed record survive in {f.name}"
    # shown as destroyed; the label is never reused
    assert listed(ks)["doomed"]["state"] == "destroyed"
    assert info(ks, "doomed")["state"] == "destroyed"
    res = ks.sealhsm("keygen", "doomed", "--type", "ec:P-256", so=True, check=None)
    assert res.rc != 0
    assert_fails(res, res.rc, "doomed")
    assert listed(ks)["doomed"]["id"] == kid.hex()
    assert last_record(ks, "state", "doomed")["outcome"] == "ok"
    # destroyed is final too
    assert ks.sealhsm("enable", "doomed", so=True, check=None).rc in (2, 5)
    signer.ok("kept")
    ks.sealhsm("audit", "verify")


def test_destroyed_key_use_is_audited(ks, signer):
    ks.keygen("doomed", "ec:P-256")
    ks.sealhsm("destroy", "doomed", so=True)
    before = len(audit_records(ks))
    res, _, _ = signer.sign("doomed")
    assert res.rc != 0
    recs = audit_records(ks)[before:]
    assert [r for r in recs if r["label"] == "doomed" and r["outcome"] == "denied"], recs


# -- certificates ---------------------------------------------------------------------

@pytest.fixture
def ca(tmp_path):
    key, cert = tmp_path / "ca.key", tmp_path / "ca.pem"
    conftest.run([conftest.OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                  "-subj", "/CN=Test Code Signing CA", "-days", "30",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign"], check=0)
    return key, cert


def issue(ks, tmp, label, ca):
    """A code-signing certificate for LABEL: CSR signed inside the HSM, issued by ca."""
    csr, cert, ext = tmp / f"{label}.csr", tmp / f"{label}.pem", tmp / "ext.cnf"
    ext.write_text("keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n")
    ks.openssl("req", "-new", "-key", f"sealhsm:{label}", "-subj", f"/CN={label}", "-out", csr)
    ks.openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial",
               "-days", "20", "-extfile", ext, "-out", cert, via=None)
    return cert


def test_cms_sign_with_certificate_from_the_keystore(ks, tmp_path, ca):
    ks.keygen("cs", "ec:P-256")
    ks.sealhsm("cert", "import", "cs", issue(ks, tmp_path, "cs", ca), so=True)
    f, p7s = tmp_path / "payload.bin", tmp_path / "payload.p7s"
    f.write_bytes(b"release 1.2.3\n" * 100)
    ks.openssl("cms", "-sign", "-signer", "sealhsm:cs", "-inkey", "sealhsm:cs", "-binary",
               "-in", f, "-out", p7s, "-outform", "DER", timeout=15)
    ks.openssl("cms", "-verify", "-CAfile", ca[1], "-binary", "-content", f, "-in", p7s,
               "-inform", "DER", "-out", tmp_path / "out.bin", "-purpose", "any", via=None)
    assert (tmp_path / "out.bin").read_bytes() == f.read_bytes()


def test_cms_sign_with_hsm_key_and_certificate_file(ks, tmp_path, ca):
    """The same signature with the certificate given as a file: the HSM key signs CMS."""
    ks.keygen("cs", "ec:P-256")
    cert = issue(ks, tmp_path, "cs", ca)
    f, p7s = tmp_path / "payload.bin", tmp_path / "payload.p7s"
    f.write_bytes(b"release 1.2.3\n" * 100)
    ks.openssl("cms", "-sign", "-signer", cert, "-inkey", "sealhsm:cs", "-binary",
               "-in", f, "-out", p7s, "-outform", "DER")
    ks.openssl("cms", "-verify", "-CAfile", ca[1], "-binary", "-content", f, "-in", p7s,
               "-inform", "DER", "-out", tmp_path / "out.bin", "-purpose", "any", via=None)
    assert last_record(ks, "sign", "cs")["outcome"] == "ok"


def test_cert_import_checks_the_key(ks, tmp_path, ca):
    ks.keygen("cs", "ec:P-256")
    ks.keygen("other", "ec:P-256")
    cert = issue(ks, tmp_path, "cs", ca)
    res = ks.sealhsm("cert", "import", "other", cert, so=True, check=None)
    assert res.rc != 0
    assert_fails(res, res.rc, "other")
    assert "certificate" not in info(ks, "other")
    ks.sealhsm("cert", "import", "cs", cert, ca[1], so=True)
    c = info(ks, "cs")["certificate"]
    assert c["subject"].endswith("CN=cs") or "cs" in c["subject"]
    assert "Test Code Signing CA" in c["issuer"]
    assert last_record(ks, "cert", "cs")["outcome"] == "ok"
    # the stored chain comes back through the store loader (no type: key + certificates)
    out = ks.openssl("storeutl", "sealhsm:cs", timeout=15).out
    assert "Certificate" in out


# -- attestation ----------------------------------------------------------------------

def attestation_fields(pem_path):
    """The decoded attestation extension: [(type, value)] from `openssl asn1parse`."""
    lines = conftest.run([conftest.OPENSSL, "asn1parse", "-in", pem_path], check=0).out
    lines = lines.splitlines()
    i = next(n for n, l in enumerate(lines) if ATTEST_OID in l)
    nxt = lines[i + 1]
    if "BOOLEAN" in nxt:                              # critical flag (must not be there)
        raise AssertionError("attestation extension is marked critical")
    assert "OCTET STRING" in nxt, nxt
    off = nxt.split(":", 1)[0].strip()
    inner = conftest.run([conftest.OPENSSL, "asn1parse", "-in", pem_path, "-strparse", off],
                         check=0).out.splitlines()
    assert "SEQUENCE" in inner[0], inner
    fields = []
    for l in inner[1:]:
        assert "prim:" in l, l
        rest = l.split("prim:", 1)[1]
        if "[HEX DUMP]:" in rest:
            typ, val = rest.split("[HEX DUMP]:", 1)
        else:
            typ, _, val = rest.partition(":")
        fields.append((typ.strip(), val.strip()))
    return fields


@pytest.mark.parametrize("origin, type_, env", [
    ("generated", "ec:P-256", "dev"),
    ("generated", "ed25519", "prod"),
    ("imported", "ec:P-384", "test"),
])
def test_attestation(ks, tmp_path, origin, type_, env):
    if origin == "generated":
        ks.keygen("att", type_, "--env", env)
    else:
        pem = tmp_path / "known.pem"
        conftest.run([conftest.OPENSSL, "genpkey", "-algorithm", "EC", "-pkeyopt",
                      "ec_paramgen_curve:P-384", "-out", pem], check=0)
        ks.sealhsm("import", "att", "--in", pem, "--env", env, so=True)
    ca_pem, att_pem = tmp_path / "attest-ca.pem", tmp_path / "attest.pem"
    ks.sealhsm("attest", "--ca", "--out", ca_pem)
    ks.sealhsm("attest", "att", "--out", att_pem)
    ks.openssl("verify", "-CAfile", ca_pem, att_pem, via=None)
    # subject = label; public key = the key's
    subj = ks.openssl("x509", "-in", att_pem, "-noout", "-subject", via=None).out
    assert re.search(r"CN\s*=\s*att\b", subj), subj
    pub = ks.openssl("x509", "-in", att_pem, "-noout", "-pubkey", via=None).out
    assert pub == ks.sealhsm("pubkey", "att").out
    f = attestation_fields(att_pem)
    assert [t for t, _ in f] == ["ENUMERATED", "BOOLEAN", "UTF8STRING", "UTF8STRING",
                                 "OCTET STRING", "OCTET STRING"], f
    assert f[0][1] == ("00" if origin == "generated" else "01")
    assert f[1][1] == ("255" if origin == "generated" else "0")   # neverExtractable
    assert f[2][1] == type_ and f[3][1] == env
    assert len(f[4][1]) == 64                                       # SHA-256 policy digest
    assert f[5][1].lower() == listed(ks)["att"]["id"]
    assert listed(ks)["att"]["origin"] == origin
    # the policy digest follows the policy
    ks.sealhsm("policy", "att", "--max-signatures", "7", so=True)
    ks.sealhsm("attest", "att", "--out", tmp_path / "attest2.pem")
    f2 = attestation_fields(tmp_path / "attest2.pem")
    assert f2[4][1] != f[4][1] and f2[5] == f[5]
    # a certificate from another keystore's attestation CA does not verify here
    other = conftest.Keystore(tmp_path / "other", tmp_path)
    conftest.run([conftest.SEALHSM, "init", *conftest.FAST_KDF], env=other.env(so=True), check=0)
    other.sealhsm("attest", "--ca", "--out", tmp_path / "other-ca.pem")
    res = ks.openssl("verify", "-CAfile", tmp_path / "other-ca.pem", att_pem, via=None,
                     check=None)
    assert res.rc != 0


# -- rotation -------------------------------------------------------------------------

def test_keygen_like_copies_type_env_policy(ks, signer):
    ks.keygen("old", "ec:P-384", "--env", "prod", "--digests", "sha384,sha512",
              "--not-before", "2020-01-01", "--not-after", "2099-06-30T12:00:00Z",
              "--max-signatures", "1000", "--rate", "50/hour", "--users", f"{os.getuid()},4242",
              "--activation-ttl", "15m", "--audit", "durable", "--description", "release 2026")
    ks.sealhsm("keygen", "new", "--like", "old", so=True)
    old, new = info(ks, "old"), info(ks, "new")
    assert new["type"] == old["type"] == "ec:P-384"
    assert new["env"] == old["env"] == "prod"
    assert new["policy"] == old["policy"]
    assert new["id"] != old["id"] and new["origin"] == "generated"
    assert new["usage"]["signatures"] == 0
    assert ks.sealhsm("pubkey", "new").out != ks.sealhsm("pubkey", "old").out
    # an option given next to --like overrides OLD's
    ks.sealhsm("keygen", "newer", "--like", "old", "--max-signatures", "5", so=True)
    p = info(ks, "newer")["policy"]
    assert p["max_signatures"] == 5 and p["digests"] == old["policy"]["digests"]
    # the copy signs under the same rules
    prod = ks.conf("prod.cnf", environment="prod")
    signer.ok("new", digest="sha384", via="conf", conf=prod)
    signer.refused("new", "digests", digest="sha256", via="conf", conf=prod)
    signer.refused("new", "env", digest="sha384")
    assert_fails(ks.sealhsm("keygen", "x", "--like", "missing", so=True, check=None), 2,
                 "missing")
