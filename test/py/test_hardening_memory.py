# SPDX-License-Identifier: Apache-2.0
"""Memory hygiene (issue 8).

valgrind memcheck must be clean (no invalid access, no use of uninitialised memory, no
definite leak) on a signing run through the provider and on the tool's main paths. No
suppression file is needed with Debian 12's OpenSSL 3.0 (the provider's secure heap
included), so none is used: any report fails the test. valgrind cannot run ASan
binaries, so these tests are skipped under SEALHSM_ASAN=1.

What is resident after an unlock is read from /proc/PID/mem of a paused process:
test/shim/memprobe (the store linked like the tool: logs in, optionally signs, waits)
and `openssl s_server` with a keystore key (the provider, after TLS handshakes). The
secrets to look for come from test/shim/keyprobe, which derives them from the
throwaway keystore (Argon2id KEK, master key, HKDF subkeys, the unsealed key).
Documented (docs/decisions.md, docs/security.md): only SO sessions keep the master
key, in the secure heap; a logged-in session keeps its subkeys in the secure heap,
and libcrypto's HMAC contexts keyed with the MAC and audit subkeys hold copies of
those two in ordinary memory; unsealed signing keys are cached in the secure heap.
"""
import re
import subprocess

import pytest

from conftest import (ASAN, OPENSSL, SEALHSM, SO_PIN, USER_PIN, base_env, preload_env, run)

# -- reading a process's memory ------------------------------------------------------

def regions(pid):
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi, parts[1], parts[5] if len(parts) > 5 else ""))
    return out


def secure_heaps(regs):
    """OpenSSL's secure heap: an anonymous read-write mapping between two PROT_NONE
    guard pages (crypto/mem_sec.c)."""
    found = []
    for prev, (lo, hi, perm, name), nxt in zip(regs, regs[1:], regs[2:]):
        if (perm.startswith("rw") and name == "" and prev[2].startswith("---")
                and nxt[2].startswith("---") and prev[1] == lo and nxt[0] == hi
                and prev[1] - prev[0] == 4096 and nxt[1] - nxt[0] == 4096):
            found.append((lo, hi))
    return found


def scan(pid, needles):
    """{name: [(address, mapping name, in the secure heap)]} for each needle (bytes)."""
    regs = regions(pid)
    heaps = secure_heaps(regs)
    hits = {k: [] for k in needles}
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for lo, hi, perm, name in regs:
            # ASan's shadow and allocator reservations are terabytes of untouched memory
            if not perm.startswith("r") or hi - lo > (4 << 30) or name in ("[vvar]", "[vsyscall]"):
                continue
            for start in range(lo, hi, 64 << 20):
                end = min(hi, start + (64 << 20) + 4096)
                try:
                    mem.seek(start)
                    data = mem.read(end - start)
                except OSError:
                    continue
                for key, needle in needles.items():
                    for m in re.finditer(re.escape(needle), data):
                        addr = start + m.start()
                        if addr >= min(hi, start + (64 << 20)):
                            continue  # the overlap: counted in the next chunk
                        hits[key].append((hex(addr), name or "anon",
                                          any(a <= addr < b for a, b in heaps)))
    return hits, heaps


def outside_secure_heap(hits):
    return [h for h in hits if not h[2]]


# -- the secrets of a throwaway keystore ----------------------------------------------

def pin_file(ks, role):
    p = ks.tmp / f"{role}.pin"
    p.write_text(SO_PIN if role == "so" else USER_PIN)
    return p


