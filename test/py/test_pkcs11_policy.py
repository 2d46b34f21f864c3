# SPDX-License-Identifier: Apache-2.0
"""sealhsm-pkcs11.so return codes, driven directly (p11drive.py over ctypes): every
C_Sign passes the keystore's policy and audit gate (a refusal is
CKR_FUNCTION_REJECTED plus a denied audit record), PIN failures are counted and
lock, private key material never leaves as an attribute, the token refuses every
write, and the module works across fork() and from several threads. The tests
taking `srv` also run with the module on a sealhsmd serving the keystore.
"""
import hashlib
import json
import sys
from pathlib import Path

import pytest

from conftest import FAST_KDF, SEALHSM, SO_PIN, USER_PIN, Daemon, Keystore, audit_records, run
from test_pkcs11 import MODULE, client_env

DRIVER = Path(__file__).with_name("p11drive.py")
KEY_PIN = "key-pin-2222"
DIGESTINFO = {"sha1": "3021300906052b0e03021a05000414",
              "sha256": "3031300d060960864801650304020105000420"}


def drive(ks, steps, pin=False):
    res = run([sys.executable, DRIVER, MODULE, json.dumps(steps)], env=client_env(ks, pin=pin),
              check=0)
    return json.loads(res.out), res.err


def login(pin=USER_PIN):
    return {"op": "login", "pin": pin}


def sha(name, data=b"artifact"):
    return hashlib.new(name, data).hexdigest()


@pytest.fixture(scope="module")
def pks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("p11pol")
    k = Keystore(tmp / "ks", tmp)
    run([SEALHSM, "init", *FAST_KDF], env=k.env(so=True), check=0)
    k.keygen("p256", "ec:P-256")
    k.keygen("p384only", "ec:P-384", "--digests", "sha384")
    k.keygen("rsa384only", "rsa:2048", "--digests", "sha384")
    k.keygen("rsa", "rsa:2048")
    for mode in ("embedded", "daemon"):
        k.keygen(f"two-{mode}", "ec:P-256", "--max-signatures", "2")
    k.keygen("off", "ec:P-256")
    k.keygen("prodkey", "ec:P-256", "--env", "prod")
    k.sealhsm("disable", "off", "--reason", "suspended", so=True)
    k.sealhsm("keygen", "pinned", "--type", "ec:P-256", "--key-pin", so=True,
              SEALHSM_KEY_PIN=KEY_PIN)
    keyfile = tmp / "imported.pem"
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", keyfile], check=0)
    k.sealhsm("import", "imported", "--in", keyfile, so=True)
    k.ids = {r["label"]: r["id"] for r in json.loads(k.sealhsm("list", "--json").out)}
    k.sock = None
    return k


@pytest.fixture(scope="module", params=["embedded", "daemon"])
def srv(request, pks):
    """The keystore of pks as a test in each mode reaches it: itself (embedded), or
    through a sealhsmd serving it (.sock); .mode names which."""
    k = Keystore(pks.path, pks.tmp)
    k.ids, k.mode, k.sock = pks.ids, request.param, None
    if k.mode == "embedded":
        yield k
        return
    d = Daemon(pks).start()
    k.sock = d.sock
    try:
        yield k
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()


def last_sign_record(ks):
    return [r for r in audit_records(ks) if r["op"] == "sign"][-1]


REFUSALS = [
    # (key, step, the digest the denied record names)
    ("p384only", {"mech": "ECDSA", "data": sha("sha256")}, "sha256"),
    ("rsa384only", {"mech": "SHA256_RSA_PKCS", "data": b"artifact".hex()}, "sha256"),
    ("rsa", {"mech": "RSA_PKCS", "data": DIGESTINFO["sha1"] + sha("sha1")}, "sha1"),
    ("off", {"mech": "ECDSA_SHA256", "data": b"artifact".hex()}, "sha256"),
]


