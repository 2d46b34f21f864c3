# SPDX-License-Identifier: Apache-2.0
"""examples/ (issue 7): every example script runs on a fresh keystore in a temp dir
against this build, exits 0 and ends with its `OK: ...` line; then the test checks
the artifacts the script left in its work dir with stock openssl / osslsigncode
(no provider), so a script that printed OK without doing the work still fails.

The scripts get the build through SEALHSM (the tool) and SEALHSM_PROVIDER_DIR (the
directory of sealhsm.so), a work dir through WORK, SEALHSM_DEMO_FAST_KDF=1 to use
toy Argon2 parameters, and PYTHON = the interpreter running pytest. Under
SEALHSM_ASAN=1, openssl, osslsigncode and nginx are found through wrappers that
preload the ASan runtime (they load the instrumented provider)."""
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import conftest
from conftest import OPENSSL, PROVIDER_DIR, REPO, SEALHSM, base_env

EXAMPLES = REPO / "examples"
SCRIPT_TIMEOUT = 180

# every example script, by directory
SCRIPTS = {
    "01-openssl-cnf": "openssl-cnf.sh",
    "02-key-ceremony": "key-ceremony.sh",
    "03-codesign-pki": "codesign-pki.sh",
    "04-ci-release-signing": "ci-release-signing.sh",
    "05-authenticode": "authenticode.sh",
    "06-tls": ("s-server.sh", "nginx.sh"),
    "07-environments": "environments.sh",
    "08-compromise-drill": "compromise-drill.sh",
    "09-audit-forwarding": "audit-forwarding.sh",
    "10-signing-host": "signing-host.sh",
    "11-jarsigner-and-ssh": "jarsigner-and-ssh.sh",
}


def all_scripts():
    for d, names in SCRIPTS.items():
        for n in (names,) if isinstance(names, str) else names:
            yield EXAMPLES / d / n


class Example:
    def __init__(self, cp, work):
        self.rc = cp.returncode
        self.out = cp.stdout.decode(errors="replace")
        self.err = cp.stderr.decode(errors="replace")
        self.work = work

    def __repr__(self):
        return f"<rc={self.rc}\n--- stdout (tail)\n{self.out[-3000:]}\n--- stderr (tail)\n{self.err[-3000:]}>"

    @property
    def ok_line(self):
        lines = self.out.rstrip("\n").splitlines()
        return lines[-1] if lines else ""


def asan_shims(tmp_path):
    """A directory of wrappers that start openssl, osslsigncode and nginx with the ASan
    runtime preloaded, so they can load the instrumented provider; the rest of the
    script (bash, sed, python3) runs as usual."""
    d = tmp_path / "asan-bin"
    d.mkdir()
    # nginx never frees its configuration (SSL contexts included) before exiting
    for prog, opts in (("openssl", ""), ("osslsigncode", ""),
                       ("nginx", 'ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" '),
                       ("jarsigner", 'ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" ')):
        real = shutil.which(prog)
        if real is not None:
            w = d / prog
            w.write_text(f'#!/bin/sh\n{opts}LD_PRELOAD={conftest._asan_preload()} exec {real} "$@"\n')
            w.chmod(0o755)
    return d


