# SPDX-License-Identifier: Apache-2.0
"""Keys, labels and what is said about them (issue 14): attestation only for active
keys (item 17), look-alike labels and key-reference files (item 18), validity
windows and certificate chains (item 20)."""
import pytest

from conftest import assert_fails


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