@pytest.mark.parametrize("label,step,digest", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_policy_refusal_is_function_rejected_and_audited(srv, label, step, digest):
    out, err = drive(srv, [login(), dict(step, op="sign", id=srv.ids[label])])
    assert out[1]["rv"] == "CKR_FUNCTION_REJECTED" and out[1]["sig"] is None
    assert f"policy: key {label}" in err or f"policy: key '{label}'" in err, err
    rec = last_sign_record(srv)
    assert rec["outcome"] == "denied" and rec["label"] == label and rec["digest"] == digest
    assert rec["program"].startswith("python")


def test_allowed_digest_of_a_restricted_key_signs(srv):
    out, _ = drive(srv, [login(), {"op": "sign", "mech": "ECDSA", "id": srv.ids["p384only"],
                                   "data": sha("sha384")}])
    assert out[1]["rv"] == "CKR_OK" and len(out[1]["sig"]) == 2 * 96
    assert last_sign_record(srv)["outcome"] == "ok"


def test_third_signature_of_max_signatures_2_is_rejected(srv):
    label = f"two-{srv.mode}"
    step = {"op": "sign", "mech": "ECDSA_SHA256", "id": srv.ids[label], "data": "00"}
    out, _ = drive(srv, [login(), step, step, step])
    assert [r["rv"] for r in out[1:]] == ["CKR_OK", "CKR_OK", "CKR_FUNCTION_REJECTED"]
    recs = [r for r in audit_records(srv) if r["op"] == "sign" and r["label"] == label]
    assert [r["outcome"] for r in recs] == ["ok", "ok", "denied"]


def test_raw_mechanisms_check_their_input(srv):
    out, _ = drive(srv, [
        login(),
        {"op": "sign", "mech": "ECDSA", "id": srv.ids["p256"], "data": sha("sha1")},
        {"op": "sign", "mech": "RSA_PKCS", "id": srv.ids["rsa"], "data": "00" * 35},
        {"op": "sign", "mech": "RSA_PKCS_PSS", "id": srv.ids["rsa"], "data": sha("sha256"),
         "pss": ["sha384", "sha384", 48]},
        {"op": "sign", "mech": "ECDSA_SHA256", "id": srv.ids["rsa"], "data": "00"},
        {"op": "sign", "mech": "RSA_PKCS_PSS", "id": srv.ids["rsa"], "data": sha("sha256"),
         "pss": ["sha256", "sha256", 32]},
        {"op": "sign", "mech": "RSA_PKCS_PSS", "id": srv.ids["rsa"], "data": sha("sha256")},
        {"op": "sign", "mech": "SHA256_RSA_PKCS_PSS", "id": srv.ids["rsa"], "data": "00",
         "pss": ["sha384", "sha384", 48]},
        {"op": "sign", "mech": "EDDSA", "id": srv.ids["p256"], "data": "00"},
    ])
    assert [r["rv"] for r in out[1:]] == [
        "CKR_DATA_LEN_RANGE", "CKR_DATA_INVALID", "CKR_DATA_LEN_RANGE",
        "CKR_KEY_TYPE_INCONSISTENT", "CKR_OK", "CKR_MECHANISM_PARAM_INVALID",
        "CKR_MECHANISM_PARAM_INVALID", "CKR_KEY_TYPE_INCONSISTENT"]


def test_verify_with_the_public_key(pks):
    """C_Verify checks with the key's public half, without a login; SHA-1 signatures do
    not verify, whatever their bytes."""
    data = b"verify me".hex()
    out, _ = drive(pks, [login(), {"op": "sign", "mech": "ECDSA_SHA256", "id": pks.ids["p256"],
                                   "data": data},
                         {"op": "sign", "mech": "SHA256_RSA_PKCS", "id": pks.ids["rsa"],
                          "data": data}])
    ec, rsa = out[1]["sig"], out[2]["sig"]
    bad = ("00" if ec[:2] != "00" else "01") + ec[2:]
    di = DIGESTINFO["sha1"] + sha("sha1")
    out, _ = drive(pks, [
        {"op": "verify", "mech": "ECDSA_SHA256", "id": pks.ids["p256"], "data": data, "sig": ec},
        {"op": "verify", "mech": "ECDSA_SHA256", "id": pks.ids["p256"], "data": data, "sig": bad},
        {"op": "verify", "mech": "ECDSA_SHA256", "id": pks.ids["p256"], "data": data + "00",
         "sig": ec},
        {"op": "verify", "mech": "ECDSA_SHA256", "id": pks.ids["p256"], "data": data,
         "sig": ec[:-2]},
        {"op": "verify", "mech": "SHA256_RSA_PKCS", "id": pks.ids["rsa"], "data": data,
         "sig": rsa},
        {"op": "verify", "mech": "RSA_PKCS", "id": pks.ids["rsa"], "data": di, "sig": rsa},
    ], pin=True)  # no login: the public key objects, readable with the PIN in the environment
    assert [r["rv"] for r in out] == [
        "CKR_OK", "CKR_SIGNATURE_INVALID", "CKR_SIGNATURE_INVALID", "CKR_SIGNATURE_LEN_RANGE",
        "CKR_OK", "CKR_SIGNATURE_INVALID"]


def test_multipart_equals_single_part(pks):
    data = (b"0123456789" * 300).hex()
    out, _ = drive(pks, [
        login(),
        {"op": "sign", "mech": "SHA256_RSA_PKCS", "id": pks.ids["rsa"], "data": data},
        {"op": "sign", "mech": "SHA256_RSA_PKCS", "id": pks.ids["rsa"], "data": data,
         "parts": [1, 1000, 0, 1999]},
    ])
    assert out[1]["rv"] == out[2]["rv"] == "CKR_OK"
    assert out[1]["sig"] == out[2]["sig"]  # PKCS#1 v1.5 is deterministic


def test_not_logged_in_cannot_sign(pks):
    out, _ = drive(pks, [{"op": "find", "cls": "private"},
                         {"op": "sign", "mech": "ECDSA_SHA256", "id": pks.ids["p256"],
                          "data": "00"}], pin=True)
    assert out[0]["n"] == 0 and out[1]["rv"] == "no key"


def test_key_pin_is_a_context_specific_login(pks):
    step = {"op": "sign", "mech": "ECDSA_SHA256", "id": pks.ids["pinned"], "data": "00"}
    out, _ = drive(pks, [login(), {"op": "attrs", "cls": "private", "id": pks.ids["pinned"],
                                   "attrs": ["ALWAYS_AUTHENTICATE"]},
                         step, dict(step, pin="wrong"), dict(step, pin=KEY_PIN)])
    assert out[1]["values"]["ALWAYS_AUTHENTICATE"] == "01"
    assert [r["rv"] for r in out[2:]] == ["CKR_USER_NOT_LOGGED_IN", "CKR_PIN_INCORRECT",
                                           "CKR_OK"]


SENSITIVE = ["VALUE", "PRIVATE_EXPONENT", "PRIME_1", "PRIME_2", "EXPONENT_1", "COEFFICIENT"]


def test_private_key_material_is_sensitive(srv):
    out, _ = drive(srv, [
        login(),
        {"op": "attrs", "cls": "private", "id": srv.ids["rsa"],
         "attrs": SENSITIVE + ["SENSITIVE", "EXTRACTABLE", "NEVER_EXTRACTABLE", "SIGN",
                               "MODULUS", "PUBLIC_EXPONENT", "ALWAYS_AUTHENTICATE"]},
        {"op": "attrs", "cls": "private", "id": srv.ids["p256"], "attrs": ["VALUE"]},
        {"op": "attrs", "cls": "private", "id": srv.ids["imported"],
         "attrs": ["NEVER_EXTRACTABLE", "LOCAL"]},
    ])
    rsa = out[1]
    assert rsa["rv"] == "CKR_ATTRIBUTE_SENSITIVE"
    for a in SENSITIVE:
        assert rsa["lens"][a] is None and a not in rsa["values"]
    v = rsa["values"]
    assert (v["SENSITIVE"], v["EXTRACTABLE"], v["NEVER_EXTRACTABLE"], v["SIGN"],
            v["ALWAYS_AUTHENTICATE"]) == ("01", "00", "01", "01", "00")
    pem = run(["openssl", "pkey", "-pubin", "-noout", "-text"],
              input=srv.sealhsm("pubkey", "rsa").out, check=0).out
    assert "Exponent: 65537" in pem and v["PUBLIC_EXPONENT"] == "010001"
    assert out[2]["rv"] == "CKR_ATTRIBUTE_SENSITIVE" and out[2]["lens"]["VALUE"] is None
    assert out[3]["values"] == {"NEVER_EXTRACTABLE": "00", "LOCAL": "00"}


@pytest.mark.parametrize("what,rv", [
    ("generate", "CKR_TOKEN_WRITE_PROTECTED"), ("create", "CKR_TOKEN_WRITE_PROTECTED"),
    ("destroy", "CKR_TOKEN_WRITE_PROTECTED"), ("setattr", "CKR_TOKEN_WRITE_PROTECTED"),
    ("derive", "CKR_TOKEN_WRITE_PROTECTED"), ("initpin", "CKR_TOKEN_WRITE_PROTECTED"),
    ("encrypt", "CKR_FUNCTION_NOT_SUPPORTED"), ("decrypt", "CKR_FUNCTION_NOT_SUPPORTED"),
    ("wrap", "CKR_FUNCTION_NOT_SUPPORTED")])
def test_token_refuses_key_management(srv, what, rv):
    before = json.loads(srv.sealhsm("list", "--json").out)
    out, _ = drive(srv, [login(), {"op": "refuse", "what": what}])
    assert out[1]["rv"] == rv
    assert json.loads(srv.sealhsm("list", "--json").out) == before


def test_wrong_pin_counted_then_locked(tmp_path):
    k = Keystore(tmp_path / "ks", tmp_path)
    run([SEALHSM, "init", "--max-pin-tries", "3", *FAST_KDF], env=k.env(so=True), check=0)
    k.keygen("k", "ec:P-256")
    out, err = drive(k, [login("wrong-1"), login("wrong-2")])
    assert [r["rv"] for r in out] == ["CKR_PIN_INCORRECT", "CKR_PIN_INCORRECT"]
    assert "(2 tries left)" in err and "(1 tries left)" in err, err
    # the attempt that uses the last try locks the role; then even the right PIN is refused
    out, err = drive(k, [login("wrong-3"), login(USER_PIN)])
    assert [r["rv"] for r in out] == ["CKR_PIN_LOCKED", "CKR_PIN_LOCKED"]
    # counted like every login: the tool is locked out too, until the SO resets the PIN
    assert k.sealhsm("list", check=4).rc == 4
    k.sealhsm("pin", "reset-user", so=True, user=False, SEALHSM_NEW_PIN=USER_PIN)
    recs = [r for r in audit_records(k) if r["op"] == "unlock" and r["outcome"] != "ok"]
    assert len(recs) >= 4 and all(r["program"].startswith("python") for r in recs[:4]), recs
    out, _ = drive(k, [login(USER_PIN)])
    assert out[0]["rv"] == "CKR_OK"


def raw_to_der(sig):
    """r || s -> DER ECDSA-Sig-Value, for stock openssl."""
    n = len(sig) // 2

    def integer(b):
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80:
            b = b"\0" + b
        return b"\x02" + bytes([len(b)]) + b

    body = integer(sig[:n]) + integer(sig[n:])
    return b"\x30" + bytes([len(body)]) + body


def ecdsa_verifies(ks, label, sig_hex, data, tmp_path):
    pub = tmp_path / f"{label}.pem"
    pub.write_text(ks.sealhsm("pubkey", label).out)
    sig = tmp_path / "sig.der"
    sig.write_bytes(raw_to_der(bytes.fromhex(sig_hex)))
    msg = tmp_path / "msg"
    msg.write_bytes(data)
    return run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, msg],
               check=None).rc == 0