def run_example(rel, tmp_path):
    """Runs examples/REL with this build's paths; asserts exit 0 and a final OK line."""
    work = tmp_path / "work"
    env = base_env(SEALHSM=SEALHSM, SEALHSM_PROVIDER_DIR=PROVIDER_DIR, WORK=work,
                   SEALHSM_DEMO_FAST_KDF=1, PYTHON=sys.executable,
                   SEALHSMD=conftest.BUILD / "daemon" / "sealhsmd")
    env["SEALHSM_PKCS11"] = str(conftest.BUILD / "pkcs11" / "sealhsm-pkcs11.so")
    if conftest.ASAN:
        env["PATH"] = f"{asan_shims(tmp_path)}:{env['PATH']}"
        # Debian's ssh-agent is setgid, so the loader drops LD_PRELOAD for its PKCS#11
        # helper: example 11 gets a plain copy started through a preloading wrapper
        agent = tmp_path / "asan-bin" / "ssh-agent.real"
        shutil.copyfile(shutil.which("ssh-agent"), agent)
        agent.chmod(0o755)
        env["SSH_AGENT"] = str(tmp_path / "asan-bin" / "ssh-agent")
        (tmp_path / "asan-bin" / "ssh-agent").write_text(
            f'#!/bin/sh\nASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" '
            f'LD_PRELOAD={conftest._asan_preload()} exec {agent} "$@"\n')
        (tmp_path / "asan-bin" / "ssh-agent").chmod(0o755)
    # a new session: no terminal to prompt on, so a missing PIN fails instead of hanging
    cp = subprocess.run(["bash", str(EXAMPLES / rel)], env=env, cwd=tmp_path,
                        stdin=subprocess.DEVNULL, capture_output=True, timeout=SCRIPT_TIMEOUT,
                        start_new_session=True)
    ex = Example(cp, work)
    assert "ERROR: AddressSanitizer" not in ex.err, ex
    assert "runtime error:" not in ex.err, ex
    assert ex.rc == 0, f"{rel} failed: {ex!r}"
    assert ex.ok_line.startswith("OK: "), f"{rel} did not end with an OK line: {ex!r}"
    return ex


def plain(*args, check=0, cwd=None):
    """Stock openssl without any provider or config."""
    env = base_env(OPENSSL_CONF="/dev/null")
    return conftest.run([OPENSSL, *args], env=env, check=check, cwd=cwd)


def tool(work, *args, keystore="keystore", check=0, pin="demo-user-pin-1111"):
    """The sealhsm tool on a keystore the example left, with its demo user PIN."""
    env = base_env(SEALHSM_KEYSTORE=work / keystore, SEALHSM_PIN=pin)
    return conftest.run([SEALHSM, *args], env=env, check=check)


def cert_days(pem):
    def when(opt):
        text = plain("x509", "-in", pem, "-noout", f"-{opt}").out.split("=", 1)[1].strip()
        return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y %Z")
    return (when("enddate") - when("startdate")).days


# -- the scripts themselves ---------------------------------------------------------------

def test_every_example_is_listed_and_well_formed():
    """Each script: bash shebang, SPDX line, header naming the seed practice and how to
    run it, strict mode, takes its paths from the environment, ends with the OK line;
    listed in examples/README.md; every example directory is covered here."""
    dirs = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert dirs == sorted(SCRIPTS), "examples/ and test_examples.SCRIPTS disagree"
    common = (EXAMPLES / "common.sh").read_text()
    for var in ("SEALHSM=${SEALHSM:-sealhsm}", "SEALHSM_PROVIDER_DIR=${SEALHSM_PROVIDER_DIR:-",
                "WORK=${WORK:-$(mktemp -d)}"):
        assert var in common, f"common.sh: {var} missing"
    readme = (EXAMPLES / "README.md").read_text()
    for script in all_scripts():
        text = script.read_text()
        rel = script.relative_to(EXAMPLES)
        assert text.startswith("#!/usr/bin/env bash\n# SPDX-License-Identifier: Apache-2.0\n"), rel
        assert "\nset -euo pipefail\n" in text, rel
        assert re.search(r"Seed practices?:", text), f"{rel}: no seed practice in the header"
        assert "# Run:" in text, f"{rel}: no run instructions"
        # the paths come from the environment through the shared setup in common.sh
        assert '\n. "$here/../common.sh"\n' in text, f"{rel}: does not source common.sh"
        assert re.search(r'\necho "OK: [^\n]*"\n$', text), f"{rel}: does not end with echo \"OK: ...\""
        assert str(rel) in readme, f"{rel} not in examples/README.md"
        assert os.access(script, os.X_OK), f"{rel} is not executable"
        conftest.run(["bash", "-n", script], check=0)


