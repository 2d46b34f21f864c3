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

    def env(self, so=False, user=True, **extra):
        e = base_env(SEALHSM_KEYSTORE=self.path, **extra)
        if user:
            e["SEALHSM_PIN"] = USER_PIN
        if so:
            e["SEALHSM_SO_PIN"] = SO_PIN
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
    """The tool's error contract (SPEC §3): exit code, exactly one stderr line that
    starts with 'sealhsm: ' and names the object (each needle must occur in it)."""
    assert res.rc == code, f"expected exit {code}: {res}"
    err = res.errtext
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), f"not one line: {err!r}"
    assert lines[0].startswith("sealhsm: "), lines[0]
    for n in needles:
        assert str(n) in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]