def test_fork_child_initializes_and_signs(srv, tmp_path):
    step = {"op": "sign", "mech": "ECDSA_SHA256", "id": srv.ids["p256"],
            "data": b"forked".hex()}
    out, _ = drive(srv, [login(), step, {"op": "fork", "steps": [step, login(), step]}, step])
    child = out[2]["child"]
    assert child["init"] == "CKR_OK"
    # the child is a new application: on a keystore it is not logged in until it logs
    # in itself; through the daemon (its own connection) it needs no login
    assert child["steps"][0]["rv"] == ("no key" if srv.mode == "embedded" else "CKR_OK")
    assert child["steps"][1]["rv"] == "CKR_OK" and child["steps"][2]["rv"] == "CKR_OK"
    assert out[1]["rv"] == out[3]["rv"] == "CKR_OK"  # the parent goes on
    for sig in (out[1]["sig"], child["steps"][2]["sig"], out[3]["sig"]):
        assert ecdsa_verifies(srv, "p256", sig, b"forked", tmp_path)


def test_threads_sign_concurrently(srv, tmp_path):
    before = len([r for r in audit_records(srv) if r["op"] == "sign"])
    out, _ = drive(srv, [login(), {"op": "threads", "n": 4, "count": 5, "mech": "ECDSA_SHA256",
                                   "id": srv.ids["p256"], "data": b"threads".hex()}])
    results = out[1]["results"]
    assert len(results) == 20 and all(r["rv"] == "CKR_OK" for r in results)
    assert ecdsa_verifies(srv, "p256", results[7]["sig"], b"threads", tmp_path)
    after = [r for r in audit_records(srv) if r["op"] == "sign"]
    assert len(after) - before == 20


