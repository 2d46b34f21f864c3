# SPDX-License-Identifier: Apache-2.0
"""CMS signatures with keystore keys (`openssl cms -sign -inkey sealhsm:...`),
verified by stock `openssl cms -verify` without the provider (issue 3). OpenSSL 3.0
has no CMS signing with EdDSA keys, so RSA and EC keys only."""
import pytest

from conftest import HASH_KEYS, VIAS

# every test runs with the keystore in the process and through sealhsmd
pytestmark = pytest.mark.usefixtures("sealhsm_mode")

CONTENT = b"release artefact 1.2.3\n" * 64


def signer_cert(pks, tmp_path, label, via):
    cert = tmp_path / "signer.pem"
    pks.openssl("req", "-new", "-x509", "-key", f"sealhsm:{label}", "-subj", f"/CN=cms {label}",
                "-days", "30", "-out", cert, via=via)
    return cert


def cms_verify(pks, tmp_path, sig, cert, content=None, check=0):
    args = ["cms", "-verify", "-in", sig, "-inform", "DER", "-CAfile", cert, "-binary",
            "-out", tmp_path / "verified.bin"]
    if content is not None:
        args += ["-content", content]
    return pks.openssl(*args, via=None, check=check)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("md", ["sha256", "sha384"])
@pytest.mark.parametrize("label", HASH_KEYS)
def test_cms_detached(pks, tmp_path, label, md, via):
    cert = signer_cert(pks, tmp_path, label, via)
    content = tmp_path / "content.bin"
    content.write_bytes(CONTENT)
    sig = tmp_path / "sig.der"
    pks.openssl("cms", "-sign", "-binary", "-in", content, "-signer", cert, "-inkey",
                f"sealhsm:{label}", "-md", md, "-outform", "DER", "-out", sig, via=via)
    res = cms_verify(pks, tmp_path, sig, cert, content)
    assert "Verification successful" in res.err
    printed = pks.openssl("cms", "-cmsout", "-print", "-in", sig, "-inform", "DER", via=None).out
    assert f"algorithm: {md}" in printed.lower()

    content.write_bytes(CONTENT[:-1] + b"?")
    res = cms_verify(pks, tmp_path, sig, cert, content, check=4)
    assert "Verification failure" in res.err


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("md", ["sha256", "sha384"])
@pytest.mark.parametrize("label", HASH_KEYS)
def test_cms_attached(pks, tmp_path, label, md, via):
    cert = signer_cert(pks, tmp_path, label, via)
    content = tmp_path / "content.bin"
    content.write_bytes(CONTENT)
    sig = tmp_path / "sig.der"
    pks.openssl("cms", "-sign", "-nodetach", "-binary", "-in", content, "-signer", cert,
                "-inkey", f"sealhsm:{label}", "-md", md, "-outform", "DER", "-out", sig, via=via)
    res = cms_verify(pks, tmp_path, sig, cert)
    assert "Verification successful" in res.err
    assert (tmp_path / "verified.bin").read_bytes() == CONTENT

    der = bytearray(sig.read_bytes())
    at = der.find(CONTENT[:64])
    assert at > 0
    der[at + 10] ^= 0x01
    sig.write_bytes(bytes(der))
    res = cms_verify(pks, tmp_path, sig, cert, check=4)
    assert "Verification failure" in res.err
