# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: a throwaway keystore per test, and runners for the real
`sealhsm` tool and the stock `openssl` binary with the provider loaded.

Where the binaries are: $SEALHSM_BUILD (default: <repo>/build). When the build is
instrumented (SEALHSM_SANITIZE=ON), set SEALHSM_ASAN=1 so the uninstrumented
`openssl` and `osslsigncode` get the ASan runtime preloaded before they load the
provider.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SEALHSM_BUILD", REPO / "build")).resolve()
SEALHSM = BUILD / "tools" / "sealhsm"
SEALHSMD = BUILD / "daemon" / "sealhsmd"
PROVIDER_DIR = BUILD / "provider"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
ASAN = os.environ.get("SEALHSM_ASAN") == "1"

SO_PIN = "so-pin-0000"
USER_PIN = "user-pin-1111"
# Small Argon2 parameters keep each unlock in the millisecond range in tests.
FAST_KDF = ["--kdf-memory", "1", "--kdf-iterations", "1"]


def _asan_preload():
    lib = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                         text=True).stdout.strip()
    return lib


def base_env(**extra):
    """A clean environment: no PIN variables unless a test sets them."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SEALHSM_") or k in ("SEALHSM_BUILD", "SEALHSM_ASAN")}
    env.pop("OPENSSL_CONF", None)
    env.pop("OPENSSL_MODULES", None)
    if ASAN:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=98")
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Result:
    def __init__(self, cp):
        self.rc = cp.returncode
        self.out = cp.stdout
        self.err = cp.stderr

    @property
    def text(self):
        return self.out.decode(errors="replace") if isinstance(self.out, bytes) else self.out

    @property
    def errtext(self):
        return self.err.decode(errors="replace") if isinstance(self.err, bytes) else self.err

    def __repr__(self):
        return f"<rc={self.rc} out={self.out[:400]!r} err={self.err[:800]!r}>"


def run(argv, env=None, input=None, check=None, binary=False, timeout=120, preload=False,
        cwd=None):
    """Runs argv; check=<int> asserts that exit code. Sanitizer reports fail the test."""
    env = dict(env if env is not None else base_env())
    if preload and ASAN:
        env["LD_PRELOAD"] = _asan_preload()
    if isinstance(input, str):
        input = input.encode()
    cp = subprocess.run([str(a) for a in argv], env=env, input=input, capture_output=True,
                        timeout=timeout, cwd=cwd, stdin=None if input is not None else subprocess.DEVNULL)
    res = Result(cp)
    if not binary:
        res.out = cp.stdout.decode(errors="replace")
        res.err = cp.stderr.decode(errors="replace")
    errtext = res.errtext
    assert "ERROR: AddressSanitizer" not in errtext, errtext
    assert "ERROR: LeakSanitizer" not in errtext, errtext
    assert "runtime error:" not in errtext, errtext
    assert res.rc not in (98, 99) or not ASAN, res
    assert res.rc >= 0, f"killed by signal {-res.rc}: {res}"
    if check is not None:
        assert res.rc == check, f"expected exit {check}: {argv} -> {res}"
    return res


class Keystore:
    """A keystore in a temp dir plus runners bound to it."""

    def __init__(self, path, tmp):
        self.path = Path(path)
        self.tmp = Path(tmp)
        # the socket of a sealhsmd serving this keystore when the test runs in daemon
        # mode (fixture sealhsm_mode): the provider then signs through it
        self.daemon = None

    def env(self, so=False, user=True, **extra):
        e = base_env(SEALHSM_KEYSTORE=self.path, **extra)
        if user:
            e["SEALHSM_PIN"] = USER_PIN
        if so:
            e["SEALHSM_SO_PIN"] = SO_PIN
        if self.daemon is not None:
            e["SEALHSM_DAEMON"] = str(self.daemon)
        return e

    def sealhsm(self, *args, so=False, user=True, env=None, input=None, check=0, binary=False,
                **extra):
        """Runs `sealhsm` against this keystore with the PINs in the environment."""
        e = env if env is not None else self.env(so=so, user=user, **extra)
        return run([SEALHSM, *args], env=e, input=input, check=check, binary=binary)

    def keygen(self, label, type_, *opts):
        return self.sealhsm("keygen", label, "--type", type_, *opts, so=True)

    # -- openssl with the provider ------------------------------------------------
    def provider_args(self):
        return ["-provider-path", PROVIDER_DIR, "-provider", "sealhsm", "-provider", "default"]

    def conf(self, name="openssl.cnf", environment=None, pin_source="env:SEALHSM_PIN",
             extra_lines=()):
        """Writes an openssl.cnf activating sealhsm and default; returns its path."""
        lines = [
            "openssl_conf = openssl_init",
            "[openssl_init]",
            "providers = provider_sect",
            "[provider_sect]",
            "default = default_sect",
            "sealhsm = sealhsm_sect",
            "[default_sect]",
            "activate = 1",
            "[sealhsm_sect]",
            f"module = {PROVIDER_DIR / 'sealhsm.so'}",
            f"keystore = {self.path}",
        ]
        if self.daemon is not None:
            lines.append(f"daemon = {self.daemon}")
        if pin_source:
            lines.append(f"pin-source = {pin_source}")
        if environment:
            lines.append(f"environment = {environment}")
        lines += list(extra_lines)
        lines.append("activate = 1")
        p = self.tmp / name
        p.write_text("\n".join(lines) + "\n")
        return p

    def openssl(self, *args, via="cli", conf=None, env=None, input=None, check=0, binary=False,
                timeout=120):
        """Runs stock openssl. via='cli': -provider flags after the subcommand;
        via='conf': OPENSSL_CONF; via=None: no provider at all."""
        argv = [OPENSSL]
        e = dict(env if env is not None else self.env())
        if env is None and self.daemon is not None:
            # a thin client: no PIN and no keystore path in the signer's environment
            e.pop("SEALHSM_PIN", None)
            e.pop("SEALHSM_KEYSTORE", None)
        args = list(args)
        if via == "cli":
            argv += [args[0], *self.provider_args(), *args[1:]]
        elif via == "conf":
            e["OPENSSL_CONF"] = str(conf or self.conf())
            argv += args
        else:
            argv += args
        return run(argv, env=e, input=input, check=check, binary=binary, preload=via is not None,
                   timeout=timeout)


@pytest.fixture
def keystore_dir(tmp_path):
    """A path for a keystore that does not exist yet."""
    return tmp_path / "ks"


@pytest.fixture
def ks(tmp_path):
    """An initialized keystore with fast KDF parameters and known PINs."""
    k = Keystore(tmp_path / "ks", tmp_path)
    run([SEALHSM, "init", *FAST_KDF], env=k.env(so=True), check=0)
    return k


def pytest_report_header(config):
    return f"sealhsm build: {BUILD} (asan={ASAN}); openssl: {OPENSSL}"


# -- helpers for the `sealhsm` tool tests (test_cli_*.py) ---------------------------

class SecretWatch:
    """Records every command run through conftest.run and, at teardown, asserts that
    no registered secret (PINs by default) appears in any stdout or stderr."""

    def __init__(self):
        self.secrets = {SO_PIN, USER_PIN}
        self.outputs = []

    def add(self, *secrets):
        self.secrets.update(s for s in secrets if s)

    def check(self):
        for argv, out, err in self.outputs:
            for stream in (out, err):
                data = stream if isinstance(stream, bytes) else stream.encode(errors="replace")
                for s in self.secrets:
                    sb = s if isinstance(s, bytes) else s.encode()
                    assert sb not in data, f"secret printed by {argv}"


@pytest.fixture
def secret_watch(monkeypatch):
    """Use with pytest.mark.usefixtures: checks every run() of the test for leaked PINs."""
    import conftest as c
    watch = SecretWatch()
    orig = c.run

    def watched(argv, *a, **kw):
        res = orig(argv, *a, **kw)
        watch.outputs.append(([str(x) for x in argv], res.out, res.err))
        return res

    monkeypatch.setattr(c, "run", watched)
    yield watch
    watch.check()


def run_no_tty(argv, env, timeout=60):
    """Runs argv in a new session (no controlling terminal, so /dev/tty cannot be
    opened) with stdin from /dev/null: no way to prompt for a PIN."""
    cp = subprocess.run([str(a) for a in argv], env=env, stdin=subprocess.DEVNULL,
                        capture_output=True, timeout=timeout, start_new_session=True)
    res = Result(cp)
    res.out = cp.stdout.decode(errors="replace")
    res.err = cp.stderr.decode(errors="replace")
    assert "ERROR: AddressSanitizer" not in res.err, res.err
    assert "runtime error:" not in res.err, res.err
    return res


def assert_fails(res, code, *needles):
    """The tool's error contract (docs/reference.md, Exit codes): exit code, exactly one stderr line that
    starts with 'sealhsm: ' and names the object (each needle must occur in it)."""
    assert res.rc == code, f"expected exit {code}: {res}"
    err = res.errtext
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"not one line: {err!r}"
    assert lines[0].startswith("sealhsm: "), lines[0]
    for n in needles:
        assert str(n) in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


# -- helpers for the provider tests (test_provider_*.py) ----------------------------

# label in the shared provider keystore -> `sealhsm keygen --type`
PROVIDER_KEYS = {"rsa2048": "rsa:2048", "rsa3072": "rsa:3072", "p256": "ec:P-256",
                 "p384": "ec:P-384", "ed25519": "ed25519", "ed448": "ed448"}
EDDSA_KEYS = ("ed25519", "ed448")
HASH_KEYS = tuple(k for k in PROVIDER_KEYS if k not in EDDSA_KEYS)
RSA_KEYS = ("rsa2048", "rsa3072")
# how the provider is activated: -provider flags, or an OPENSSL_CONF file
VIAS = ("cli", "conf")


@pytest.fixture(scope="session")
def pks(tmp_path_factory):
    """One keystore shared by the provider tests that only use its keys: one key of
    each type, labelled as in PROVIDER_KEYS. Its tmp holds each key's public key
    as LABEL.pub.pem, exported by `sealhsm pubkey`."""
    tmp = tmp_path_factory.mktemp("pks")
    k = Keystore(tmp / "ks", tmp)
    run([SEALHSM, "init", *FAST_KDF], env=k.env(so=True), check=0)
    for label, type_ in PROVIDER_KEYS.items():
        k.keygen(label, type_)
        (tmp / f"{label}.pub.pem").write_text(k.sealhsm("pubkey", label).out)
    return k


def openssl_errors(text, lib="sealhsm"):
    """The OpenSSL error-queue lines of stderr raised by lib (e.g. our provider)."""
    return [line for line in text.splitlines() if f":error:" in line and f":{lib}:" in line]


# -- helpers for the policy, audit, lifecycle and backup tests ----------------------
import json  # noqa: E402  (used by the helpers below)
# The keystore's LMDB file is edited only with lmdb-utils (mdb_dump / mdb_load), never
# through the store: these are an attacker's tools.

def _mdb_parse(text):
    """mdb_dump output (one or more databases, -a) -> {name: (header lines, [(k, v)])}."""
    dbs = {}
    for chunk in text.split("DATA=END\n"):
        if "HEADER=END\n" not in chunk:
            continue
        head, body = chunk.split("HEADER=END\n", 1)
        hlines = [l for l in head.splitlines() if l]
        name = next((l.split("=", 1)[1] for l in hlines if l.startswith("database=")), "")
        items = body.split()
        dbs[name] = (hlines, [(bytes.fromhex(k), bytes.fromhex(v))
                              for k, v in zip(items[0::2], items[1::2])])
    return dbs


def mdb_records(path, db):
    """The records [(key, value)] of named database db in the keystore at path, in key
    order, read with mdb_dump."""
    out = subprocess.run(["mdb_dump", "-s", db, str(path)], capture_output=True, text=True,
                         check=True).stdout
    return _mdb_parse(out)[db][1]


def mdb_rewrite(path, db, records):
    """Replaces the whole named database db of the keystore at path with records
    [(key, value)] (LMDB sorts them by key): dumps every database with `mdb_dump -a`,
    reloads all of them with `mdb_load` into a fresh environment and puts its data.mdb
    in place (mode 0600), so records can be changed, removed or added."""
    path = Path(path)
    dump = subprocess.run(["mdb_dump", "-a", str(path)], capture_output=True, text=True,
                          check=True).stdout
    dbs = _mdb_parse(dump)
    assert db in dbs, f"no database {db} in {path}"
    dbs[db] = (dbs[db][0], list(records))
    text = "".join(
        "\n".join(h for h in hl) + "\nHEADER=END\n"
        + "".join(f" {k.hex()}\n {v.hex()}\n" for k, v in recs) + "DATA=END\n"
        for hl, recs in dbs.values())
    fresh = path.parent / (path.name + ".reload")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(mode=0o700)
    subprocess.run(["mdb_load", "-f", "/dev/stdin", str(fresh)], input=text, text=True,
                   capture_output=True, check=True)
    os.replace(fresh / "data.mdb", path / "data.mdb")
    os.chmod(path / "data.mdb", 0o600)
    (path / "lock.mdb").unlink(missing_ok=True)
    shutil.rmtree(fresh)


def copy_keystore(ks, name, tmp=None):
    """A copy of keystore ks (a Keystore) named name under tmp (default: ks's tmp dir),
    as a new Keystore."""
    tmp = Path(tmp or ks.tmp)
    dst = tmp / name
    shutil.copytree(ks.path, dst)
    os.chmod(dst, 0o700)
    return Keystore(dst, tmp)


def audit_records(ks, since=None):
    """`sealhsm audit export --format jsonl` as a list of dicts."""
    args = ["audit", "export", "--format", "jsonl"]
    if since is not None:
        args += ["--since", str(since)]
    return [json.loads(l) for l in ks.sealhsm(*args).out.splitlines() if l.strip()]


HASHLIB = {"sha1": "sha1", "md5": "md5", "sha224": "sha224", "sha256": "sha256",
           "sha384": "sha384", "sha512": "sha512", "sha3-256": "sha3_256",
           "sha3-384": "sha3_384", "sha3-512": "sha3_512"}


class Signer:
    """Signs files with `sealhsm:LABEL` through stock openssl, the way a user types it,
    and verifies the signatures with stock openssl and the public key only.

    how='dgst':    openssl dgst -DIGEST -sign sealhsm:L [-sigopt rsa_padding_mode:pss] -out S F
    how='pkeyutl': openssl pkeyutl -sign -in F.DIGEST.bin -inkey sealhsm:L
                   -pkeyopt digest:DIGEST [-pkeyopt rsa_padding_mode:pss] -out S
    """

    _seq = __import__("itertools").count(1)   # file names unique across Signers

    def __init__(self, ks):
        self.ks = ks

    def data(self, content=None):
        """A fresh file to sign (distinct content unless given)."""
        n = next(Signer._seq)
        p = self.ks.tmp / f"data{n}.bin"
        p.write_bytes(content if content is not None else f"artifact {n}\n".encode())
        return p

    def digest_file(self, data, digest):
        import hashlib
        p = data.with_name(f"{data.name}.{digest}.bin")
        p.write_bytes(hashlib.new(HASHLIB[digest], data.read_bytes()).digest())
        return p

    def sign(self, label, how="dgst", digest="sha256", pss=False, data=None, via="cli",
             conf=None, env=None, timeout=120):
        """Returns (Result, signature path, data path); never checks the exit code."""
        data = data or self.data()
        sig = self.ks.tmp / f"sig{next(Signer._seq)}.bin"
        if how == "dgst":
            args = ["dgst", f"-{digest}", "-sign", f"sealhsm:{label}", "-out", sig]
            if pss:
                args += ["-sigopt", "rsa_padding_mode:pss"]
            args.append(data)
        else:
            args = ["pkeyutl", "-sign", "-in", self.digest_file(data, digest), "-inkey",
                    f"sealhsm:{label}", "-pkeyopt", f"digest:{digest}", "-out", sig]
            if pss:
                args += ["-pkeyopt", "rsa_padding_mode:pss"]
        res = self.ks.openssl(*args, via=via, conf=conf, env=env, check=None, timeout=timeout)
        return res, sig, data

    def pubkey(self, label, ks=None):
        """LABEL's public key as exported by `sealhsm pubkey` (cached in tmp)."""
        ks = ks or self.ks
        p = self.ks.tmp / f"{label}.pub.pem"
        if not p.exists():
            ks.sealhsm("pubkey", label, "--out", p)
        return p

    def verify(self, pub, sig, data, how="dgst", digest="sha256", pss=False):
        """Stock openssl, no provider: the signature verifies under the public key."""
        if how == "dgst":
            args = ["dgst", f"-{digest}", "-verify", pub, "-signature", sig]
            if pss:
                args += ["-sigopt", "rsa_padding_mode:pss"]
            args.append(data)
        else:
            args = ["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in",
                    self.digest_file(data, digest), "-sigfile", sig, "-pkeyopt",
                    f"digest:{digest}"]
            if pss:
                args += ["-pkeyopt", "rsa_padding_mode:pss"]
        return self.ks.openssl(*args, via=None, check=0)

    def ok(self, label, how="dgst", digest="sha256", pss=False, pub=None, **kw):
        """Signs, asserts success, and verifies with the public key."""
        res, sig, data = self.sign(label, how, digest, pss, **kw)
        assert res.rc == 0, f"signing with {label} ({how}, {digest}) failed: {res}"
        assert sig.exists() and sig.stat().st_size > 0, res
        self.verify(pub or self.pubkey(label), sig, data, how, digest, pss)
        return sig, data

    def refused(self, label, rule, how="dgst", digest="sha256", pss=False, audit=True, **kw):
        """Signs and asserts a policy refusal: non-zero exit, an error line with
        'sealhsm: policy:' naming the key and the rule, no signature content; with
        audit=True also that the last sign record of the key is denied for that rule."""
        res, sig, _ = self.sign(label, how, digest, pss, **kw)
        assert_policy_refusal(res, label, rule)
        assert not sig.exists() or sig.stat().st_size == 0, f"signature written: {res}"
        if audit:
            rec = [r for r in audit_records(self.ks) if r["op"] == "sign" and r["label"] == label][-1]
            assert rec["outcome"] == "denied", rec
            assert "policy" in rec["reason"] and rule in rec["reason"], rec
        return res


def assert_policy_refusal(res, label, rule):
    """docs/reference.md, Policy: a refusal is an OpenSSL error whose text starts 'sealhsm: policy:' and
    names the key and the rule."""
    import re
    assert res.rc != 0, f"expected a refusal: {res}"
    msgs = [l[l.index("sealhsm: policy:"):] for l in res.errtext.splitlines()
            if "sealhsm: policy:" in l]
    assert msgs, f"no 'sealhsm: policy:' error: {res}"
    assert any(re.search(rf"(?<![\w-]){re.escape(label)}(?![\w-])", m) and rule in m
               for m in msgs), f"no policy error naming key {label!r} and rule {rule!r}: {msgs}"


@pytest.fixture
def signer(ks):
    """A Signer bound to the `ks` keystore."""
    return Signer(ks)


# -- helpers for the hardening tests (test_hardening_*.py) ---------------------------

@pytest.fixture(scope="session")
def hardening_bin():
    """The helper programs of test/shim (faultshim.so, keyprobe, memprobe, conc_sign),
    built against $SEALHSM_BUILD into BUILD/hardening once per session (xdist workers
    take turns through a lock file)."""
    import fcntl
    out = BUILD / "hardening"
    with open(BUILD / ".hardening.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["cmake", "-S", REPO / "test" / "shim", "-B", out,
                        f"-DSEALHSM_BUILD={BUILD}", f"-DSEALHSM_SANITIZE={'ON' if ASAN else 'OFF'}"],
                       check=True, capture_output=True)
        subprocess.run(["cmake", "--build", out, "-j2"], check=True, capture_output=True)
    return out