def test_openssl_cnf_documents_every_provider_parameter():
    """Example 1's openssl.cnf explains each parameter the provider reads (prov.c)."""
    src = (REPO / "provider" / "prov.c").read_text()
    body = src[src.index("static int read_config"):]
    body = body[:body.index("\n}\n")]
    params = re.findall(r'OSSL_PARAM_utf8_ptr\("([^"]+)"', body)
    assert {"keystore", "pin-source", "environment"} <= set(params), params
    cnf = (EXAMPLES / "01-openssl-cnf" / "openssl.cnf").read_text()
    for p in params:
        assert re.search(rf"^#? ?{re.escape(p)} = ", cnf, re.M), f"parameter {p} not in openssl.cnf"
        assert re.search(rf"^# {re.escape(p)}:", cnf, re.M), f"parameter {p} not explained"


# -- one test per example ------------------------------------------------------------------

def test_01_openssl_cnf(tmp_path):
    ex = run_example("01-openssl-cnf/openssl-cnf.sh", tmp_path)
    w = ex.work
    cnf = (w / "openssl.cnf").read_text()
    assert f"module = {PROVIDER_DIR}/sealhsm.so" in cnf
    assert f"pin-source = file:{w}/secrets/sealhsm-pin" in cnf
    assert "demo-user-pin" not in cnf  # the config names the PIN file, never the PIN
    assert re.search(r"sealhsm\n.*\n.*\n +status: active", (w / "providers.txt").read_text())
    plain("dgst", "-sha384", "-verify", w / "release.pub.pem", "-signature",
          w / "artifact.tar.sig", w / "artifact.tar")
    # signed through the config: the audit names openssl and the key
    recs = [json.loads(l) for l in tool(w, "audit", "export", "--format", "jsonl").out.splitlines()]
    assert any(r["op"] == "sign" and r["outcome"] == "ok" and r["label"] == "release"
               and r["program"] == "openssl" for r in recs)


def test_02_key_ceremony(tmp_path):
    ex = run_example("02-key-ceremony/key-ceremony.sh", tmp_path)
    w = ex.work
    assert "--kdf-memory 128 --kdf-iterations 4" in (EXAMPLES / "02-key-ceremony" / "key-ceremony.sh").read_text()
    res = plain("verify", "-CAfile", w / "attest-ca.pem", w / "codesign-2026.attest.pem")
    assert res.out.strip().endswith(": OK")
    plain("dgst", "-sha384", "-verify", w / "codesign-2026.pub.pem", "-signature",
          w / "release.bin.sig", w / "release.bin")
    show = json.loads(tool(w, "show", "codesign-2026", "--json").out)
    assert show["type"] == "ec:P-384" and show["env"] == "prod" and show["origin"] == "generated"
    assert show["policy"]["approvals"] == 2 and show["policy"]["digests"] in ("sha384,sha512", ["sha384", "sha512"])
    # the order of the ceremony in the log: refused, alice, bob, signed
    recs = [json.loads(l) for l in tool(w, "audit", "export", "--format", "jsonl").out.splitlines()]
    init = [r for r in recs if r["op"] == "init"][0]
    assert "max PIN tries 5" in init["reason"]
    steps = [(r["op"], r["outcome"]) for r in recs if r["op"] in ("sign", "approve")]
    assert steps == [("sign", "denied"), ("approve", "ok"), ("approve", "ok"), ("sign", "ok")], steps


