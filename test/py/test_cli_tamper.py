# SPDX-License-Identifier: Apache-2.0
"""`sealhsm` against a tampered keystore: every single-byte change of a sealed key record
is exit 6 naming the key, never a crash; after `destroy` the sealed bytes are gone.
The record is located with lmdb-utils (mdb_copy, mdb_dump), never through the store."""
import concurrent.futures
import json
import os
import shutil
import subprocess

import pytest

import conftest
from conftest import SEALHSM, assert_fails

pytestmark = pytest.mark.usefixtures("secret_watch")


def key_records(path):
    """{key id hex: sealed record bytes} of the `keys` database."""
    dump = subprocess.run(["mdb_dump", "-s", "keys", str(path)], capture_output=True, text=True,
                          check=True).stdout
    body = dump.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].split()
    return {k: bytes.fromhex(v) for k, v in zip(body[0::2], body[1::2])}


def key_id(ks, label):
    return next(k["id"] for k in json.loads(ks.sealhsm("list", "--json").out)
                if k["label"] == label)


def test_every_byte_flip_of_a_key_record_is_exit_6(ks, tmp_path):
    ks.keygen("victim", "ed25519")
    ks.keygen("bystander", "ec:P-256")
    kid = key_id(ks, "victim")
    # a compacted copy holds each live record exactly once
    compact = tmp_path / "compact"
    compact.mkdir(mode=0o700)
    subprocess.run(["mdb_copy", "-c", str(ks.path), str(compact)], check=True)
    record = key_records(compact)[kid]
    image = (compact / "data.mdb").read_bytes()
    assert image.count(record) == 1
    offset = image.index(record)

    def flipped(i):
        d = tmp_path / f"flip{i}"
        d.mkdir(mode=0o700)
        data = bytearray(image)
        data[offset + i] ^= 0xFF
        (d / "data.mdb").write_bytes(bytes(data))
        os.chmod(d / "data.mdb", 0o600)  # a keystore file open to others is refused first
        cmd = ["show", "victim"] if i % 2 == 0 else ["list"]
        env = dict(ks.env(), SEALHSM_KEYSTORE=str(d))
        res = conftest.run([SEALHSM, *cmd], env=env)
        shutil.rmtree(d)
        return i, cmd, res

    workers = os.cpu_count() or 2
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for i, cmd, res in pool.map(flipped, range(len(record))):
            assert res.rc == 6, f"byte {i} of {len(record)}, {cmd}: {res}"
            assert_fails(res, 6, "victim")


def test_destroy_leaves_no_sealed_bytes(ks):
    ks.keygen("doomed", "ec:P-384")
    ks.keygen("kept", "ed25519")
    kid = key_id(ks, "doomed")
    record = key_records(ks.path)[kid]
    ks.sealhsm("destroy", "doomed", so=True)
    tombstone = key_records(ks.path)[kid]
    assert record not in tombstone
    # Every random-looking 32-byte window of the old record that the tombstone does not
    # keep (it keeps label, id, type and the public key): nonce, ciphertext and tag.
    sealed = {w for w in (record[i:i + 32] for i in range(len(record) - 31))
              if len(set(w)) >= 20 and w not in tombstone}
    assert len(sealed) > 100
    for f in ks.path.iterdir():
        data = f.read_bytes()
        assert record not in data, f
        hits = [w for w in sealed if w in data]
        assert not hits, f"{len(hits)} windows of the destroyed sealed record in {f}"
    ks.sealhsm("pubkey", "kept")