def secrets(ks, hardening_bin, role, label=None):
    """KEK, master key and subkeys of role's slot, and with label the secret parts of
    that key: EC scalar, EdDSA seed, RSA d/p/q (big-endian), and its PKCS#8 DER."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    argv = [hardening_bin / "keyprobe", ks.path, role, pin_file(ks, role)]
    out = run(argv + ([label] if label else []), env=preload_env(base_env()), check=0).out
    found = {k: bytes.fromhex(v) for k, v in (line.split() for line in out.splitlines())}
    if label:
        key = ser.load_der_private_key(found["pkcs8"], None)
        be = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")
        if isinstance(key, ec.EllipticCurvePrivateKey):
            found["scalar"] = key.private_numbers().private_value.to_bytes(
                (key.curve.key_size + 7) // 8, "big")
        elif isinstance(key, rsa.RSAPrivateKey):
            n = key.private_numbers()
            found.update(rsa_d=be(n.d), rsa_p=be(n.p), rsa_q=be(n.q))
        else:
            found["seed"] = key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw,
                                              ser.NoEncryption())
    return found


class Paused:
    """memprobe: logged in (and signed once with label), waiting on stdin. Freed memory
    is never reused in it (test/shim/noreuse.so; under ASan its quarantine does the
    same), so a secret freed without being cleansed is always found, not only when no
    later allocation happened to overwrite it."""

    def __init__(self, ks, hardening_bin, role, label=None, env=None):
        argv = [str(hardening_bin / "memprobe"), str(ks.path), role, str(pin_file(ks, role))]
        env = preload_env(env or base_env())
        if not ASAN:
            env["LD_PRELOAD"] = str(hardening_bin / "noreuse.so")
        self.p = subprocess.Popen(argv + ([label] if label else []),
                                  env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.p.stdout.readline()
        assert line.startswith(b"READY"), (line, self.p.stderr.read())
        self.pid = self.p.pid

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.p.stdin.close()
        err = self.p.stderr.read().decode(errors="replace")
        self.p.wait(timeout=60)
        assert "Sanitizer" not in err and "runtime error" not in err, err
        assert self.p.returncode == 0, err


KEY_TYPES = {"ec": "ec:P-256", "ed25519": "ed25519", "rsa": "rsa:2048"}


@pytest.fixture
def keys(ks):
    for label, type_ in KEY_TYPES.items():
        ks.keygen(label, type_)
    return ks


# -- PIN, KEK, master key -----------------------------------------------------------------

def test_user_session_keeps_no_pin_and_no_master_key(keys, hardening_bin):
    s = secrets(keys, hardening_bin, "user", "ec")
    with Paused(keys, hardening_bin, "user", "ec") as p:
        hits, heaps = scan(p.pid, {"pin": USER_PIN.encode(), "mk": s["mk"],
                                   "k_seal": s["k_seal"], "k_backup": s["k_backup"]})
    assert heaps, "no secure heap found in the process"
    assert hits["pin"] == [], f"the user PIN is still in memory: {hits['pin']}"
    assert hits["mk"] == [], f"a user session keeps the master key: {hits['mk']}"
    # the session's subkeys live in the secure heap only
    for k in ("k_seal", "k_backup"):
        assert hits[k] and not outside_secure_heap(hits[k]), (k, hits[k])


def test_user_session_keeps_no_kek(keys, hardening_bin):
    s = secrets(keys, hardening_bin, "user")
    with Paused(keys, hardening_bin, "user") as p:
        hits, _ = scan(p.pid, {"kek": s["kek"]})
    assert hits["kek"] == [], f"the Argon2id KEK of the user slot is still in memory: {hits['kek']}"


def test_so_session_keeps_the_master_key_only_in_the_secure_heap(keys, hardening_bin):
    s = secrets(keys, hardening_bin, "so")
    with Paused(keys, hardening_bin, "so") as p:
        hits, _ = scan(p.pid, {"pin": SO_PIN.encode(), "mk": s["mk"]})
    assert hits["pin"] == [], f"the SO PIN is still in memory: {hits['pin']}"
    # documented: SO sessions keep the master key (to wrap PIN slots), in the secure heap
    assert hits["mk"] and not outside_secure_heap(hits["mk"]), hits["mk"]


@pytest.mark.parametrize("label", ["ec", "ed25519", "rsa"])
def test_unsealed_key_only_in_the_secure_heap(keys, hardening_bin, label):
    s = secrets(keys, hardening_bin, "user", label)
    parts = {k: v for k, v in s.items() if k in ("scalar", "seed", "rsa_d", "rsa_p", "rsa_q", "pkcs8")}
    with Paused(keys, hardening_bin, "user", label) as p:
        hits, _ = scan(p.pid, parts)
    for k, h in hits.items():
        assert not outside_secure_heap(h), f"{label}: {k} of the unsealed key outside the secure heap: {h}"


def test_provider_process_keeps_no_pin_and_no_master_key(keys, hardening_bin):
    """openssl s_server with a keystore key (PIN from a file, so it is not in the
    environment), after a TLS 1.3 and a TLS 1.2 handshake signed with it."""
    ks = keys
    s = secrets(ks, hardening_bin, "user")
    conf = ks.conf(name="memscan.cnf", pin_source=f"file:{pin_file(ks, 'user')}")
    env = base_env(OPENSSL_CONF=conf)
    cert = ks.tmp / "ec.crt"
    run([OPENSSL, "req", "-x509", "-key", "sealhsm:ec", "-subj", "/CN=ec", "-days", "1",
         "-out", cert], env=preload_env(env), check=0)
    server = subprocess.Popen([OPENSSL, "s_server", "-key", "sealhsm:ec", "-cert", cert,
                               "-accept", "0", "-naccept", "3", "-www"], env=preload_env(env),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        port = None
        for line in server.stdout:
            m = re.match(rb"ACCEPT .*:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        assert port, "s_server did not start"
        for proto in ("-tls1_3", "-tls1_2"):
            run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", proto], input="",
                env=base_env(), check=0)
        records = [r for r in run([SEALHSM, "audit", "export", "--format", "jsonl"],
                                  env=ks.env(), check=0).out.splitlines() if '"op":"sign"' in r]
        assert len(records) >= 2, "the handshakes did not sign with the keystore key"
        hits, heaps = scan(server.pid, {"pin": USER_PIN.encode(), "mk": s["mk"],
                                        "k_seal": s["k_seal"], "k_backup": s["k_backup"]})
    finally:
        server.kill()
        server.wait()
    assert heaps, "no secure heap in the provider's process"
    assert hits["pin"] == [] and hits["mk"] == [], hits
    for k in ("k_seal", "k_backup"):
        assert hits[k] and not outside_secure_heap(hits[k]), (k, hits[k])


# -- applications with their own allocator -----------------------------------------------------

@pytest.mark.parametrize("how", ["uri", "keyref"])
def test_application_allocator(ks, hardening_bin, how):
    """An application that sets CRYPTO_set_mem_functions loads a keystore key through
    the provider and signs: the provider must free through libcrypto only what it
    allocated through libcrypto (test/shim/memfn aborts otherwise)."""
    ks.keygen("k", "ec:P-256")
    ref = ks.tmp / "k.keyref"
    ks.sealhsm("keyref", "k", "--out", ref)
    env = preload_env(ks.env(OPENSSL_CONF=ks.conf()))
    res = run([hardening_bin / "memfn", "sealhsm:k" if how == "uri" else ref], env=env,
              check=None)
    assert res.rc == 0 and res.out.startswith("signed "), res


# -- valgrind ---------------------------------------------------------------------------------

VALGRIND = ["valgrind", "--error-exitcode=97", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--track-origins=no", "-q"]
needs_valgrind = pytest.mark.skipif(ASAN, reason="valgrind cannot run ASan-instrumented code")


def valgrind(argv, env):
    res = run(VALGRIND + [str(a) for a in argv], env=env, check=None, timeout=600)
    reports = [l for l in res.err.splitlines() if re.match(r"==\d+== ", l)]
    assert res.rc != 97 and not reports, "valgrind:\n" + res.err
    return res


@pytest.fixture
def vg_keys(ks):
    ks.keygen("ec", "ec:P-384")
    ks.keygen("ed", "ed25519")
    ks.keygen("rsa", "rsa:2048")
    ks.sealhsm("keyref", "ec", "--out", ks.tmp / "ec.keyref")
    return ks


@needs_valgrind
@pytest.mark.parametrize("how", ["dgst-ec", "pkeyutl-ed25519", "dgst-rsa-pss", "keyref-conf"])
def test_valgrind_signing_through_the_provider(vg_keys, how):
    ks = vg_keys
    data = ks.tmp / "data"
    data.write_bytes(b"signed under valgrind\n")
    sig = ks.tmp / f"{how}.sig"
    env, prov = ks.env(), ks.provider_args()
    argv = {
        "dgst-ec": [OPENSSL, "dgst", *prov, "-sha384", "-sign", "sealhsm:ec", "-out", sig, data],
        "pkeyutl-ed25519": [OPENSSL, "pkeyutl", *prov, "-sign", "-rawin", "-inkey", "sealhsm:ed",
                            "-in", data, "-out", sig],
        "dgst-rsa-pss": [OPENSSL, "dgst", *prov, "-sha256", "-sign", "sealhsm:rsa", "-sigopt",
                         "rsa_padding_mode:pss", "-out", sig, data],
        "keyref-conf": [OPENSSL, "dgst", "-sha384", "-sign", ks.tmp / "ec.keyref", "-out", sig, data],
    }[how]
    if how == "keyref-conf":
        env = dict(env, OPENSSL_CONF=str(ks.conf()))
    res = valgrind(argv, env)
    assert res.rc == 0 and sig.stat().st_size > 0, res


@needs_valgrind
@pytest.mark.parametrize("path", ["init", "keygen", "list", "show", "audit-verify", "backup",
                                  "restore"])
def test_valgrind_tool_paths(vg_keys, path):
    ks = vg_keys
    env = ks.env(so=True)
    backup = ks.tmp / "ks.backup"
    if path == "restore":
        ks.sealhsm("backup", "--out", backup, so=True)
    argv = {
        "init": ["init", "--kdf-memory", "1", "--kdf-iterations", "1", "--keystore", ks.tmp / "new"],
        "keygen": ["keygen", "vg", "--type", "ec:P-256", "--digests", "sha256,sha384",
                   "--rate", "10/min", "--not-after", "2099-01-01"],
        "list": ["list", "--json"],
        "show": ["show", "ec", "--json"],
        "audit-verify": ["audit", "verify", "--json"],
        "backup": ["backup", "--out", backup],
        "restore": ["restore", "--in", backup, "--keystore", ks.tmp / "restored"],
    }[path]
    res = valgrind([SEALHSM, *argv], env)
    assert res.rc == 0, res