def test_03_codesign_pki(tmp_path):
    ex = run_example("03-codesign-pki/codesign-pki.sh", tmp_path)
    w = ex.work
    res = plain("verify", "-x509_strict", "-CAfile", w / "root-ca.pem", "-untrusted",
                w / "issuing-ca.pem", w / "codesign.pem")
    assert res.out.strip().endswith(": OK")
    # without the issuing CA the leaf does not chain to the root
    plain("verify", "-CAfile", w / "root-ca.pem", w / "codesign.pem", check=2)
    ext = plain("x509", "-in", w / "codesign.pem", "-noout", "-ext", "extendedKeyUsage,basicConstraints").out
    assert "Code Signing" in ext and "CA:FALSE" in ext
    assert cert_days(w / "codesign.pem") <= 460
    ca_ext = plain("x509", "-in", w / "issuing-ca.pem", "-noout", "-ext", "basicConstraints").out
    assert "CA:TRUE" in ca_ext and "pathlen:0" in ca_ext
    show = json.loads(tool(w, "show", "codesign", "--json").out)
    assert "Example Corp Releases" in show["certificate"]["subject"]
    assert show["policy"]["not_after"] == show["certificate"]["not_after"]
    root = json.loads(tool(w, "show", "root-ca", "--json", keystore="root-keystore").out)
    assert "Root CA" in root["certificate"]["subject"]
    # the root key lives only in the offline keystore
    labels = {k["label"] for k in json.loads(tool(w, "list", "--json").out)}
    assert labels == {"issuing-ca", "codesign"}


def test_04_ci_release_signing(tmp_path):
    ex = run_example("04-ci-release-signing/ci-release-signing.sh", tmp_path)
    w = ex.work
    art, p7s, tsr = w / "app-1.4.2.tar.gz", w / "app-1.4.2.tar.gz.p7s", w / "app-1.4.2.tar.gz.tsr"
    res = plain("cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", art,
                "-CAfile", w / "ca.pem", "-purpose", "any", "-out", "/dev/null")
    assert "Verification successful" in res.err
    res = plain("ts", "-verify", "-data", p7s, "-in", tsr, "-CAfile", w / "ca.pem")
    assert "Verification: OK" in res.out
    # the signer certificate in the CMS is the one stored in the keystore
    certs = plain("cms", "-cmsout", "-print", "-inform", "DER", "-in", p7s).out
    assert "Example Corp Release Signing" in certs
    # detached: the artifact is not inside; a changed artifact fails
    assert art.read_bytes() not in p7s.read_bytes()
    bad = tmp_path / "tampered.tar.gz"
    bad.write_bytes(art.read_bytes() + b"x")
    plain("cms", "-verify", "-binary", "-inform", "DER", "-in", p7s, "-content", bad,
          "-CAfile", w / "ca.pem", "-purpose", "any", "-out", "/dev/null", check=4)
    assert (w / "tsa.keyref.pem").read_text().startswith("-----BEGIN SEALHSM KEY REF-----")


@pytest.mark.skipif(shutil.which("osslsigncode") is None, reason="osslsigncode not installed")
def test_05_authenticode(tmp_path):
    ex = run_example("05-authenticode/authenticode.sh", tmp_path)
    w = ex.work
    res = conftest.run(["osslsigncode", "verify", "-in", w / "app-signed.exe", "-CAfile",
                        w / "ca.pem"], env=base_env(), check=0)
    assert "Signature verification: ok" in res.out
    assert "Message digest algorithm  : SHA256" in res.out
    assert (w / "app.exe").read_bytes()[:2] == b"MZ"


def test_06_tls_s_server(tmp_path):
    ex = run_example("06-tls/s-server.sh", tmp_path)
    w = ex.work
    assert "Protocol version: TLSv1.3" in (w / "client-tls1_3.err").read_text()
    assert "Protocol version: TLSv1.2" in (w / "client-tls1_2.err").read_text()
    signs = (w / "signs.txt").read_text().splitlines()
    assert len(signs) == 2 and all('label="tls-web"' in s and 'reason="batched"' in s for s in signs)
    res = plain("verify", "-CAfile", w / "ca.pem", w / "server.pem")
    assert res.out.strip().endswith(": OK")


@pytest.mark.skipif(shutil.which("nginx") is None,
                    reason="nginx not installed (optional example; not in scripts/deps)")
