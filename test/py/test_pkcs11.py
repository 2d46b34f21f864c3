# SPDX-License-Identifier: Apache-2.0
"""sealhsm-pkcs11.so through stock PKCS#11 clients (issue 13): OpenSC's pkcs11-tool,
GnuTLS's p11tool and OpenSSH (ssh-keygen -D, ssh-agent with ssh-add -s, ssh-keygen -Y
sign/verify, the path git's gpg.format=ssh takes). Every test runs in both modes:
the module on the keystore (embedded) and the module on a sealhsmd serving it
(daemon: no keystore and no PIN in the client's environment).

Every signature is verified by an independent verifier (stock openssl, ssh-keygen)
against the public key that `sealhsm pubkey` exports, never against what the module
itself reports.
"""
import hashlib
import json
import shutil
import subprocess
import time

import pytest

from conftest import (ASAN, BUILD, FAST_KDF, SEALHSM, USER_PIN, Daemon, Keystore,
                      _asan_preload, audit_records, base_env, mdb_records, mdb_rewrite, run)

MODULE = BUILD / "pkcs11" / "sealhsm-pkcs11.so"
TOKEN_LABEL = "Release Signing"
# label -> `sealhsm keygen --type`
KEYS = {"p256": "ec:P-256", "p384": "ec:P-384", "p521": "ec:P-521", "rsa2048": "rsa:2048",
        "ed25519": "ed25519", "ed448": "ed448"}
CERT_KEYS = ("p256", "rsa2048")
MSG = b"sealhsm pkcs11 test message\n"


def client_env(ks, pin=True, **extra):
    """The environment of a stock client loading the module: the keystore (and the
    user PIN unless pin=False) in embedded mode, only the socket in daemon mode; the
    ASan runtime is preloaded when the module is instrumented."""
    sock = getattr(ks, "sock", None)
    e = base_env(SEALHSM_DAEMON=sock, **extra) if sock else ks.env(user=pin, **extra)
    if ASAN:
        e["LD_PRELOAD"] = _asan_preload()
        e["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0:exitcode=99"
    return e


def tool(ks, *args, pin=True, login=True, check=0, env=None):
    """pkcs11-tool on the module; --login with the user PIN unless login=False."""
    argv = ["pkcs11-tool", "--module", MODULE, *args]
    if login:
        argv += ["--login", "--pin", USER_PIN]
    return run(argv, env=env or client_env(ks, pin=pin), check=check, binary=True)


@pytest.fixture(scope="module", params=["embedded", "daemon"])
def p11(request, tmp_path_factory):
    """A keystore labelled TOKEN_LABEL with one key of each kind, certificates from a test
    CA stored with CERT_KEYS, and each key's public key as LABEL.pub.pem; in daemon mode
    served by a sealhsmd (.sock)."""
    tmp = tmp_path_factory.mktemp("p11")
    k = Keystore(tmp / "ks", tmp)
    run([SEALHSM, "init", "--label", TOKEN_LABEL, *FAST_KDF], env=k.env(so=True), check=0)
    for label, type_ in KEYS.items():
        k.keygen(label, type_)
        (tmp / f"{label}.pub.pem").write_text(k.sealhsm("pubkey", label).out)
    ca_key, ca = tmp / "ca.key", tmp / "ca.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", ca_key, "-subj", "/CN=sealhsm test CA", "-days", "30", "-out", ca],
        check=0)
    for label in CERT_KEYS:
        # issued by a plain test CA over the key's exported public key
        cert = tmp / f"{label}.crt"
        run(["openssl", "x509", "-new", "-subj", f"/CN=sealhsm {label}/O=Example",
             "-force_pubkey", tmp / f"{label}.pub.pem", "-CA", ca, "-CAkey", ca_key, "-days",
             "30", "-sha256", "-out", cert], check=0)
        k.sealhsm("cert", "import", label, cert, so=True)
    k.ids = {label: json.loads(k.sealhsm("show", label, "--json").out)["id"] for label in KEYS}
    k.mode, k.sock = request.param, None
    if k.mode == "embedded":
        yield k
        return
    d = Daemon(k).start()
    k.sock = d.sock
    try:
        yield k
    finally:
        try:
            d.stop()
        finally:
            d.cleanup()


def pub(p11, label):
    return p11.tmp / f"{label}.pub.pem"


