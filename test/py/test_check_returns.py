# SPDX-License-Identifier: Apache-2.0
"""scripts/check-returns fails on a status that breaks the return convention
(docs/architecture.md, Return conventions).

Each case runs the real script on a throwaway copy of the C folders with one violation
planted and checks that it exits 1 naming the file, line and function; the unchanged
copy passes.
"""
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "check-returns"
FOLDERS = ("util", "store", "wire", "client", "daemon", "tools", "pkcs11", "provider")


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for d in FOLDERS:
        if (REPO / d).is_dir():
            shutil.copytree(REPO / d, src / d, ignore=shutil.ignore_patterns("*.o", "build*"))
    return src


def check(src):
    return subprocess.run([sys.executable, str(SCRIPT), "--src", str(src)],
                          capture_output=True, text=True, timeout=120)


def plant(path, code):
    """Appends code to the file; returns the line its first line lands on."""
    text = path.read_text()
    path.write_text(text + code)
    return text.count("\n") + 1


def fails_at(tree, rel, code, offset, needle):
    """Plants code at the end of rel: the check fails naming rel, the line `offset` lines
    below the planted code's first (empty) line, and needle."""
    line = plant(tree / rel, code)
    r = check(tree)
    assert r.returncode == 1, r.stdout
    assert f"{rel}:{line + offset}: {needle}" in r.stderr, r.stderr
    return r.stderr


def test_clean_copy_passes(tree):
    r = check(tree)
    assert r.returncode == 0, r.stderr
    assert "returns clean" in r.stdout


def test_int_status_spelled_as_number_fails(tree):
    # the shape st_slot_open had: 1 for "opened", a number where an SU_* code belongs
    err = fails_at(tree, "store/slot.c",
                   "\nstatic int slot_opens(int ok) {\n    if (ok)\n        return 1;\n"
                   "    return SU_EPIN;\n}\n", 3, "slot_opens() returns int")
    assert "`return 1;`" in err


def test_int_returning_false_fails(tree):
    fails_at(tree, "wire/message.c", "\nint sw_planted(void) {\n    return false;\n}\n", 2,
             "sw_planted() returns int")


def test_bool_returning_su_code_fails(tree):
    fails_at(tree, "util/hex.c",
             "\nbool su_planted(su_error *e) {\n    return su_err(e, SU_EUSAGE, \"no\");\n}\n", 2,
             "su_planted() returns bool, not the SU_* code")


def test_predicate_not_bool_fails_in_provider_too(tree):
    fails_at(tree, "provider/signature.c",
             "\nstatic int is_planted(int alg) {\n    return alg == 3;\n}\n", 1,
             "is_planted() is a predicate")


@pytest.mark.parametrize("rel,code", [
    # OpenSSL's dispatch functions return 1 / 0: not a violation in provider/
    ("provider/signature.c",
     "\nstatic int planted_dispatch(void *vctx) {\n    return vctx != NULL ? 1 : 0;\n}\n"
     "static int planted_ok(void) {\n    return 1;\n}\n"),
    # what a comment or a string literal says is not code
    ("store/names.c",
     "\n/* int st_x(void) { return 1; } */\n"
     "static const char *planted_word(void) {\n    return \"return 1;\";\n}\n"),
], ids=["provider-openssl-1-0", "comments-and-strings"])
def test_allowed_shapes_pass(tree, rel, code):
    plant(tree / rel, code)
    r = check(tree)
    assert r.returncode == 0, r.stderr