def test_06_tls_nginx(tmp_path):
    ex = run_example("06-tls/nginx.sh", tmp_path)
    w = ex.work
    for v, name in (("tls1_3", "TLSv1.3"), ("tls1_2", "TLSv1.2")):
        err = (w / f"client-{v}.err").read_text()
        assert f"Protocol version: {name}" in err and "Verification: OK" in err
    assert "hello from nginx" in (w / "client-tls1_3.out").read_text()
    assert len((w / "nginx-signs.txt").read_text().splitlines()) >= 2


def test_07_environments(tmp_path):
    ex = run_example("07-environments/environments.sh", tmp_path)
    w = ex.work
    for env in ("dev", "test", "prod"):
        assert f"environment = {env}" in (w / f"openssl-{env}.cnf").read_text()
        plain("dgst", "-sha256", "-verify", w / f"app-{env}.pub.pem", "-signature",
              w / f"artifact.{env}.app-{env}.sig", w / "artifact.bin")
    assert not (w / "artifact.dev.app-prod.sig").exists()
    refusals = (w / "refusals.txt").read_text().splitlines()
    assert "sealhsm: policy: key app-prod: env: key is for prod, this signer is configured for dev" in refusals
    denied = (w / "denied.txt").read_text().splitlines()
    assert len(denied) == 4 and all("outcome=denied" in d and "env:" in d for d in denied)


def test_08_compromise_drill(tmp_path):
    ex = run_example("08-compromise-drill/compromise-drill.sh", tmp_path)
    w = ex.work
    impact = (w / "impact.txt").read_text().splitlines()
    assert len(impact) == 3
    assert [l.rsplit("file=", 1)[1] for l in impact] == ["app-1.1.tar", "-", "app-1.2.tar"]
    assert all("program=openssl" in l and "digest=sha384" in l for l in impact)
    spare = {k["label"]: k for k in json.loads(tool(w, "list", "--json", keystore="spare-keystore").out)}
    assert spare["release-2026"]["state"] == "destroyed" and spare["release-2027"]["state"] == "active"
    new = json.loads(tool(w, "show", "release-2027", "--json").out)
    assert new["type"] == "ec:P-384" and new["env"] == "prod"
    plain("dgst", "-sha384", "-verify", w / "release-2027.pub.pem", "-signature",
          w / "app-1.3.tar.sig", w / "app-1.3.tar")
    tool(w, "audit", "verify", keystore="spare-keystore")
    # the signature came from the spare keystore
    recs = [json.loads(l) for l in
            tool(w, "audit", "export", "--format", "jsonl", keystore="spare-keystore").out.splitlines()]
    assert any(r["op"] == "sign" and r["label"] == "release-2027" and r["outcome"] == "ok" for r in recs)
    assert not any(r["op"] == "sign" and r["label"] == "release-2027" for r in
                   (json.loads(l) for l in tool(w, "audit", "export", "--format", "jsonl").out.splitlines()))


def test_09_audit_forwarding(tmp_path):
    ex = run_example("09-audit-forwarding/audit-forwarding.sh", tmp_path)
    w = ex.work
    shipped = [json.loads(l) for l in (w / "audit.jsonl").read_text().splitlines()]
    assert [r["seq"] for r in shipped] == list(range(1, len(shipped) + 1))
    assert int((w / "ship.state").read_text()) == shipped[-1]["seq"]
    full = [json.loads(l) for l in tool(w, "audit", "export", "--format", "jsonl").out.splitlines()]
    assert full[:len(shipped)] == shipped
    syslog = (w / "syslog.log").read_text().splitlines()
    assert any(l.startswith("<84>") and "op=sign outcome=denied" in l for l in syslog)
    assert any(l.startswith("<85>") and "op=init outcome=ok" in l for l in syslog)
    assert not (w / "syslog.sock").exists()  # the receiver stopped and cleaned up
    tool(w, "audit", "verify")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root (a throwaway service account) and setpriv")
