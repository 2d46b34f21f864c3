# SPDX-License-Identifier: Apache-2.0
"""scripts/check-layers fails on an upward include or call (docs/architecture.md, Layer table).

Each case runs the real script on a throwaway copy of the layer folders with one violation
planted, and checks that it exits 1 naming the file and the arrow; the unchanged copy passes.
"""
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "check-layers"


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    (src / "docs").mkdir(parents=True)
    shutil.copy(REPO / "docs" / "architecture.md", src / "docs")
    for d in ("util", "store", "tools", "provider", "client"):
        if (REPO / d).is_dir():
            shutil.copytree(REPO / d, src / d, ignore=shutil.ignore_patterns("*.o", "build*"))
    return src


def check(src, build=None):
    argv = [sys.executable, str(SCRIPT), "--src", str(src)]
    argv += ["--build", str(build or src / "no-build")]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_clean_copy_passes(tree):
    r = check(tree)
    assert r.returncode == 0, r.stderr
    assert "layers clean" in r.stdout


def test_upward_include_fails(tree):
    hex_c = tree / "util" / "hex.c"
    hex_c.write_text('#include "sealstore.h"\n' + hex_c.read_text())
    r = check(tree)
    assert r.returncode == 1
    assert "util/hex.c:1: util/ includes sealstore.h of store/" in r.stderr


def test_include_by_path_fails(tree):
    # a path to another folder's private header is resolved to that folder too
    f = tree / "store" / "names.c"
    f.write_text('#include "../tools/cli.h"\n' + f.read_text())
    r = check(tree)
    assert r.returncode == 1
    assert "store/names.c:1: store/ includes ../tools/cli.h of tools/" in r.stderr


def test_internal_header_of_another_folder_fails(tree):
    # tools/ may use store/, but only through sealstore.h
    f = tree / "tools" / "cmd_show.c"
    f.write_text('#include "../store/internal.h"\n' + f.read_text())
    r = check(tree)
    assert r.returncode == 1
    assert ("tools/cmd_show.c:1: tools/ includes ../store/internal.h, internal to store/ "
            "(only its seal*.h is public)") in r.stderr


def test_foreign_library_include_fails(tree):
    f = tree / "util" / "buf.c"
    f.write_text("#include <lmdb.h>\n" + f.read_text())
    r = check(tree)
    assert r.returncode == 1
    assert "util/buf.c:1: util/ includes <lmdb.h> of lmdb" in r.stderr


def test_upward_call_fails(tree, tmp_path):
    # objects laid out as CMake does (build/<folder>/CMakeFiles/<target>.dir/<file>.c.o):
    # a util object with an undefined symbol that only a store object defines
    (tree / "util" / "up.c").write_text("int st_planted(void);\nint su_up(void) { return st_planted(); }\n")
    (tree / "store" / "planted.c").write_text("int st_planted(void) { return 1; }\n")
    build = tmp_path / "build"
    for folder, target, name in (("util", "sealutil", "up.c"), ("store", "sealstore", "planted.c")):
        odir = build / folder / "CMakeFiles" / f"{target}.dir"
        odir.mkdir(parents=True)
        subprocess.run(["cc", "-c", "-o", str(odir / f"{name}.o"), str(tree / folder / name)],
                       check=True)
    r = check(tree, build)
    assert r.returncode == 1, r.stdout
    assert "util/up.c: util/ calls st_planted of store/ (store/planted.c)" in r.stderr
    # nothing else in that build is reported
    assert "1 upward or forbidden use(s)" in r.stderr


def test_store_call_cycle_fails(tree, tmp_path):
    # two store objects that call each other: store/ must stay a DAG
    (tree / "store" / "aa.c").write_text("int st_bb(void);\nint st_aa(void) { return st_bb(); }\n")
    (tree / "store" / "bb.c").write_text("int st_aa(void);\nint st_bb(void) { return st_aa(); }\n")
    odir = tmp_path / "build" / "store" / "CMakeFiles" / "sealstore.dir"
    odir.mkdir(parents=True)
    for name in ("aa.c", "bb.c"):
        subprocess.run(["cc", "-c", "-o", str(odir / f"{name}.o"), str(tree / "store" / name)],
                       check=True)
    r = check(tree, tmp_path / "build")
    assert r.returncode == 1, r.stdout
    assert "store/ call cycle between 2 files: aa.c bb.c" in r.stderr
    assert "aa.c -> bb.c: st_bb" in r.stderr and "bb.c -> aa.c: st_aa" in r.stderr
    assert "1 upward or forbidden use(s)" in r.stderr