def test_token_info_label_and_serial(p11):
    info = json.loads(p11.sealhsm("info", "--json").out)
    assert info["label"] == TOKEN_LABEL and len(info["id"]) == 32
    assert info["format_version"] >= 1 and info["kdf"]["memory_kib"] == 1024
    assert info["officer_quorum"] == 0
    out = tool(p11, "--list-token-slots", login=False).text
    assert f"token label        : {TOKEN_LABEL}" in out
    assert f"serial num         : {info['id'][:16]}" in out
    assert "readonly" in out and "token initialized" in out and "PIN initialized" in out
    # embedded: the user PIN opens the keystore; daemon: the daemon decides by the
    # caller's credentials, nothing to type (CKF_PROTECTED_AUTHENTICATION_PATH)
    if p11.mode == "embedded":
        assert "login required" in out and "PIN pad" not in out
    else:
        assert "PIN pad present" in out and "login required" not in out


def test_sealhsm_info_text_and_label_rules(p11, tmp_path):
    out = p11.sealhsm("info").out
    assert f"label: {TOKEN_LABEL}" in out and "kdf: argon2id m=1024KiB t=1 p=1" in out
    k = Keystore(tmp_path / "ks2", tmp_path)
    res = run([SEALHSM, "init", "--label", "x" * 33, *FAST_KDF], env=k.env(so=True), check=1)
    assert "label" in res.err and not k.path.exists()
    run([SEALHSM, "init", *FAST_KDF], env=k.env(so=True), check=0)
    assert json.loads(k.sealhsm("info", "--json").out)["label"] == "sealhsm"
    assert k.sealhsm("info", env=k.env(user=False), check=3).rc == 3


@pytest.mark.parametrize("bad", [b"tab\there", b"x" * 33, b""])
def test_a_corrupt_keystore_label_is_an_integrity_error(tmp_path, bad):
    k = Keystore(tmp_path / "ks", tmp_path)
    run([SEALHSM, "init", "--label", "ok", *FAST_KDF], env=k.env(so=True), check=0)
    recs = [(key, bad if key == b"label" else v) for key, v in mdb_records(k.path, "meta")]
    assert any(key == b"label" for key, _ in recs)
    mdb_rewrite(k.path, "meta", recs)
    res = k.sealhsm("info", check=6)
    assert "keystore label is corrupt" in res.err


def objects(text):
    """pkcs11-tool -O output -> [(kind, label, id)]."""
    out, kind, label = [], None, None
    for line in text.splitlines():
        if line.endswith("Object; " + line.split("Object; ")[-1]) and "Object;" in line:
            kind = line.split(" Object;")[0]
        elif line.startswith("Certificate Object"):
            kind = "Certificate"
        elif line.strip().startswith("label:"):
            label = line.split(":", 1)[1].strip()
        elif line.strip().startswith("ID:") and kind:
            out.append((kind, label, line.split(":", 1)[1].strip()))
            kind = None
    return out


def test_objects_match_sealhsm_show(p11):
    listed = objects(tool(p11, "--list-objects").text)
    for label in KEYS:
        key_id = p11.ids[label]
        assert ("Private Key", label, key_id) in listed, listed
        assert ("Public Key", label, key_id) in listed, listed
        assert (("Certificate", label, key_id) in listed) == (label in CERT_KEYS), listed
    assert len(listed) == 2 * len(KEYS) + len(CERT_KEYS)


def test_public_objects_before_login_private_after(p11):
    listed = objects(tool(p11, "--list-objects", login=False).text)
    if p11.mode == "daemon":
        # no login to wait for: the daemon decides by the caller's credentials
        assert len(listed) == 2 * len(KEYS) + len(CERT_KEYS)
        return
    # no login: public keys and certificates only (the PIN in the environment lets
    # the embedded keystore authenticate its records)
    assert {k for k, _, _ in listed} == {"Public Key", "Certificate"}
    assert len(listed) == len(KEYS) + len(CERT_KEYS)
    # no PIN at all: nothing can be authenticated, so nothing is shown
    listed = objects(tool(p11, "--list-objects", login=False, pin=False).text)
    assert listed == []


SIGN_CASES = [
    # (label, pkcs11-tool mechanism, input kind, verifier)
    ("p256", "ECDSA", "sha256", "ecdsa"),
    ("p256", "ECDSA-SHA256", "msg", "ecdsa"),
    ("p384", "ECDSA-SHA384", "msg", "ecdsa384"),
    ("rsa2048", "RSA-PKCS", "digestinfo", "pkcs1"),
    ("rsa2048", "SHA256-RSA-PKCS", "msg", "pkcs1"),
    ("rsa2048", "SHA256-RSA-PKCS-PSS", "msg", "pss"),
    ("p521", "ECDSA-SHA512", "msg", "ecdsa512"),
    ("ed25519", "EDDSA", "msg", "eddsa"),
    ("ed448", "EDDSA", "msg", "eddsa"),
]
DIGESTINFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")


