# SPDX-License-Identifier: Apache-2.0
"""X.509 with keystore keys: CSRs, self-signed and CA-issued certificates made by
stock `openssl req`, `x509` and `ca`, checked by stock `openssl verify` (issue 3)."""
import re

import pytest

from conftest import PROVIDER_KEYS, RSA_KEYS, VIAS

# every test runs with the keystore in the process and through sealhsmd
pytestmark = pytest.mark.usefixtures("sealhsm_mode")


def software_csr(pks, tmp_path, cn="leaf"):
    """A CSR for a software key, made without the provider."""
    csr = tmp_path / f"{cn}.csr"
    pks.openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", tmp_path / f"{cn}.key", "-subj", f"/CN={cn}", "-out", csr, via=None)
    return csr


def ca_cert(pks, tmp_path, label, via):
    ca = tmp_path / "ca.pem"
    pks.openssl("req", "-new", "-x509", "-key", f"sealhsm:{label}", "-subj",
                f"/CN=sealhsm test CA {label}", "-days", "30", "-addext",
                "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
                "-out", ca, via=via)
    return ca


def verify_ok(pks, ca, cert):
    res = pks.openssl("verify", "-CAfile", ca, cert, via=None)
    assert res.out.strip() == f"{cert}: OK"


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", PROVIDER_KEYS)
def test_req_new_makes_a_valid_csr(pks, tmp_path, label, via):
    csr = tmp_path / "req.csr"
    pks.openssl("req", "-new", "-key", f"sealhsm:{label}", "-subj", f"/CN={label}", "-out", csr,
                via=via)
    res = pks.openssl("req", "-in", csr, "-verify", "-noout", via=None)
    assert "verify OK" in res.out + res.err
    res = pks.openssl("req", "-in", csr, "-pubkey", "-noout", via=None)
    assert res.out == (pks.tmp / f"{label}.pub.pem").read_text()


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", PROVIDER_KEYS)
def test_req_x509_self_signed_verifies(pks, tmp_path, label, via):
    ca = ca_cert(pks, tmp_path, label, via)
    verify_ok(pks, ca, ca)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("saltlen", ["digest", "max"])
@pytest.mark.parametrize("label", RSA_KEYS)
def test_req_x509_rsa_pss(pks, tmp_path, label, saltlen, via):
    """RSA-PSS certificates: X.509 takes the AlgorithmIdentifier from the provider."""
    cert = tmp_path / "pss.pem"
    pks.openssl("req", "-new", "-x509", "-key", f"sealhsm:{label}", "-subj", "/CN=pss", "-sha384",
                "-sigopt", "rsa_padding_mode:pss", "-sigopt", f"rsa_pss_saltlen:{saltlen}",
                "-out", cert, via=via)
    verify_ok(pks, cert, cert)
    text = pks.openssl("x509", "-in", cert, "-noout", "-text", via=None).out
    assert "rsassaPss" in text and "Hash Algorithm: sha384" in text
    assert "Mask Algorithm: mgf1 with sha384" in text
    salt = 48 if saltlen == "digest" else (int(label[3:]) - 1 + 7) // 8 - 48 - 2
    lengths = re.findall(r"Salt Length: 0x([0-9A-F]+)", text)
    assert lengths and all(int(v, 16) == salt for v in lengths), lengths


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", PROVIDER_KEYS)
def test_x509_req_signed_by_keystore_ca(pks, tmp_path, label, via):
    ca = ca_cert(pks, tmp_path, label, via)
    csr = software_csr(pks, tmp_path)
    leaf = tmp_path / "leaf.pem"
    pks.openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", f"sealhsm:{label}",
                "-CAcreateserial", "-days", "7", "-out", leaf, via=via)
    verify_ok(pks, ca, leaf)


def ca_config(tmp_path):
    d = tmp_path / "ca"
    (d / "newcerts").mkdir(parents=True)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    cnf = tmp_path / "ca.cnf"
    cnf.write_text(f"""[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {d}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = default
default_days = 30
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
""")
    return cnf


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", PROVIDER_KEYS)
def test_openssl_ca_with_keystore_key(pks, tmp_path, label, via):
    ca = ca_cert(pks, tmp_path, label, via)
    csr = software_csr(pks, tmp_path)
    leaf = tmp_path / "leaf.pem"
    pks.openssl("ca", "-batch", "-config", ca_config(tmp_path), "-cert", ca, "-keyfile",
                f"sealhsm:{label}", "-in", csr, "-out", leaf, "-notext", via=via)
    verify_ok(pks, ca, leaf)
    # a certificate from another issuer does not verify against this CA
    (tmp_path / "other").mkdir()
    other = ca_cert(pks, tmp_path / "other", "p256" if label != "p256" else "rsa2048", via)
    res = pks.openssl("verify", "-CAfile", other, leaf, via=None, check=2)
    assert "unable to get local issuer certificate" in res.out + res.err
