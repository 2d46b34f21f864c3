# SPDX-License-Identifier: Apache-2.0
"""Keys, labels and what is said about them (issue 14): attestation only for active
keys (item 17), look-alike labels and key-reference files (item 18), validity
windows and certificate chains (item 20)."""
import base64
import json

import pytest

from conftest import FAST_KDF, SEALHSM, Keystore, assert_fails, run


# -- item 17: attestation ----------------------------------------------------------------------

def test_attestation_only_for_active_keys(ks):
    ks.keygen("k1", "ec:P-256")
    assert ks.sealhsm("attest", "k1").out.startswith("-----BEGIN CERTIFICATE-----")
    ks.sealhsm("disable", "k1", "--reason", "paused", so=True)
    assert_fails(ks.sealhsm("attest", "k1", check=None), 5, "k1", "disabled")
    ks.sealhsm("enable", "k1", so=True)
    assert ks.sealhsm("attest", "k1").out.startswith("-----BEGIN CERTIFICATE-----")
    ks.sealhsm("revoke", "k1", "--reason", "leaked", so=True)
    res = ks.sealhsm("attest", "k1", check=None)
    assert_fails(res, 5, "k1", "revoked")
    assert "CERTIFICATE" not in res.out
    ks.sealhsm("destroy", "k1", so=True)
    res = ks.sealhsm("attest", "k1", check=None)
    assert_fails(res, 2, "k1", "destroyed")
    assert "CERTIFICATE" not in res.out


# -- item 18: look-alike labels and key-reference files ----------------------------------------

def key_ids(ks):
    return {k["label"]: k["id"] for k in json.loads(ks.sealhsm("list", "--json").out)}


@pytest.mark.parametrize("how", ["keygen", "import", "like"])
def test_look_alike_labels_refused(ks, tmp_path, how):
    ks.keygen("k1", "ec:P-256")
    ks.keygen("k2", "ec:P-256")
    k1 = key_ids(ks)["k1"]
    soft = tmp_path / "soft.key"
    ks.openssl("genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
               soft, via=None)
    for bad in (" k2", "k2 ", f"id={k1}", "object=k2", "k2;type=private", "k%32"):
        if how == "keygen":
            argv = ["keygen", bad, "--type", "ec:P-256"]
        elif how == "import":
            argv = ["import", bad, "--in", soft]
        else:
            argv = ["keygen", bad, "--like", "k1"]
        line = assert_fails(ks.sealhsm(*argv, so=True, check=None), 1, "key label")
        assert bad.strip() in line
    assert set(key_ids(ks)) == {"k1", "k2"}, "a look-alike key was created"
    # white space inside a label is fine
    ks.sealhsm(*(["keygen", "my key", "--type", "ec:P-256"] if how != "import"
                 else ["import", "my key", "--in", soft]), so=True)
    assert "my key" in key_ids(ks)


def _keyref_der(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "-----BEGIN SEALHSM KEY REF-----", lines[0]
    return base64.b64decode("".join(lines[1:-1]))


def _forge_keyref(src, label, out):
    """src's reference (its keystore id and key id) with another label."""
    der = _keyref_der(src)
    head = der[2:2 + 3 + 18 + 18]  # version, keystore id, key id
    lab = label.encode()
    body = head + bytes([0x0c, len(lab)]) + lab
    der = bytes([0x30, len(body)]) + body
    b64 = base64.b64encode(der).decode()
    out.write_text("-----BEGIN SEALHSM KEY REF-----\n" + b64 +
                   "\n-----END SEALHSM KEY REF-----\n")
    return out


def _ts_sign(ks, tmp_path, keyref):
    """openssl ts reads its key with PEM_read_bio_PrivateKey: the provider's decoder
    sees the key reference and its refusal reaches the user."""
    cert = tmp_path / "tsa.pem"
    if not cert.exists():
        ks.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", tmp_path / "soft-tsa.key", "-subj", "/CN=tsa", "-addext",
                   "extendedKeyUsage=critical,timeStamping", "-out", cert, via=None)
        data = tmp_path / "tsdata"
        data.write_bytes(b"stamp me\n")
        ks.openssl("ts", "-query", "-data", data, "-sha256", "-out", tmp_path / "q.tsq", via=None)
        (tmp_path / "ts.cnf").write_text(
            f"[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = {tmp_path / 'serial'}\n"
            "default_policy = 1.2.3.4\ndigests = sha256\nsigner_digest = sha256\n")
    return ks.openssl("ts", "-reply", "-config", tmp_path / "ts.cnf", "-queryfile",
                      tmp_path / "q.tsq", "-inkey", keyref, "-signer", cert, via="conf",
                      check=None)