def test_logout_and_login_while_threads_sign(pks):
    """Sessions of other threads lose the user's functions at C_Logout and get them back
    at C_Login; nothing deadlocks, and every signature handed out has its audit record."""
    before = len([r for r in audit_records(pks) if r["op"] == "sign"])
    out, _ = drive(pks, [login(), {"op": "race", "n": 3, "count": 5, "mech": "ECDSA_SHA256",
                                   "id": pks.ids["p256"], "data": b"race".hex(),
                                   "cycles": 4, "pin": USER_PIN}])
    race = out[1]
    assert set(race["logins"]) == {"CKR_OK"}
    allowed = {"CKR_OK", "no key", "CKR_USER_NOT_LOGGED_IN", "CKR_OPERATION_NOT_INITIALIZED",
               "CKR_KEY_HANDLE_INVALID"}
    assert set(race["during"]) <= allowed, race["during"]
    assert race["after"] == ["CKR_OK"] * 15  # logged in again: every session signs
    ok = race["during"].count("CKR_OK") + 15
    signs = [r for r in audit_records(pks) if r["op"] == "sign"][before:]
    assert len([r for r in signs if r["outcome"] == "ok"]) == ok


def test_config_file_names_the_keystore_and_environment(pks, tmp_path):
    conf = tmp_path / "sealhsm-pkcs11.conf"
    env = client_env(pks, pin=False)
    del env["SEALHSM_KEYSTORE"]
    env["SEALHSM_PKCS11_CONF"] = str(conf)
    sign = {"op": "sign", "mech": "ECDSA_SHA256", "id": pks.ids["prodkey"], "data": "00"}

    def steps(text, *steps):
        conf.write_text(text)
        res = run([sys.executable, DRIVER, MODULE, json.dumps(list(steps))], env=env, check=0)
        return json.loads(res.out)

    out = steps(f"# where the keys are\nkeystore = {pks.path}\n", login(),
                {"op": "find", "cls": "private"}, sign)
    assert out[1]["n"] == len(pks.ids)
    assert out[2]["rv"] == "CKR_FUNCTION_REJECTED"  # a prod key, and the default is dev
    out = steps(f"keystore = {pks.path}\nenvironment = prod   # the prod signer\n", login(), sign)
    assert out[1]["rv"] == "CKR_OK"
    conf.write_text("keystore = /nonexistent\nbogus = 1\n")
    res = run([sys.executable, DRIVER, MODULE, "[]"], env=env, check=1)
    assert "line 2: unknown setting 'bogus'" in res.err
    conf.write_text(f"keystore = {pks.path}\nenvironment = staging\n")
    res = run([sys.executable, DRIVER, MODULE, "[]"], env=env, check=1)
    assert "environment 'staging' is not dev, test or prod" in res.err


