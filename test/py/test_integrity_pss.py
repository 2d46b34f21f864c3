# SPDX-License-Identifier: Apache-2.0
"""RSA-PSS salt lengths in OpenSSL's numeric spellings (issue 14, item 11):
`-sigopt rsa_pss_saltlen:-1` (digest length), `-2` (auto: the maximum when signing),
`-3` (maximum) and byte counts, as stock OpenSSL takes them. Each signature made
through the provider verifies with stock openssl and only the public key, at
exactly the salt length the spelling stands for."""
import pytest

from conftest import RSA_KEYS, VIAS, openssl_errors


def max_salt(label, hlen=32):
    return (int(label[3:]) - 1 + 7) // 8 - hlen - 2


def pub(pks, label):
    return pks.tmp / f"{label}.pub.pem"


def sign_dgst(pks, tmp_path, label, saltlen, via="cli", check=0):
    data = tmp_path / "artifact.txt"
    data.write_bytes(b"release artifact for PSS\n")
    sig = tmp_path / f"sig{saltlen}"
    res = pks.openssl("dgst", "-sha256", "-sign", f"sealhsm:{label}", "-sigopt",
                      "rsa_padding_mode:pss", "-sigopt", f"rsa_pss_saltlen:{saltlen}", "-out",
                      sig, data, via=via, check=check)
    return res, sig, data


def verify(pks, label, sig, data, saltlen, check=0):
    return pks.openssl("dgst", "-sha256", "-verify", pub(pks, label), "-signature", sig,
                       "-sigopt", "rsa_padding_mode:pss", "-sigopt", f"rsa_pss_saltlen:{saltlen}",
                       data, via=None, check=check)


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("saltlen", ["-1", "-2", "-3", "0", "20"])
@pytest.mark.parametrize("label", RSA_KEYS)
def test_numeric_pss_salt_lengths_sign_and_verify(pks, tmp_path, label, saltlen, via):
    _, sig, data = sign_dgst(pks, tmp_path, label, saltlen, via=via)
    expected = {"-1": 32, "-2": max_salt(label), "-3": max_salt(label)}.get(saltlen)
    expected = int(saltlen) if expected is None else expected
    # stock openssl, no provider: the exact length, and auto-detection
    res = verify(pks, label, sig, data, expected)
    assert "Verified OK" in res.out
    assert "Verified OK" in verify(pks, label, sig, data, "-2").out
    assert "Verified OK" in verify(pks, label, sig, data, "auto").out
    # and not at another length: the salt really is `expected` bytes
    verify(pks, label, sig, data, expected + 1, check=1)


@pytest.mark.parametrize("saltlen", ["-4", "-100", "abc", "1x", "70000"])
def test_bad_pss_salt_lengths_refused(pks, tmp_path, saltlen):
    res, sig, _ = sign_dgst(pks, tmp_path, "rsa2048", saltlen, check=None)
    assert res.rc != 0
    assert not sig.exists() or sig.stat().st_size == 0


def test_salt_longer_than_the_key_allows_is_refused_by_name(pks, tmp_path):
    res, sig, _ = sign_dgst(pks, tmp_path, "rsa2048", str(max_salt("rsa2048") + 1), check=None)
    assert res.rc != 0
    assert any("PSS salt length" in line for line in openssl_errors(res.err)), res.err
    assert not sig.exists() or sig.stat().st_size == 0
