# SPDX-License-Identifier: Apache-2.0
"""How the provider fails (issue 3; docs/reference.md: Roles and PINs, Policy, Algorithms
and self-tests): bad URIs and a missing keystore give one clear error naming the URI or path; a wrong PIN gives no
signature and counts one try per process; PINs come from the provider's
pin-source, SEALHSM_PIN or the application's passphrase callback (-passin); policy
refusals read "sealhsm: policy:"; a failed self-test leaves the provider in an
error state where everything fails; a key reference only works with its keystore."""
import base64

import pytest

import conftest
from conftest import FAST_KDF, OPENSSL, SEALHSM, SO_PIN, USER_PIN, VIAS, Keystore, openssl_errors

# every test runs with the keystore in the process and through sealhsmd
pytestmark = pytest.mark.usefixtures("sealhsm_mode")

MSG = b"payload\n"

BAD_URIS = {
    "empty label": ("sealhsm:", "no key label or id"),
    "empty object": ("sealhsm:object=;type=private", "no key label or id"),
    "bad hex id": ("sealhsm:id=00112233445566778899aabbccddeezz", "id must be 32 hex digits"),
    "short id": ("sealhsm:id=0011", "id must be 32 hex digits"),
    "broken escape": ("sealhsm:code%2", "broken %-escape"),
    "encoded NUL": ("sealhsm:code%00signing", "broken %-escape"),
    "10 kB label": ("sealhsm:" + "L" * 10240, "label longer than 255 bytes"),
    "unknown attribute": ("sealhsm:object=p256;colour=blue", "unknown attribute"),
    "bad type": ("sealhsm:object=p256;type=secret", "type must be private, public or cert"),
}


def one_error(res, *needles):
    """Exit below 128 (no crash) and exactly one provider error naming the needles."""
    assert 0 < res.rc < 128, res
    errors = openssl_errors(res.errtext)
    assert len(errors) == 1, res.errtext
    for n in needles:
        assert str(n) in errors[0], (n, errors[0])
    return errors[0]


@pytest.fixture
def msg(tmp_path):
    p = tmp_path / "msg"
    p.write_bytes(MSG)
    return p


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("case", BAD_URIS)
def test_bad_uri_one_clear_error(pks, tmp_path, msg, case, via):
    uri, why = BAD_URIS[case]
    sig = tmp_path / "sig"
    res = pks.openssl("dgst", "-sha256", "-sign", uri, "-out", sig, msg, via=via, check=None)
    line = one_error(res, why, f"URI '{uri[:40]}")
    assert len(line) < 600
    assert not sig.exists() or sig.stat().st_size == 0


@pytest.mark.parametrize("via", VIAS)
def test_unknown_key_names_label_and_keystore(pks, msg, via):
    res = pks.openssl("pkey", "-in", "sealhsm:no-such-key", "-pubout", via=via, check=None)
    one_error(res, "no-such-key", pks.path)


@pytest.mark.parametrize("via", VIAS)
def test_missing_keystore_names_the_path(tmp_path, msg, via):
    missing = Keystore(tmp_path / "nowhere", tmp_path)
    res = missing.openssl("dgst", "-sha256", "-sign", "sealhsm:key", "-out", tmp_path / "sig", msg,
                          via=via, check=None)
    one_error(res, tmp_path / "nowhere", "does not exist")


def test_uri_keystore_overrides_the_configured_one(pks, tmp_path, msg):
    res = pks.openssl("pkey", "-in", f"sealhsm:p256;keystore={tmp_path}/elsewhere", "-pubout",
                      via="conf", check=None)
    one_error(res, f"{tmp_path}/elsewhere")
    # and to a real keystore, with %-escaped slashes
    escaped = str(pks.path).replace("/", "%2F")
    env = pks.env()
    env["SEALHSM_KEYSTORE"] = str(tmp_path / "elsewhere")
    res = pks.openssl("pkey", "-in", f"sealhsm:object=p256;keystore={escaped}", "-pubout",
                      env=env, via="cli")
    assert res.out == (pks.tmp / "p256.pub.pem").read_text()


def locked_keystore(tmp_path, tries=3):
    """A keystore whose user role locks after `tries` wrong PINs, with one key."""
    k = Keystore(tmp_path / "ks", tmp_path)
    conftest.run([SEALHSM, "init", *FAST_KDF, "--max-pin-tries", str(tries)],
                 env=k.env(so=True), check=0)
    k.keygen("k", "ec:P-256")
    return k