def test_keyref_whose_label_does_not_match_its_key_is_refused(ks, tmp_path):
    ks.keygen("k1", "ec:P-256")
    ks.keygen("k2", "ec:P-256")
    real = tmp_path / "k1.keyref.pem"
    ks.sealhsm("keyref", "k1", "--out", real)
    forged = _forge_keyref(real, "k2", tmp_path / "forged.keyref.pem")
    # the honest reference works, and re-encoding it unchanged gives the same file
    assert _keyref_der(_forge_keyref(real, "k1", tmp_path / "same.pem")) == _keyref_der(real)
    assert _ts_sign(ks, tmp_path, real).rc == 0
    res = _ts_sign(ks, tmp_path, forged)
    assert res.rc != 0
    assert "key reference 'k2' names the key labelled 'k1'" in res.err, res.err
    # and through openssl's own key loading (OSSL_STORE): refused, no signature
    data = tmp_path / "m.txt"
    data.write_text("x\n")
    sig = tmp_path / "forged.sig"
    res = ks.openssl("dgst", "-sha256", "-sign", forged, "-out", sig, data, check=None)
    assert res.rc != 0 and (not sig.exists() or sig.stat().st_size == 0)
    ks.openssl("dgst", "-sha256", "-sign", real, "-out", tmp_path / "real.sig", data)


def test_keyref_of_another_keystore_names_both_ids(ks, tmp_path):
    other = Keystore(tmp_path / "other", tmp_path)
    run([SEALHSM, "init", *FAST_KDF], env=other.env(so=True), check=0)
    other.keygen("k2", "ec:P-256")
    ks.keygen("k2", "ec:P-256")
    theirs = tmp_path / "theirs.keyref.pem"
    other.sealhsm("keyref", "k2", "--out", theirs)
    mine = tmp_path / "mine.keyref.pem"
    ks.sealhsm("keyref", "k2", "--out", mine)
    their_id = _keyref_der(theirs)[7:23].hex()
    my_id = _keyref_der(mine)[7:23].hex()
    res = _ts_sign(ks, tmp_path, theirs)
    assert res.rc != 0
    assert their_id in res.err and my_id in res.err and str(ks.path) in res.err, res.err
    data = tmp_path / "m.txt"
    data.write_text("x\n")
    sig = tmp_path / "other.sig"
    res = ks.openssl("dgst", "-sha256", "-sign", theirs, "-out", sig, data, check=None)
    assert res.rc != 0 and (not sig.exists() or sig.stat().st_size == 0)


# -- item 20: validity windows and certificate chains -------------------------------------------

def test_validity_window_that_never_opens_is_a_usage_error(ks):
    line = assert_fails(ks.sealhsm("keygen", "k", "--type", "ec:P-256", "--not-before",
                                   "2031-01-01", "--not-after", "2030-01-01", so=True, check=None),
                        1, "--not-before 2031-01-01T00:00:00Z", "--not-after 2030-01-01T00:00:00Z")
    assert "after" in line
    assert_fails(ks.sealhsm("keygen", "k", "--type", "ec:P-256", "--not-after", "2020-01-01",
                            so=True, check=None), 1, "--not-after 2020-01-01T00:00:00Z",
                 "already past")
    assert json.loads(ks.sealhsm("list", "--json").out) == []
    # the same rules for a policy change, which leaves the key as it was
    ks.keygen("k", "ec:P-256", "--not-after", "2099-01-01")
    assert_fails(ks.sealhsm("policy", "k", "--not-after", "2020-01-01", so=True, check=None), 1,
                 "already past")
    assert_fails(ks.sealhsm("policy", "k", "--not-before", "2099-06-01", so=True, check=None), 1,
                 "--not-before 2099-06-01")
    show = json.loads(ks.sealhsm("show", "k", "--json").out)
    assert show["policy"]["not_after"] == "2099-01-01T00:00:00Z"
    assert show["policy"]["not_before"] is None


def _x509(ks, *args):
    return ks.openssl("x509", *args, via=None).out


