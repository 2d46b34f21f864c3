# SPDX-License-Identifier: Apache-2.0
"""`sealhsm import`: a known private key goes in sealed; none of its private encodings
(PKCS#8 DER, PEM lines, raw primes / exponent / scalar) appear in the keystore files."""
import base64
import json
import re

import pytest

import conftest
from conftest import OPENSSL, assert_fails

pytestmark = pytest.mark.usefixtures("secret_watch")

PASSPHRASE = "import-passphrase-5555"


def openssl(*args, **kw):
    return conftest.run([OPENSSL, *args], check=0, **kw)


def genkey(tmp_path, name, *algopts):
    path = tmp_path / f"{name}.pem"
    openssl("genpkey", *algopts, "-out", path)
    return path


def private_components(key):
    """Raw big-endian private integers printed by `openssl pkey -text`."""
    text = openssl("pkey", "-in", key, "-noout", "-text").out
    fields = {}
    name = None
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s*$", line)
        if m:
            name = m.group(1)
            fields[name] = ""
        elif name and re.match(r"^\s+[0-9a-f:]+$", line):
            fields[name] += line.strip()
        else:
            name = None
    wanted = ("privateExponent", "prime1", "prime2", "exponent1", "exponent2", "coefficient",
              "priv")
    out = {}
    for k in wanted:
        if k in fields:
            raw = bytes.fromhex(fields[k].replace(":", "")).lstrip(b"\0")
            assert len(raw) >= 16, (k, raw)
            out[k] = raw
    return out


def private_encodings(key):
    """Every encoding of the private key an attacker could grep for."""
    enc = dict(private_components(key))
    enc["pkcs8-der"] = openssl("pkey", "-in", key, "-outform", "DER", binary=True).out
    trad = openssl("pkey", "-in", key, "-outform", "DER", "-traditional", binary=True).out
    enc["traditional-der"] = trad
    pem = key.read_text()
    body = [l for l in pem.splitlines() if l and not l.startswith("-----")]
    for i, line in enumerate(body):
        if len(line) >= 16:  # a short last line could occur in random bytes by chance
            enc[f"pem-line-{i}"] = line.encode()
    enc["pem-body-b64-decoded"] = base64.b64decode("".join(body))
    return enc


def keystore_bytes(ks):
    files = [p for p in ks.path.rglob("*") if p.is_file()]
    assert files
    return {p: p.read_bytes() for p in files}


def assert_nowhere(ks, encodings):
    for path, data in keystore_bytes(ks).items():
        for name, blob in encodings.items():
            assert blob not in data, f"{name} of the imported key found in {path}"


@pytest.mark.parametrize("kind,algopts,type_", [
    ("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "rsa:2048"),
    ("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "ec:P-256"),
])
def test_imported_key_never_stored_in_plaintext(ks, tmp_path, kind, algopts, type_):
    key = genkey(tmp_path, kind, *algopts)
    enc = private_encodings(key)
    expected = {"rsa": {"privateExponent", "prime1", "prime2"}, "ec": {"priv"}}[kind]
    assert expected <= set(enc)
    res = ks.sealhsm("import", "legacy", "--in", key, "--description", "migrated", so=True)
    assert "legacy" in res.out and type_ in res.out
    [k] = json.loads(ks.sealhsm("list", "--json").out)
    assert k["origin"] == "imported" and k["type"] == type_
    # the stored public key is the imported key's
    assert ks.sealhsm("pubkey", "legacy").out == openssl("pkey", "-in", key, "-pubout").out
    # use the keystore a little more so that any page recycling happens
    ks.keygen("other", "ed25519")
    ks.sealhsm("policy", "legacy", "--max-signatures", "9", so=True)
    assert_nowhere(ks, enc)
    # the tool itself never prints key material either
    for res in (ks.sealhsm("show", "legacy", "--json"), ks.sealhsm("list")):
        for name, blob in enc.items():
            assert blob.hex() not in res.out and base64.b64encode(blob).decode() not in res.out


def test_import_der_and_traditional_pem(ks, tmp_path):
    key = genkey(tmp_path, "ec", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384")
    der = tmp_path / "k.der"
    openssl("pkey", "-in", key, "-outform", "DER", "-out", der)
    ks.sealhsm("import", "from-der", "--in", der, so=True)
    trad = tmp_path / "trad.pem"
    openssl("pkey", "-in", key, "-traditional", "-out", trad)
    ks.sealhsm("import", "from-trad", "--in", trad, "--env", "prod", so=True)
    doc = {k["label"]: k for k in json.loads(ks.sealhsm("list", "--json").out)}
    assert doc["from-der"]["type"] == "ec:P-384" and doc["from-trad"]["env"] == "prod"


def test_import_encrypted_key(ks, tmp_path, secret_watch):
    secret_watch.add(PASSPHRASE)
    key = genkey(tmp_path, "ed", "-algorithm", "ED25519")
    enc = tmp_path / "enc.pem"
    openssl("pkey", "-in", key, "-aes256", "-passout", f"pass:{PASSPHRASE}", "-out", enc)
    assert "ENCRYPTED" in enc.read_text()
    res = ks.sealhsm("import", "a", "--in", enc, so=True, check=None)
    assert_fails(res, 1, str(enc), "--passin")
    assert_fails(ks.sealhsm("import", "a", "--in", enc, "--passin", "pass:nope-nope", so=True,
                            check=None), 1, str(enc))
    ks.sealhsm("import", "a", "--in", enc, "--passin", f"pass:{PASSPHRASE}", so=True)
    ks.sealhsm("import", "b", "--in", enc, "--passin", "env:KEYPASS", so=True,
               KEYPASS=PASSPHRASE)
    pf = tmp_path / "pass.txt"
    pf.write_text(PASSPHRASE + "\n")
    ks.sealhsm("import", "c", "--in", enc, "--passin", f"file:{pf}", so=True)
    labels = [k["label"] for k in json.loads(ks.sealhsm("list", "--json").out)]
    assert labels == ["a", "b", "c"]
    assert_nowhere(ks, {"pkcs8": openssl("pkey", "-in", key, "-outform", "DER",
                                         binary=True).out})


def test_import_refusals(ks, tmp_path):
    weak = genkey(tmp_path, "weak", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")
    assert_fails(ks.sealhsm("import", "weak", "--in", weak, so=True, check=None), 1, "weak",
                 "2048")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    assert_fails(ks.sealhsm("import", "j", "--in", junk, so=True, check=None), 1, str(junk))
    missing = tmp_path / "missing.pem"
    assert_fails(ks.sealhsm("import", "m", "--in", missing, so=True, check=None), 2,
                 str(missing))
    pub = tmp_path / "pub.pem"
    openssl("pkey", "-in", weak, "-pubout", "-out", pub)
    assert_fails(ks.sealhsm("import", "p", "--in", pub, so=True, check=None), 1, str(pub))
    assert_fails(ks.sealhsm("import", "x", "--in", weak, "--passin", "stdin", so=True,
                            check=None), 1, "--passin")
    assert json.loads(ks.sealhsm("list", "--json").out) == []