@pytest.mark.parametrize("via", VIAS)
def test_wrong_pin_no_signature_and_one_try_per_process(tmp_path, msg, via):
    k = locked_keystore(tmp_path)
    pin_file = tmp_path / "pin"
    # conf: the pin-source parameter (a file); cli: SEALHSM_PIN
    conf = k.conf(pin_source=f"file:{pin_file}") if via == "conf" else None

    def sign(pin, check):
        pin_file.write_text(pin + "\n")
        sig = tmp_path / "sig"
        sig.unlink(missing_ok=True)
        res = k.openssl("dgst", "-sha256", "-sign", "sealhsm:k", "-out", sig, msg, via=via,
                        conf=conf, env=k.env(user=False, SEALHSM_PIN=pin), check=None)
        signed = sig.exists() and sig.stat().st_size > 0
        assert signed == (res.rc == 0), res
        return res

    for left in (2, 1):
        one_error(sign("wrong-pin-000", None), "wrong PIN", f"{left} tries left")
    # two wrong tries of three: the right PIN still works, and resets the counter
    assert sign(USER_PIN, None).rc == 0
    for _ in range(3):
        assert sign("wrong-pin-000", None).rc != 0
    one_error(sign(USER_PIN, None), "locked")
    # the lock is the keystore's, not the provider's: the tool sees it too
    res = k.sealhsm("list", check=4)
    assert "locked" in res.err


@pytest.mark.parametrize("via", VIAS)
def test_pin_from_passin(pks, tmp_path, msg, via):
    """No pin-source and no SEALHSM_PIN: the application's passphrase callback."""
    conf = pks.conf(name="nopin.cnf", pin_source=None)
    env = pks.env(user=False)
    sig = tmp_path / "sig"
    pks.openssl("dgst", "-sha256", "-sign", "sealhsm:p256", "-passin", f"pass:{USER_PIN}", "-out",
                sig, msg, via=via, conf=conf, env=env)
    res = pks.openssl("dgst", "-sha256", "-verify", pks.tmp / "p256.pub.pem", "-signature", sig,
                      msg, via=None)
    assert "Verified OK" in res.out


@pytest.mark.embedded_only("a daemon's client needs no user PIN")
def test_no_pin_anywhere_is_a_clear_error(pks, tmp_path, msg):
    env = pks.env(user=False)
    if conftest.ASAN:
        env["LD_PRELOAD"] = conftest._asan_preload()
    res = conftest.run_no_tty([OPENSSL, "dgst", *pks.provider_args(), "-sha256", "-sign",
                               "sealhsm:p256", "-out", tmp_path / "sig", msg], env)
    one_error(res, "no PIN given", pks.path)


@pytest.mark.parametrize("via", VIAS)
def test_policy_refusal_reads_sealhsm_policy(ks, tmp_path, msg, via, sealhsm_mode):
    ks.keygen("release", "ec:P-256", "--env", "prod")
    sig = tmp_path / "sig"
    res = ks.openssl("dgst", "-sha256", "-sign", "sealhsm:release", "-out", sig, msg, via=via,
                     check=None)
    line = one_error(res, "sealhsm: policy:", "release")
    assert not sig.exists() or sig.stat().st_size == 0
    assert "policy denied" in line
    # the provider's environment parameter makes it a prod signer; through the daemon
    # only the daemon's --environment counts
    conf = ks.conf(name="prod.cnf", environment="prod")
    if sealhsm_mode == "daemon":
        res = ks.openssl("dgst", "-sha256", "-sign", "sealhsm:release", "-out", sig, msg,
                         via="conf", conf=conf, check=None)
        one_error(res, "sealhsm: policy:", "release", "configured for dev")
        return
    ks.openssl("dgst", "-sha256", "-sign", "sealhsm:release", "-out", sig, msg, via="conf",
               conf=conf)
    assert sig.stat().st_size > 0


@pytest.mark.parametrize("via", VIAS)
def test_bad_environment_is_an_error_state(pks, tmp_path, msg, via):
    conf = pks.conf(name="badenv.cnf", environment="production")
    env = pks.env(SEALHSM_ENVIRONMENT="production")
    res = pks.openssl("dgst", "-sha256", "-sign", "sealhsm:p256", "-out", tmp_path / "sig", msg,
                      via=via, conf=conf, env=env, check=None)
    one_error(res, "error state", "environment 'production' is not dev, test or prod")


