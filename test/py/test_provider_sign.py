# SPDX-License-Identifier: Apache-2.0
"""Signatures with keystore keys through the stock `openssl` binary (issue 3).

Every signature made with the provider is verified by stock openssl *without* the
provider, using only the public key exported by `sealhsm pubkey`. Each test runs
with the provider activated by -provider flags and by an OPENSSL_CONF file.
"""
import hashlib

import pytest

from conftest import EDDSA_KEYS, HASH_KEYS, PROVIDER_KEYS, RSA_KEYS, VIAS

# every test runs with the keystore in the process and through sealhsmd
pytestmark = pytest.mark.usefixtures("sealhsm_mode")

MSG = b"sealhsm provider test message\n" * 40


def pub(pks, label):
    return pks.tmp / f"{label}.pub.pem"


@pytest.fixture
def msg(tmp_path):
    p = tmp_path / "msg.bin"
    p.write_bytes(MSG)
    return p


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("md", ["sha256", "sha384"])
@pytest.mark.parametrize("label", HASH_KEYS)
def test_dgst_sign_verifies_without_provider(pks, tmp_path, msg, label, md, via):
    sig = tmp_path / "sig"
    pks.openssl("dgst", f"-{md}", "-sign", f"sealhsm:{label}", "-out", sig, msg, via=via)
    res = pks.openssl("dgst", f"-{md}", "-verify", pub(pks, label), "-signature", sig, msg,
                      via=None)
    assert "Verified OK" in res.out
    msg.write_bytes(MSG + b"!")
    res = pks.openssl("dgst", f"-{md}", "-verify", pub(pks, label), "-signature", sig, msg,
                      via=None, check=1)
    assert "Verification failure" in res.out


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("md", ["sha256", "sha384"])
@pytest.mark.parametrize("label", HASH_KEYS)
def test_pkeyutl_signs_a_prehashed_digest(pks, tmp_path, label, md, via):
    dg = tmp_path / "digest.bin"
    dg.write_bytes(hashlib.new(md, MSG).digest())
    sig = tmp_path / "sig"
    pks.openssl("pkeyutl", "-sign", "-inkey", f"sealhsm:{label}", "-in", dg, "-out", sig,
                "-pkeyopt", f"digest:{md}", via=via)
    res = pks.openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub(pks, label), "-in", dg,
                      "-sigfile", sig, "-pkeyopt", f"digest:{md}", via=None)
    assert "Signature Verified Successfully" in res.out


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", EDDSA_KEYS)
def test_pkeyutl_rawin_eddsa(pks, tmp_path, msg, label, via):
    sig = tmp_path / "sig"
    pks.openssl("pkeyutl", "-sign", "-inkey", f"sealhsm:{label}", "-rawin", "-in", msg, "-out",
                sig, via=via)
    assert sig.stat().st_size == (64 if label == "ed25519" else 114)
    res = pks.openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub(pks, label), "-rawin", "-in",
                      msg, "-sigfile", sig, via=None)
    assert "Signature Verified Successfully" in res.out
    msg.write_bytes(MSG + b"!")
    pks.openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub(pks, label), "-rawin", "-in", msg,
                "-sigfile", sig, via=None, check=1)


def pss_max_salt(label):
    bits = int(label[3:])
    return (bits - 1 + 7) // 8 - 32 - 2


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("saltlen", ["digest", "max", "auto"])
@pytest.mark.parametrize("label", RSA_KEYS)
def test_rsa_pss_salt_lengths(pks, tmp_path, label, saltlen, via):
    dg = tmp_path / "digest.bin"
    dg.write_bytes(hashlib.sha256(MSG).digest())
    sig = tmp_path / "sig"
    pss = ["-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss"]
    pks.openssl("pkeyutl", "-sign", "-inkey", f"sealhsm:{label}", "-in", dg, "-out", sig, *pss,
                "-pkeyopt", f"rsa_pss_saltlen:{saltlen}", via=via)
    # the exact salt length: "digest" is the hash size, "max" and "auto" the longest
    expected = 32 if saltlen == "digest" else pss_max_salt(label)
    res = pks.openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub(pks, label), "-in", dg,
                      "-sigfile", sig, *pss, "-pkeyopt", f"rsa_pss_saltlen:{expected}", via=None)
    assert "Signature Verified Successfully" in res.out
    wrong = expected - 1
    pks.openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub(pks, label), "-in", dg, "-sigfile",
                sig, *pss, "-pkeyopt", f"rsa_pss_saltlen:{wrong}", via=None, check=1)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", PROVIDER_KEYS)
def test_verify_with_the_keystore_key(pks, tmp_path, msg, label, via):
    """The provider's own verify paths, against signatures made without it."""
    sig = tmp_path / "sig"
    if label in EDDSA_KEYS:
        pks.openssl("pkeyutl", "-sign", "-inkey", f"sealhsm:{label}", "-rawin", "-in", msg, "-out",
                    sig, via=via)
        verify = ["pkeyutl", "-verify", "-inkey", f"sealhsm:{label}", "-rawin", "-in", msg,
                  "-sigfile", sig]
    else:
        pks.openssl("dgst", "-sha256", "-sign", f"sealhsm:{label}", "-out", sig, msg, via=via)
        verify = ["dgst", "-sha256", "-prverify", f"sealhsm:{label}", "-signature", sig, msg]
    res = pks.openssl(*verify, via=via)
    assert "Verified" in res.out
    msg.write_bytes(MSG + b"!")
    pks.openssl(*verify, via=via, check=1)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", PROVIDER_KEYS)