@pytest.mark.parametrize("text,why", [
    # a second value would be a guess at which one was meant
    ("keystore = {ks}\nenvironment = prod\nenvironment = dev\n",
     "line 3: environment given twice"),
    ("keystore = {ks}\nkeystore = /elsewhere\n", "line 2: keystore given twice"),
    # a NUL would hide the rest of its line from every check
    ("keystore = {ks}\nenvironment = dev\0prod\n", "line 2: NUL byte in the line"),
    ("keystore = {ks}\n" + "# " + "x" * 5000 + "\n", "line 2: line too long"),
    ("keystore {ks}\n", "line 1: expected NAME = VALUE"),
], ids=["twice", "keystore-twice", "nul", "long", "no-equals"])
def test_config_file_refusals(pks, tmp_path, text, why):
    """The module refuses at C_Initialize, one line on stderr naming the file and line."""
    conf = tmp_path / "sealhsm-pkcs11.conf"
    conf.write_bytes(text.format(ks=pks.path).encode())
    env = client_env(pks, pin=False)
    del env["SEALHSM_KEYSTORE"]
    env["SEALHSM_PKCS11_CONF"] = str(conf)
    res = run([sys.executable, DRIVER, MODULE, "[]"], env=env, check=1)
    assert f"sealhsm-pkcs11: config {conf} {why}" in res.err, res.err
    assert "CKR_GENERAL_ERROR" in res.err or "CKR_GENERAL_ERROR" in res.out


def test_so_login_is_not_offered(pks):
    out, _ = drive(pks, [{"op": "login", "pin": SO_PIN, "user": "so"}, login(), login()])
    assert [r["rv"] for r in out] == ["CKR_USER_TYPE_INVALID", "CKR_OK",
                                      "CKR_USER_ALREADY_LOGGED_IN"]