@pytest.mark.parametrize("via", VIAS)
def test_selftest_failure_is_an_error_state(pks, tmp_path, msg, via):
    env = pks.env(SEALHSM_SELFTEST_CORRUPT="sha256")
    for args in (["dgst", "-sha256", "-sign", "sealhsm:rsa2048", "-out", tmp_path / "sig", msg],
                 ["pkey", "-in", "sealhsm:p256", "-pubout"],
                 ["storeutl", "-noout", "sealhsm:ed25519"]):
        res = pks.openssl(*args, via=via, env=env, check=None)
        assert "self-test 'sha256' failed" in res.err, (args, res)
        assert res.rc < 128
        assert "BEGIN PUBLIC KEY" not in res.out
    if via == "cli":
        res = pks.openssl("list", "-providers", "-verbose", via=via, env=env)
        sealhsm = res.out.split("sealhsm\n", 1)[1]
        assert "status: inactive" in sealhsm


def keyref_store_id(path):
    """The keystore id in a key-reference PEM: SEQUENCE { 1, OCTET STRING id, ... }."""
    der = base64.b64decode("".join(path.read_text().splitlines()[1:-1]))
    assert der[2:7] == bytes([0x02, 0x01, 0x01, 0x04, 0x10]), der.hex()
    return der[7:23].hex()


def test_keyref_of_another_keystore_names_both(pks, ks, tmp_path):
    """ts reads its key with PEM_read_bio_PrivateKey, so the key reference goes
    through the provider's decoder, configured here for another keystore."""
    keyref = tmp_path / "p256.keyref"
    pks.sealhsm("keyref", "p256", "--out", keyref)
    ks.keygen("local", "ec:P-256")
    local_ref = tmp_path / "local.keyref"
    ks.sealhsm("keyref", "local", "--out", local_ref)
    cert = tmp_path / "tsa.pem"
    ks.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", tmp_path / "soft.key", "-subj", "/CN=tsa", "-addext",
               "extendedKeyUsage=critical,timeStamping", "-out", cert, via=None)
    data = tmp_path / "data"
    data.write_bytes(MSG)
    query = tmp_path / "q.tsq"
    ks.openssl("ts", "-query", "-data", data, "-sha256", "-out", query, via=None)
    cnf = tmp_path / "ts.cnf"
    cnf.write_text("[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = serial\n"
                   "default_policy = 1.2.3.4\ndigests = sha256\n")
    res = ks.openssl("ts", "-reply", "-config", cnf, "-queryfile", query, "-inkey", keyref,
                     "-signer", cert, via="conf", check=None)
    assert 0 < res.rc < 128
    line = one_error(res, "key reference 'p256' is for keystore", keyref_store_id(keyref),
                     keyref_store_id(local_ref), ks.path)
    assert "another keystore" in line


def test_key_pin_sources(ks, tmp_path, msg):
    """A key with a usage PIN (docs/reference.md: Policy, PIN sources (provider)): the key-pin-source parameter, else the
    application's passphrase callback, else no signature."""
    key_pin = "key-pin-2222"
    ks.sealhsm("keygen", "guarded", "--type", "ec:P-256", "--key-pin", so=True,
               SEALHSM_KEY_PIN=key_pin)
    sig = tmp_path / "sig"
    conf = ks.conf(name="keypin.cnf", extra_lines=["key-pin-source = env:KEYPIN"])
    ks.openssl("dgst", "-sha256", "-sign", "sealhsm:guarded", "-out", sig, msg, via="conf",
               conf=conf, env=ks.env(KEYPIN=key_pin))
    res = ks.openssl("dgst", "-sha256", "-sign", "sealhsm:guarded", "-out", sig, msg, via="conf",
                     conf=conf, env=ks.env(KEYPIN="wrong-pin-22"), check=None)
    one_error(res, "sealhsm: policy:", "guarded", "key PIN")
    # user PIN from SEALHSM_PIN, so -passin answers the key's prompt
    ks.openssl("dgst", "-sha256", "-sign", "sealhsm:guarded", "-passin", f"pass:{key_pin}",
               "-out", sig, msg, via="cli")
    env = ks.env()
    if conftest.ASAN:
        env["LD_PRELOAD"] = conftest._asan_preload()
    res = conftest.run_no_tty([OPENSSL, "dgst", *ks.provider_args(), "-sha256", "-sign",
                               "sealhsm:guarded", "-out", sig, msg], env)
    one_error(res, "usage PIN of sealhsm key 'guarded'")