def preload_env(env, shim=None, **cfg):
    """env with LD_PRELOAD set for a run: the ASan runtime first under ASan (the
    stock openssl is not instrumented, and the runtime must precede any other
    preloaded library), then the fault shim if given, configured by cfg
    (match=..., ops=..., after=..., action=..., errno=..., arm=..., count=...)."""
    env = dict(env)
    libs = [_asan_preload()] if ASAN else []
    if shim is not None:
        libs.append(str(shim))
        for k, v in cfg.items():
            env[f"SHIM_{k.upper()}"] = str(v)
    if libs:
        env["LD_PRELOAD"] = " ".join(libs)
    return env


# -- the signing daemon (sealhsmd) and the two provider modes -------------------------

class Daemon:
    """A `sealhsmd --foreground` serving keystore ks on a socket in a short private
    directory (socket paths are limited to 107 bytes). Its log goes to a file next to
    the socket. stop() sends SIGTERM and asserts a clean exit: status 0 and, under
    SEALHSM_ASAN=1 (the daemon is the ASan build), no sanitizer report."""

    def __init__(self, ks, *args, env=None):
        import tempfile
        self.ks = ks
        self.dir = Path(tempfile.mkdtemp(prefix="shd", dir="/tmp"))
        self.sock = self.dir / "s.sock"
        self.log = self.dir / "sealhsmd.log"
        self.args = list(args)
        self.env = env
        self.proc = None

    def argv(self, *extra):
        return [SEALHSMD, "--foreground", "--keystore", self.ks.path, "--socket", self.sock,
                *self.args, *extra]

    def start(self, *extra, timeout=20):
        import time
        e = self.env if self.env is not None else base_env(SEALHSM_PIN=USER_PIN)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(a) for a in self.argv(*extra)], env=e,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not self.listening():
            if self.proc.poll() is not None:
                raise AssertionError(f"sealhsmd exited {self.proc.returncode}: {self.logtext()}")
            assert time.monotonic() < deadline, f"sealhsmd did not start: {self.logtext()}"
            time.sleep(0.02)
        return self

    def listening(self):
        """The socket accepts connections (a file left by a killed daemon does not)."""
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(self.sock))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def logtext(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, check=True):
        import signal
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError(f"sealhsmd did not stop on SIGTERM: {self.logtext()}")
        self.proc = None
        text = self.logtext()
        if check:
            assert "ERROR: AddressSanitizer" not in text, text
            assert "ERROR: LeakSanitizer" not in text, text
            assert "runtime error:" not in text, text
            assert rc == 0, f"sealhsmd exited {rc} on SIGTERM: {text}"
            assert not self.sock.exists(), "sealhsmd left its socket behind"
        return rc

    def cleanup(self):
        if self.proc is not None:
            self.stop(check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def daemon_factory():
    """Makes Daemon objects (Daemon(ks, *args, env=...)); stops and removes them after
    the test, asserting a clean exit of those still running."""
    made = []

    def make(ks, *args, env=None):
        d = Daemon(ks, *args, env=env)
        made.append(d)
        return d
    yield make
    for d in made:
        try:
            if d.proc is not None:
                d.stop()
        finally:
            d.cleanup()


@pytest.fixture(scope="session")
def pks_daemon(pks):
    """One sealhsmd for the shared provider keystore, started on first use."""
    d = Daemon(pks)
    d.start()
    yield d
    try:
        d.stop()
    finally:
        d.cleanup()


MODES = ("embedded", "daemon")


def pytest_generate_tests(metafunc):
    if "sealhsm_mode" in metafunc.fixturenames:
        metafunc.parametrize("sealhsm_mode", MODES, indirect=True)


def pytest_configure(config):
    config.addinivalue_line("markers", "embedded_only(why): the test is about the embedded "
                            "provider (its keystore, PIN or environment parameters) and does "
                            "not run in daemon mode")


@pytest.fixture
def sealhsm_mode(request):
    """Runs a provider test in both modes (a test module opts in with
    `pytestmark = pytest.mark.usefixtures("sealhsm_mode")`): "embedded" as ever, and
    "daemon", where the keystores the test uses (ks, pks) are served by a sealhsmd
    and openssl signs through it (SEALHSM_DAEMON, `daemon =` in the test's
    openssl.cnf) with no PIN and no keystore in its environment."""
    mode = request.param
    if mode == "daemon":
        mark = request.node.get_closest_marker("embedded_only")
        if mark is not None:
            pytest.skip(f"embedded mode only: {mark.args[0] if mark.args else ''}")
    if mode == "embedded":
        yield mode
        return
    served, own = [], []
    if "pks" in request.fixturenames:
        k = request.getfixturevalue("pks")
        k.daemon = request.getfixturevalue("pks_daemon").sock
        served.append(k)
    if "ks" in request.fixturenames:
        k = request.getfixturevalue("ks")
        d = Daemon(k).start()
        own.append(d)
        k.daemon = d.sock
        served.append(k)
    try:
        yield mode
    finally:
        for k in served:
            k.daemon = None
        for d in own:
            try:
                d.stop()
            finally:
                d.cleanup()