def verify(p11, label, kind, sig, data):
    """Stock openssl, no module, no provider."""
    key = pub(p11, label)
    if kind.startswith("ecdsa"):
        md = {"ecdsa384": "-sha384", "ecdsa512": "-sha512"}.get(kind, "-sha256")
        res = run(["openssl", "dgst", md, "-verify", key, "-signature", sig, data], check=None)
    elif kind == "pkcs1":
        res = run(["openssl", "dgst", "-sha256", "-verify", key, "-signature", sig, data],
                  check=None)
    elif kind == "pss":
        res = run(["openssl", "dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                   "rsa_pss_saltlen:-1", "-verify", key, "-signature", sig, data], check=None)
    else:
        res = run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin", "-in",
                   data, "-sigfile", sig], check=None)
    return res.rc == 0 and ("Verified OK" in res.out or "Verified Successfully" in res.out)


# pkcs11-tool signs inputs over 1 024 bytes with C_SignUpdate/C_SignFinal: every
# mechanism where the module hashes is also run multi-part
CASES = [(*c, len(MSG)) for c in SIGN_CASES] + [
    (*c, 5000) for c in SIGN_CASES if c[2] == "msg" and c[1] != "EDDSA"]


@pytest.mark.parametrize("label,mech,inp,kind,size", CASES,
                         ids=[f"{c[1]}-{c[0]}-{c[4]}" for c in CASES])