def _ca(ks, tmp, name, issuer=None):
    """A CA certificate named name, self-signed or issued by issuer (a name)."""
    key, crt = tmp / f"{name}.key", tmp / f"{name}.pem"
    if issuer is None:
        ks.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", key, "-subj", f"/CN={name}", "-days", "5", "-addext",
                   "basicConstraints=critical,CA:TRUE", "-out", crt, via=None)
    else:
        csr = tmp / f"{name}.csr"
        ks.openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", key, "-subj", f"/CN={name}", "-addext",
                   "basicConstraints=critical,CA:TRUE", "-out", csr, via=None)
        ks.openssl("x509", "-req", "-in", csr, "-CA", tmp / f"{issuer}.pem", "-CAkey",
                   tmp / f"{issuer}.key", "-copy_extensions", "copy", "-set_serial", "5",
                   "-days", "5", "-out", crt, via=None)
    return crt


def test_cert_import_keeps_only_the_chain_of_the_leaf_in_order(ks, tmp_path):
    ks.keygen("signer", "ec:P-256")
    root = _ca(ks, tmp_path, "root")
    inter = _ca(ks, tmp_path, "inter", issuer="root")
    stranger = _ca(ks, tmp_path, "stranger")  # unrelated
    csr = tmp_path / "leaf.csr"
    ks.openssl("req", "-new", "-key", "sealhsm:signer", "-subj", "/CN=signer", "-out", csr)
    leaf = tmp_path / "leaf.pem"
    ks.openssl("x509", "-req", "-in", csr, "-CA", inter, "-CAkey", tmp_path / "inter.key",
               "-set_serial", "9", "-days", "5", "-out", leaf, via=None)
    # out of order, with an unrelated certificate and a duplicate
    given = tmp_path / "given.pem"
    given.write_text(stranger.read_text() + root.read_text() + inter.read_text()
                     + inter.read_text())
    res = ks.sealhsm("cert", "import", "signer", leaf, given, so=True)
    assert "3 certificates stored" in res.out
    assert "2 of 5 certificates left out" in res.err and "signer" in res.err
    # the stored chain, as the provider hands it to OpenSSL: leaf, inter, root
    out = ks.openssl("storeutl", "-certs", "sealhsm:signer").out
    pems = ["-----BEGIN CERTIFICATE-----" + p.split("-----END CERTIFICATE-----")[0]
            + "-----END CERTIFICATE-----\n"
            for p in out.split("-----BEGIN CERTIFICATE-----")[1:]]
    subjects = []
    for i, pem in enumerate(pems):
        f = tmp_path / f"stored{i}.pem"
        f.write_text(pem)
        subjects.append(_x509(ks, "-in", f, "-noout", "-subject").strip())
    assert subjects == ["subject=CN = signer", "subject=CN = inter", "subject=CN = root"], subjects
    # a leaf with nothing that chains it is stored alone
    res = ks.sealhsm("cert", "import", "signer", leaf, stranger, so=True)
    assert "1 certificate stored" in res.out and "1 of 2 certificates left out" in res.err


# -- item 16: an old backup brings back a destroyed key ----------------------------------------

def test_destroy_and_restore_say_what_old_backups_hold(ks, tmp_path):
    import re
    import time
    ks.keygen("old", "ec:P-256")
    ref = tmp_path / "old.keyref.pem"
    ks.sealhsm("keyref", "old", "--out", ref)
    store_id = _keyref_der(ref)[7:23].hex()
    before = time.time()
    bak = tmp_path / "before-destroy.bak"
    ks.sealhsm("backup", "--out", bak, so=True)
    after = time.time()
    ks.sealhsm("revoke", "old", "--reason", "retired", so=True)
    out = ks.sealhsm("destroy", "old", so=True).out
    assert "key old destroyed" in out
    assert "backups made before now still hold it" in out
    # the backup still holds the key: restoring it is a visible, dated act
    spare = tmp_path / "spare"
    out = ks.sealhsm("restore", "--in", bak, "--keystore", spare, so=True).out
    m = re.search(r"backup made (\S+) of keystore ([0-9a-f]{32})", out)
    assert m, out
    assert m.group(2) == store_id
    made = time.mktime(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert int(before) - 1 <= made <= after + 1, (m.group(1), before, after)
    restored = json.loads(Keystore(spare, tmp_path).sealhsm("list", "--json").out)
    assert [k["state"] for k in restored if k["label"] == "old"] == ["active"]