def test_10_signing_host(tmp_path):
    ex = run_example("10-signing-host/signing-host.sh", tmp_path)
    w = ex.work
    # the signer's signature verifies with stock openssl and the key's public half
    plain("dgst", "-sha256", "-verify", w / "release.pub.pem", "-signature",
          w / "artifact.sig", w / "artifact.bin")
    # its configuration names the socket and nothing else of the keystore's
    cnf = (w / "openssl-signer.cnf").read_text()
    assert re.search(r"^daemon = /\S+/sealhsm\.sock$", cnf, re.M), cnf
    assert "keystore" not in cnf and "pin" not in cnf
    assert "not by this user (uid 65534)" in (w / "signer-list.err").read_text()
    # audited as the kernel saw the signer
    rec = json.loads((w / "signer-record.json").read_text())
    assert (rec["user"], rec["program"], rec["via"], rec["outcome"]) == \
        ("nobody", "openssl", "daemon", "ok"), rec
    assert isinstance(rec["pid"], int) and rec["pid"] > 0 and rec["label"] == "release"
    assert "sealhsm: daemon: cannot reach" in (w / "refused.txt").read_text()
    log = (w / "daemon.log").read_text()
    assert "connected: uid=65534 (nobody)" in log and "stopped after 1 signatures" in log, log
    assert "Sanitizer" not in log and "runtime error:" not in log, log
    # the service account and the scratch host are gone
    assert "sealhsm-ex" not in Path("/etc/passwd").read_text()


@pytest.mark.skipif(shutil.which("jarsigner") is None, reason="no JDK")
def test_11_jarsigner_and_ssh(tmp_path):
    ex = run_example("11-jarsigner-and-ssh/jarsigner-and-ssh.sh", tmp_path)
    w = ex.work
    # the jar's signature block, checked against the demo CA alone
    import zipfile
    with zipfile.ZipFile(w / "app-signed.jar") as z:
        names = z.namelist()
        (w / "SIG.RSA").write_bytes(z.read("META-INF/JAR-SIGN.RSA"))
        (w / "SIG.SF").write_bytes(z.read("META-INF/JAR-SIGN.SF"))
    assert "com/example/payload.txt" in names
    res = plain("cms", "-verify", "-inform", "DER", "-in", w / "SIG.RSA", "-content", w / "SIG.SF",
                "-binary", "-CAfile", w / "ca.pem", "-purpose", "any", "-out", "/dev/null")
    assert "Verification successful" in res.err
    # the commit's signature, by ssh-keygen against the key `sealhsm pubkey` exports
    pub = w / "git-signing.pem"
    pub.write_text(tool(w, "pubkey", "git-signing").out)
    ssh_pub = conftest.run(["ssh-keygen", "-i", "-m", "PKCS8", "-f", pub], check=0).out.split()
    allowed = w / "allowed-check"
    allowed.write_text(f"release@example.org {ssh_pub[0]} {ssh_pub[1]}\n")
    env = base_env()
    commit = subprocess.run(["git", "-C", w / "repo", "cat-file", "commit", "HEAD"], env=env,
                            capture_output=True, check=True).stdout.decode()
    head, sig_rest = commit.split("gpgsig ", 1)
    sig_lines, body = sig_rest.split("\n\n", 1)
    signature = "\n".join(l[1:] if l.startswith(" ") else l for l in sig_lines.splitlines())
    (w / "commit.sig").write_text(signature + "\n")
    payload = (head + "\n" + body).encode()
    res = conftest.run(["ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "release@example.org",
                        "-n", "git", "-s", w / "commit.sig"], input=payload, check=0)
    assert "Good \"git\" signature" in res.out
    recs = [json.loads(l) for l in tool(w, "audit", "export", "--format", "jsonl").out.splitlines()]
    signs = [(r["label"], r["program"], r["outcome"]) for r in recs if r["op"] == "sign"]
    assert ("jar-signing", "jarsigner", "ok") in signs
    assert ("git-signing", "ssh-pkcs11-helper", "ok") in signs
