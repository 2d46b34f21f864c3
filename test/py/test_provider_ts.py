# SPDX-License-Identifier: Apache-2.0
"""RFC 3161 time stamps: `openssl ts -reply` signs with a keystore key named by a
key-reference PEM file (ts reads key files with PEM_read_bio_PrivateKey), and
stock `openssl ts -verify` accepts the response (issue 3; docs/reference.md, Key-reference files)."""
import pytest

from conftest import HASH_KEYS, VIAS

# every test runs with the keystore in the process and through sealhsmd
pytestmark = pytest.mark.usefixtures("sealhsm_mode")

TS_CONF = """[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = {serial}
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ess_cert_id_alg = sha256
"""


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("label", HASH_KEYS)
def test_ts_reply_with_keyref(pks, tmp_path, label, via):
    tsa = tmp_path / "tsa.pem"
    pks.openssl("req", "-new", "-x509", "-key", f"sealhsm:{label}", "-subj", f"/CN=TSA {label}",
                "-days", "30", "-addext", "extendedKeyUsage=critical,timeStamping", "-out", tsa,
                via=via)
    keyref = tmp_path / "tsa.keyref"
    pks.sealhsm("keyref", label, "--out", keyref)
    assert keyref.read_text().startswith("-----BEGIN SEALHSM KEY REF-----")
    (tmp_path / "serial").write_text("01\n")
    cnf = tmp_path / "ts.cnf"
    cnf.write_text(TS_CONF.format(serial=tmp_path / "serial"))
    data = tmp_path / "data.bin"
    data.write_bytes(b"document to time-stamp\n" * 10)
    query = tmp_path / "q.tsq"
    pks.openssl("ts", "-query", "-data", data, "-sha384", "-cert", "-out", query, via=None)

    reply = tmp_path / "r.tsr"
    pks.openssl("ts", "-reply", "-config", cnf, "-queryfile", query, "-inkey", keyref, "-signer",
                tsa, "-out", reply, via=via)
    res = pks.openssl("ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", tsa,
                      via=None)
    assert "Verification: OK" in res.out
    res = pks.openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", tsa, via=None)
    assert "Verification: OK" in res.out
    data.write_bytes(b"another document\n")
    res = pks.openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", tsa, via=None,
                      check=1)
    assert "Verification: FAILED" in res.out
