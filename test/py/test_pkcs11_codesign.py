# SPDX-License-Identifier: Apache-2.0
"""Code signing through sealhsm-pkcs11.so with stock tools (issue 13): Java's
jarsigner over SunPKCS11 signs a jar, and osslsigncode over libp11's PKCS#11 engine
(-pkcs11module) signs a PE file. The verifiers are independent of the module:
`jarsigner -verify -strict` against a truststore holding only the test CA, openssl
cms on the jar's signature block, and `osslsigncode verify`.

The key's certificate is issued by a throwaway CA and stored with `sealhsm cert
import` (leaf and CA), as a code-signing team would after its key ceremony. The
keystore holds no EdDSA key: libp11 0.4.12 (Debian 12) gives up enumerating a
token's keys when it meets one (README: PKCS#11 module, client limits).
"""
import shutil
import zipfile

import pytest

from conftest import FAST_KDF, SEALHSM, USER_PIN, Keystore, audit_records, base_env, run
from test_pkcs11 import MODULE, client_env
from test_provider_authenticode import minimal_pe32

ENGINE = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
needs = pytest.mark.skipif


@pytest.fixture(scope="module")
def cs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("p11cs")
    k = Keystore(tmp / "ks", tmp)
    run([SEALHSM, "init", "--label", "codesign", *FAST_KDF], env=k.env(so=True), check=0)
    k.keygen("release", "rsa:3072", "--digests", "sha256,sha384")
    ca_key, ca = tmp / "ca.key", tmp / "ca.pem"
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", ca_key, "-subj", "/CN=sealhsm test CA", "-days", "3650",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", ca], check=0)
    pub = tmp / "release.pub.pem"
    k.sealhsm("pubkey", "release", "--out", pub)
    ext = tmp / "ext.cnf"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=codeSigning\n")
    leaf = tmp / "release.pem"
    run(["openssl", "x509", "-new", "-subj", "/CN=Example Release Signing", "-force_pubkey",
         pub, "-CA", ca, "-CAkey", ca_key, "-days", "1000", "-sha256", "-extfile", ext,
         "-out", leaf], check=0)
    k.sealhsm("cert", "import", "release", leaf, ca, so=True)
    k.ca, k.leaf = ca, leaf
    return k


@needs(shutil.which("jarsigner") is None, reason="no JDK")
def test_jarsigner_signs_a_jar_through_sunpkcs11(cs, tmp_path):
    src = tmp_path / "app.jar"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: test\r\n\r\n")
        z.writestr("com/example/Hello.class", b"\xca\xfe\xba\xbe" + bytes(64))
        z.writestr("README.txt", "release artifact\n")
    cfg = tmp_path / "sealhsm-p11.cfg"
    cfg.write_text(f"name = sealhsm\nlibrary = {MODULE}\nslotListIndex = 0\n")
    signed = tmp_path / "app-signed.jar"
    before = len(audit_records(cs))
    env = client_env(cs, pin=False)
    res = run(["jarsigner", "-keystore", "NONE", "-storetype", "PKCS11", "-providerClass",
               "sun.security.pkcs11.SunPKCS11", "-providerArg", cfg, "-storepass", USER_PIN,
               "-sigalg", "SHA256withRSA", "-digestalg", "SHA-256", "-signedjar", signed, src,
               "release"], env=env, check=0, timeout=300)
    assert "jar signed." in res.out
    recs = [r for r in audit_records(cs)[before:] if r["op"] == "sign"]
    assert len(recs) == 1 and recs[0]["outcome"] == "ok" and recs[0]["program"] == "jarsigner"

    trust = tmp_path / "trust.p12"
    run(["keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", cs.ca, "-keystore",
         trust, "-storepass", "changeit", "-storetype", "PKCS12"], env=base_env(), check=0,
         timeout=300)
    res = run(["jarsigner", "-verify", "-strict", "-keystore", trust, "-storepass", "changeit",
               signed], env=base_env(), check=0, timeout=300)
    assert "jar verified." in res.out and "Error" not in res.out

    # the signature block, checked by openssl against the CA alone
    with zipfile.ZipFile(signed) as z:
        (tmp_path / "RELEASE.RSA").write_bytes(z.read("META-INF/RELEASE.RSA"))
        (tmp_path / "RELEASE.SF").write_bytes(z.read("META-INF/RELEASE.SF"))
    res = run(["openssl", "cms", "-verify", "-inform", "DER", "-in", tmp_path / "RELEASE.RSA",
               "-content", tmp_path / "RELEASE.SF", "-binary", "-CAfile", cs.ca, "-purpose",
               "any", "-out", "/dev/null"], check=0)
    assert "Verification successful" in res.err

    # a changed entry breaks it
    tampered = tmp_path / "tampered.jar"
    with zipfile.ZipFile(signed) as zin, zipfile.ZipFile(tampered, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, data + b"!" if item.filename == "README.txt" else data)
    res = run(["jarsigner", "-verify", "-strict", "-keystore", trust, "-storepass", "changeit",
               tampered], env=base_env(), check=None, timeout=300)
    assert res.rc != 0 and "jar verified." not in res.out


@needs(shutil.which("osslsigncode") is None, reason="no osslsigncode")
@pytest.mark.parametrize("md", ["sha256", "sha384"])
def test_osslsigncode_pkcs11module_signs_a_pe(cs, tmp_path, md):
    exe = tmp_path / "tiny.exe"
    exe.write_bytes(minimal_pe32())
    signed = tmp_path / "signed.exe"
    before = len(audit_records(cs))
    res = run(["osslsigncode", "sign", "-pkcs11engine", ENGINE, "-pkcs11module", MODULE,
               "-certs", cs.leaf, "-key", "pkcs11:token=codesign;object=release;type=private",
               "-pass", USER_PIN, "-h", md, "-n", "sealhsm test", "-in", exe, "-out", signed],
              env=client_env(cs, pin=False), check=0)
    assert "Succeeded" in res.out
    recs = [r for r in audit_records(cs)[before:] if r["op"] == "sign"]
    assert [(r["outcome"], r["digest"]) for r in recs] == [("ok", md)]
    assert recs[0]["program"] == "osslsigncode"

    res = run(["osslsigncode", "verify", "-in", signed, "-CAfile", cs.ca], env=base_env(),
              check=0)
    assert "Signature verification: ok" in res.out
    assert f"Message digest algorithm  : {md.upper()}" in res.out

    tampered = bytearray(signed.read_bytes())
    tampered[0x200] ^= 0xFF
    bad = tmp_path / "tampered.exe"
    bad.write_bytes(bytes(tampered))
    res = run(["osslsigncode", "verify", "-in", bad, "-CAfile", cs.ca], env=base_env(),
              check=None)
    assert res.rc != 0 and "Signature verification: ok" not in res.out


def test_osslsigncode_digest_outside_policy_is_refused(cs, tmp_path):
    exe = tmp_path / "tiny.exe"
    exe.write_bytes(minimal_pe32())
    before = len(audit_records(cs))
    res = run(["osslsigncode", "sign", "-pkcs11engine", ENGINE, "-pkcs11module", MODULE,
               "-certs", cs.leaf, "-key", "pkcs11:object=release;type=private", "-pass",
               USER_PIN, "-h", "sha512", "-in", exe, "-out", tmp_path / "s.exe"],
              env=client_env(cs, pin=False), check=None)
    assert res.rc != 0 and not (tmp_path / "s.exe").exists()
    recs = [r for r in audit_records(cs)[before:] if r["op"] == "sign"]
    assert [(r["outcome"], r["digest"]) for r in recs] == [("denied", "sha512")]