def test_pkey_pubout_equals_sealhsm_pubkey(pks, label, via):
    res = pks.openssl("pkey", "-in", f"sealhsm:{label}", "-pubout", via=via)
    assert res.out == pub(pks, label).read_text()
    # as a public key: -pubin asks the store for one, type=public names one
    for uri in (f"sealhsm:{label}", f"sealhsm:object={label};type=public"):
        res = pks.openssl("pkey", "-pubin", "-in", uri, "-pubout", via=via)
        assert res.out == pub(pks, label).read_text()


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", PROVIDER_KEYS)
def test_key_reference_file_works_as_a_key_file(pks, tmp_path, msg, label, via):
    keyref = tmp_path / "key.ref"
    pks.sealhsm("keyref", label, "--out", keyref)
    res = pks.openssl("pkey", "-in", keyref, "-pubout", via=via)
    assert res.out == pub(pks, label).read_text()
    sig = tmp_path / "sig"
    if label in EDDSA_KEYS:
        pks.openssl("pkeyutl", "-sign", "-inkey", keyref, "-rawin", "-in", msg, "-out", sig,
                    via=via)
        res = pks.openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub(pks, label), "-rawin",
                          "-in", msg, "-sigfile", sig, via=None)
    else:
        pks.openssl("dgst", "-sha256", "-sign", keyref, "-out", sig, msg, via=via)
        res = pks.openssl("dgst", "-sha256", "-verify", pub(pks, label), "-signature", sig, msg,
                          via=None)
    assert "Verified" in res.out


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", PROVIDER_KEYS)
def test_private_key_is_never_written(pks, tmp_path, label, via):
    for outform in ("PEM", "DER"):
        out = tmp_path / f"k.{outform}"
        res = pks.openssl("pkey", "-in", f"sealhsm:{label}", "-outform", outform, "-out", out,
                          via=via, check=None)
        assert res.rc != 0, res
        data = out.read_bytes() if out.exists() else b""
        assert b"PRIVATE" not in data
        # whatever was written is no key stock openssl can read
        if data:
            pks.openssl("pkey", "-inform", outform, "-in", out, "-noout", via=None, check=1)
    res = pks.openssl("pkey", "-in", f"sealhsm:{label}", "-text", "-noout", via=via)
    assert f"sealhsm key '{label}'" in res.out
    assert "the private key stays there" in res.out
    for private in ("priv:", "privateExponent", "prime1", "Private-Key"):
        assert private not in res.out


@pytest.mark.parametrize("via", VIAS)
def test_storeutl_lists_key_and_certificates(ks, tmp_path, via):
    ks.keygen("signer", "ec:P-256")
    cert = tmp_path / "signer.pem"
    ks.openssl("req", "-new", "-x509", "-key", "sealhsm:signer", "-subj", "/CN=signer", "-out",
               cert, via=via)
    ks.sealhsm("cert", "import", "signer", cert, so=True)

    res = ks.openssl("storeutl", "sealhsm:signer", via=via)
    assert "0: Pkey" in res.out and "1: Certificate" in res.out and "Total found: 2" in res.out
    res = ks.openssl("storeutl", "-certs", "-noout", "sealhsm:signer", via=via)
    assert "0: Certificate" in res.out and "Total found: 1" in res.out
    res = ks.openssl("storeutl", "-noout", "sealhsm:object=signer;type=cert", via=via)
    assert "0: Certificate" in res.out and "Total found: 1" in res.out
    res = ks.openssl("storeutl", "-noout", "sealhsm:object=signer;type=public", via=via)
    assert "0: Public key" in res.out and "Total found: 1" in res.out
    key_id = ks.sealhsm("show", "signer", "--json").out.split('"id"')[1].split('"')[1]
    res = ks.openssl("storeutl", "-keys", "-noout", f"sealhsm:id={key_id}", via=via)
    assert "0: Pkey" in res.out and "Total found: 1" in res.out
    # the stored certificate is what cms -signer reads
    msg = tmp_path / "msg"
    msg.write_bytes(MSG)
    ks.openssl("cms", "-sign", "-in", msg, "-signer", "sealhsm:signer", "-inkey",
               "sealhsm:signer", "-out", tmp_path / "sig.p7", via=via)
    ks.openssl("cms", "-verify", "-in", tmp_path / "sig.p7", "-CAfile", cert, "-content", msg,
               "-out", tmp_path / "content", via=None)


def test_every_signature_is_audited(ks, tmp_path):
    ks.keygen("audited", "ec:P-256")
    msg = tmp_path / "msg"
    msg.write_bytes(MSG)
    for via in VIAS:
        ks.openssl("dgst", "-sha256", "-sign", "sealhsm:audited", "-out", tmp_path / via, msg,
                   via=via)
    records = ks.sealhsm("audit", "export", "--format", "jsonl").out.splitlines()
    signs = [r for r in records if '"op":"sign"' in r.replace(" ", "")]
    assert len(signs) == 2
    for r in signs:
        assert '"label":"audited"' in r.replace(" ", "")
        assert '"program":"openssl"' in r.replace(" ", "")
        # the digest openssl computed through the provider is what was signed
        assert f'"tbs_hash":"{hashlib.sha256(MSG).hexdigest()}"' in r.replace(" ", "")