def test_sign_verifies_with_openssl(p11, tmp_path, label, mech, inp, kind, size):
    data = tmp_path / "data"
    data.write_bytes((MSG * (size // len(MSG) + 1))[:size])
    body = data.read_bytes()
    md = {"ecdsa384": hashlib.sha384, "ecdsa512": hashlib.sha512}.get(kind, hashlib.sha256)
    tbs = tmp_path / "tbs"
    tbs.write_bytes({"msg": body, "sha256": md(body).digest(),
                     "digestinfo": DIGESTINFO_SHA256 + md(body).digest()}[inp])
    sig = tmp_path / "sig"
    before = len(audit_records(p11))
    extra = ["--signature-format", "openssl"] if kind.startswith("ecdsa") else []
    tool(p11, "--sign", "-m", mech, "--id", p11.ids[label], "-i", tbs, "-o", sig, *extra)
    assert verify(p11, label, kind, sig, data)
    # the module's own C_Verify agrees (pkcs11-tool --verify, the public key object)
    res = tool(p11, "--verify", "-m", mech, "--id", p11.ids[label], "-i", tbs,
               "--signature-file", sig, *extra, login=False, check=None)
    assert "Signature is valid" in res.text, res
    data.write_bytes(body + b"!")
    assert not verify(p11, label, kind, sig, data)
    # one audit record per signature, naming the calling program and the digest
    rec = [r for r in audit_records(p11)[before:] if r["op"] == "sign"]
    assert len(rec) == 1 and rec[0]["outcome"] == "ok" and rec[0]["label"] == label
    assert rec[0]["program"] == "pkcs11-tool"
    assert rec[0]["digest"] == ("none" if mech == "EDDSA" else md().name)


def test_pkcs11_tool_self_test(p11):
    """OpenSC's --test: the four signing entry points agree (C_Sign, multi-part,
    length queries); its fixed SHA-1 DigestInfo is then refused like any SHA-1
    signature, and the refusal is audited."""
    before = len(audit_records(p11))
    res = tool(p11, "--test", check=None)
    out = res.text
    assert "all 4 signature functions seem to work" in out, out
    assert "ERR:" not in out, out
    assert "seems to be OK" in out  # C_GenerateRandom
    assert "sha1 is never allowed" in res.errtext
    denied = [r for r in audit_records(p11)[before:] if r["outcome"] == "denied"]
    assert [r["digest"] for r in denied] == ["sha1"], denied


def test_p11tool_list_all_agrees(p11):
    env = client_env(p11, GNUTLS_PIN=USER_PIN)
    out = run(["p11tool", "--provider", MODULE, "--list-all", "--login"], env=env,
              check=0).out
    blocks = out.split("Object ")[1:]
    seen = {}
    for b in blocks:
        typ = next(l.split(":", 1)[1].strip() for l in b.splitlines() if "Type:" in l)
        lab = next(l.split(":", 1)[1].strip() for l in b.splitlines() if "Label:" in l)
        oid = next(l.split(":", 1)[1].strip() for l in b.splitlines() if "ID:" in l)
        seen.setdefault(lab, []).append(typ)
        assert oid.replace(":", "") == p11.ids[lab]
        assert "token=Release%20Signing" in b and "manufacturer=sealhsm" in b
    for label in KEYS:
        kinds = " | ".join(seen[label])
        assert "Private key" in kinds and "Public key" in kinds
        assert ("X.509 Certificate" in kinds) == (label in CERT_KEYS), kinds
    assert "EC/ECDSA-SECP256R1" in " ".join(seen["p256"])
    assert "RSA-2048" in " ".join(seen["rsa2048"])
    assert "Ed25519" in " ".join(seen["ed25519"])


# -- OpenSSH -----------------------------------------------------------------------------

def ssh_pub_of(p11, label):
    """The OpenSSH public key of LABEL, converted by ssh-keygen from `sealhsm pubkey`."""
    return run(["ssh-keygen", "-i", "-m", "PKCS8", "-f", pub(p11, label)], check=0).out.split()


def test_ssh_keygen_D_prints_the_keys(p11):
    res = run(["ssh-keygen", "-D", MODULE], env=client_env(p11), check=0)
    lines = [l.split() for l in res.out.splitlines() if l.strip()]
    by_label = {l[2]: l[:2] for l in lines}
    for label in ("p256", "p384", "p521", "rsa2048"):  # OpenSSH 9.2 skips EdDSA PKCS#11 keys
        assert by_label[label] == ssh_pub_of(p11, label)[:2]


@pytest.fixture
def agent(p11, tmp_path):
    """A private ssh-agent allowed to load the module, with its keys added by
    `ssh-add -s` (the PIN answered by an askpass program)."""
    sock = tmp_path / "agent.sock"
    env = client_env(p11, pin=False)
    agent_bin = "ssh-agent"
    if ASAN:
        # Debian's ssh-agent is setgid: the loader drops LD_PRELOAD for it and its
        # PKCS#11 helper, so the instrumented module would load without its runtime
        agent_bin = tmp_path / "ssh-agent"
        shutil.copyfile(shutil.which("ssh-agent"), agent_bin)
        agent_bin.chmod(0o755)
    proc = subprocess.Popen([agent_bin, "-D", "-a", sock, "-P", f"{MODULE.parent}/*"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        if sock.exists():
            break
        time.sleep(0.05)
    askpass = tmp_path / "askpass"
    askpass.write_text(f"#!/bin/sh\necho '{USER_PIN}'\n")
    askpass.chmod(0o700)
    env = dict(env, SSH_AUTH_SOCK=str(sock), SSH_ASKPASS=str(askpass),
               SSH_ASKPASS_REQUIRE="force", DISPLAY="none")
    try:
        run(["ssh-add", "-s", MODULE], env=env, check=0)
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("label", ["p256", "rsa2048"])
def test_ssh_agent_sign_and_verify(p11, agent, tmp_path, label):
    listed = run(["ssh-add", "-L"], env=agent, check=0).out
    key = ssh_pub_of(p11, label)
    assert f"{key[0]} {key[1]}" in listed
    pubfile = tmp_path / "key.pub"
    pubfile.write_text(f"{key[0]} {key[1]} {label}\n")
    data = tmp_path / "commit.txt"
    data.write_bytes(b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\ninitial\n")
    before = len(audit_records(p11))
    run(["ssh-keygen", "-Y", "sign", "-n", "git", "-f", pubfile, data], env=agent, check=0)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"dev@example.org {key[0]} {key[1]}\n")
    res = run(["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "dev@example.org", "-n", "git",
               "-s", f"{data}.sig"], input=data.read_bytes(), check=0)
    assert "Good \"git\" signature" in res.out
    res = run(["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "dev@example.org", "-n", "git",
               "-s", f"{data}.sig"], input=data.read_bytes() + b"x", check=255)
    recs = [r for r in audit_records(p11)[before:] if r["op"] == "sign"]
    assert len(recs) == 1 and recs[0]["outcome"] == "ok" and recs[0]["label"] == label
    assert recs[0]["program"].startswith("ssh-pkcs11-help")


def test_installed_where_p11kit_looks(tmp_path):
    """cmake --install puts the module in p11-kit's module directory and its module
    file in p11-kit's configuration directory; the module exports one symbol."""
    def var(name):
        return subprocess.run(["pkg-config", f"--variable={name}", "p11-kit-1"],
                              capture_output=True, text=True, check=True).stdout.strip()
    dest = tmp_path / "root"
    run(["cmake", "--install", BUILD, "--component", "Unspecified"],
        env=base_env(DESTDIR=dest), check=0)
    so = dest / var("p11_module_path").lstrip("/") / "sealhsm-pkcs11.so"
    conf = dest / var("p11_module_configs").lstrip("/") / "sealhsm.module"
    assert so.is_file() and conf.is_file()
    lines = [l for l in conf.read_text().splitlines() if l and not l.startswith("#")]
    assert "module: sealhsm-pkcs11.so" in lines
    syms = run(["nm", "-D", "--defined-only", so], check=0).out.split()
    assert [s for s in syms if s.startswith("C_")] == ["C_GetFunctionList"]
