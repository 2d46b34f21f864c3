# SPDX-License-Identifier: Apache-2.0
"""bench/sign_bench, the one loop every benchmark table is made with (docs/bench.md),
still measures what it claims: its PKCS#11 backend signs with SoftHSMv2 (the peer of
every table) for each algorithm and the signature verifies with OpenSSL and the PEM key
that was imported; --processes sums processes that sign through sealhsmd. A few
signatures each: a smoke test, not a benchmark."""
import os
import re
import shutil

import pytest

from conftest import BUILD, OPENSSL, PROVIDER_DIR, base_env, run

SIGN_BENCH = BUILD / "bench" / "sign_bench"
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split())


@pytest.mark.skipif(not os.path.exists(SOFTHSM) or shutil.which("softhsm2-util") is None,
                    reason="softhsm2 not installed")
def test_pkcs11_backend_signs_with_softhsm(tmp_path):
    conf = tmp_path / "softhsm2.conf"
    (tmp_path / "tokens").mkdir()
    conf.write_text(f"directories.tokendir = {tmp_path}/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    env = base_env(SOFTHSM2_CONF=conf)
    run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", "1234",
         "--so-pin", "5678"], env=env, check=0)
    keys = {"p256": ("ecdsa", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
            "ed25519": ("eddsa", ["-algorithm", "ED25519"]),
            "rsa": ("rsa-pss", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])}
    for i, (label, (_, gen)) in enumerate(keys.items()):
        pem = tmp_path / f"{label}.pem"
        run([OPENSSL, "genpkey", *gen, "-out", pem], check=0)
        run(["softhsm2-util", "--import", pem, "--token", "bench", "--label", label, "--id",
             f"{i + 1:02x}", "--pin", "1234"], env=env, check=0)
    for label, (alg, _) in keys.items():
        res = run([SIGN_BENCH, "--pkcs11", SOFTHSM, "--token", "bench", "--pin", "1234", "--key",
                   label, "--alg", alg, "--count", "5", "--threads", "2", "--verify-key",
                   tmp_path / f"{label}.pem"], env=env, check=0, preload=True)
        f = fields(res.out)
        assert f["verify"] == "ok" and f["signatures"] == "10", res
    # a signature checked against another key fails: the check is real
    res = run([SIGN_BENCH, "--pkcs11", SOFTHSM, "--token", "bench", "--pin", "1234", "--key",
               "p256", "--alg", "ecdsa", "--count", "2", "--verify-key", tmp_path / "rsa.pem"],
              env=env, check=None, preload=True)
    assert res.rc != 0 and "verify=FAILED" in res.out, res
    res = run([SIGN_BENCH, "--pkcs11", SOFTHSM, "--token", "bench", "--pin", "0000", "--key",
               "p256", "--alg", "ecdsa", "--count", "1"], env=env, check=None, preload=True)
    assert res.rc != 0 and re.search(r"C_Login failed: CKR 0x", res.err), res


def test_processes_sign_through_the_daemon(ks, daemon_factory):
    ks.keygen("k", "ec:P-256")
    d = daemon_factory(ks).start()
    res = run([SIGN_BENCH, "--provider-path", PROVIDER_DIR, "--provider", "sealhsm", "--provider",
               "default", "--key", "sealhsm:k", "--alg", "ecdsa", "--count", "3", "--threads", "2",
               "--processes", "3"], env=base_env(SEALHSM_DAEMON=d.sock), check=0, preload=True)
    f = fields(res.out)
    assert f["verify"] == "ok" and f["signatures"] == "18" and f["processes"] == "3", res
    status = run([BUILD / "tools" / "sealhsm", "status", "--socket", d.sock, "--json"],
                 env=base_env(), check=0).out
    # 18 timed signatures and one untimed first signature per process
    assert '"signatures": 21' in status, status
