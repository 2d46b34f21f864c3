# SPDX-License-Identifier: Apache-2.0
"""Issue 4 (docs/reference.md, Audit log): the audit log. `audit export` after a scripted session is exactly
the sequence of what happened; `audit verify` passes, and exits 6 naming the record
after any edit, deletion, reordering or insertion done with lmdb-utils; signatures
fail closed when the audit record cannot be committed; concurrent signers leave
exactly one record per signature."""
import concurrent.futures
import hashlib
import json
import os
import pwd
import re
import subprocess

import pytest

import conftest
from conftest import Signer, assert_fails, audit_records, copy_keystore, mdb_records, mdb_rewrite

ME = pwd.getpwuid(os.getuid()).pw_name


def norm_digest(d):
    """Digest names as the policy spells them (sha256); the spelling itself is checked
    by test_digest_spelling_is_consistent."""
    if d is None:
        return "none"
    d = d.lower()
    return re.sub(r"^sha2-", "sha", d)


def key_ids(ks):
    return {k["label"]: k["id"] for k in json.loads(ks.sealhsm("list", "--json").out)}


# -- the exact sequence ---------------------------------------------------------------

def test_export_matches_scripted_session(ks, signer, tmp_path):
    exp = [("init", "ok", None, None, "sealhsm")]

    def so(op, label, *args, **kw):
        ks.sealhsm(*args, so=True, **kw)
        exp.append(("unlock", "ok", None, None, "sealhsm"))
        exp.append((op, "ok", label, None, "sealhsm"))

    so("keygen", "app", "keygen", "app", "--type", "ec:P-256", "--digests", "sha256,sha384")
    so("keygen", "fw", "keygen", "fw", "--type", "ed25519")
    for label in ("app", "fw"):                                   # `sealhsm pubkey`
        signer.pubkey(label)
        exp.append(("unlock", "ok", None, None, "sealhsm"))
    tbs = {}

    def signed(label, how, digest, outcome, ok=True):
        if ok:
            sig, data = signer.ok(label, how, digest)
        else:
            res, sig, data = signer.sign(label, how, digest)
            assert res.rc != 0
        exp.append(("unlock", "ok", None, None, "openssl"))
        exp.append(("sign", outcome, label, digest, "openssl"))
        if ok:
            tbs[len(exp)] = hashlib.new(conftest.HASHLIB[digest], data.read_bytes()).hexdigest()

    signed("app", "dgst", "sha256", "ok")
    signed("app", "pkeyutl", "sha384", "ok")
    signed("app", "dgst", "sha1", "denied", ok=False)
    signed("app", "pkeyutl", "sha512", "denied", ok=False)
    # Ed25519 signs the message: digest none, tbs_hash = SHA-256 of the message (README)
    data = signer.data(b"firmware image\n")
    sig = tmp_path / "fw.sig"
    ks.openssl("pkeyutl", "-sign", "-rawin", "-in", data, "-inkey", "sealhsm:fw", "-out", sig)
    ks.openssl("pkeyutl", "-verify", "-pubin", "-inkey", signer.pubkey("fw"), "-rawin", "-in",
               data, "-sigfile", sig, via=None)
    exp.append(("unlock", "ok", None, None, "openssl"))
    exp.append(("sign", "ok", "fw", "none", "openssl"))
    tbs[len(exp)] = hashlib.sha256(data.read_bytes()).hexdigest()

    so("state", "app", "disable", "app")
    signed("app", "dgst", "sha256", "denied", ok=False)
    so("state", "app", "enable", "app")
    so("officer", None, "officer", "add", "alice", SEALHSM_OFFICER_PIN="alice-pin-1111")
    so("policy", "app", "policy", "app", "--max-signatures", "10")
    # a wrong user PIN: one denied unlock, nothing else
    res = ks.sealhsm("list", check=None, env=dict(ks.env(), SEALHSM_PIN="not-the-user-pin"))
    assert_fails(res, 4)
    exp.append(("unlock", "denied", None, None, "sealhsm"))
    so("state", "fw", "revoke", "fw", "--reason", "compromised")
    so("backup", None, "backup", "--out", tmp_path / "b.bak")
    exp.append(("unlock", "ok", None, None, "sealhsm"))          # the export's own login

    recs = audit_records(ks)
    got = [(r["op"], r["outcome"], r["label"],
            norm_digest(r["digest"]) if r["op"] == "sign" else None, r["program"])
           for r in recs]
    assert got == exp
    ids = key_ids(ks)
    for i, r in enumerate(recs, 1):
        assert r["seq"] == i
        assert r["user"] == ME and r["pid"] > 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r["time"]), r
        assert re.fullmatch(r"[0-9a-f]{64}", r["prev_hash"]), r
        # a failed unlock before any login stays unauthenticated (docs/security.md)
        if (r["op"], r["outcome"]) == ("unlock", "denied") and r["mac"] is None:
            continue
        assert re.fullmatch(r"[0-9a-f]{64}", r["mac"]), r
        assert r["key_id"] == (ids[r["label"]] if r["label"] else None), r
        if i in tbs:
            assert r["tbs_hash"] == tbs[i], r
    assert recs[0]["prev_hash"] == "0" * 64
    assert len({r["prev_hash"] for r in recs}) == len(recs)
    assert [r["time"] for r in recs] == sorted(r["time"] for r in recs)
    reasons = {(r["op"], r["label"]): r["reason"] for r in recs if r["outcome"] == "denied"}
    assert "digests" in reasons[("sign", "app")] or "disabled" in reasons[("sign", "app")]
    assert "compromised" in [r for r in recs if r["op"] == "state" and r["label"] == "fw"][-1][
        "reason"]
    den = [r for r in recs if r["op"] == "sign" and r["outcome"] == "denied"]
    assert ["SHA1" in r["reason"] or "sha1" in r["reason"] for r in den][0]
    assert "disabled" in den[-1]["reason"]
    out = ks.sealhsm("audit", "verify").out
    assert f"{len(recs) + 2} records" in out           # + the logins of `list` and `verify`
    # --since is inclusive
    since = audit_records(ks, since=5)
    assert since[0]["seq"] == 5 and since[:len(recs) - 4] == recs[4:]
    assert [r["seq"] for r in since] == list(range(5, len(recs) + 4))
    text = ks.sealhsm("audit", "export", "--format", "text").out
    assert len(text.splitlines()) >= len(recs)
    assert "compromised" in text


def test_digest_spelling_is_consistent(ks, signer):
    """Allowed and refused signature records name the same digest the same way (the
    spelling of --digests), so a SIEM query for digest=sha256 finds both."""
    ks.keygen("only384", "ec:P-384", "--digests", "sha384")
    ks.keygen("any", "ec:P-256")
    signer.ok("any", "dgst", "sha256")
    signer.refused("only384", "digests", "dgst", "sha256")
    signer.refused("any", "digests", "dgst", "sha1")
    recs = {(r["label"], r["outcome"]): r for r in audit_records(ks) if r["op"] == "sign"}
    assert recs[("any", "ok")]["digest"] == "sha256"
    assert recs[("only384", "denied")]["digest"] == "sha256"
    assert recs[("any", "denied")]["digest"] == "sha1"


def test_eddsa_record_digest_none(ks, signer):
    """README, decisions: EdDSA records carry digest `none` and the SHA-256 of the
    message as tbs_hash."""
    ks.keygen("ed", "ed25519")
    data = signer.data()
    ks.openssl("pkeyutl", "-sign", "-rawin", "-in", data, "-inkey", "sealhsm:ed", "-out",
               ks.tmp / "ed.sig")
    rec = [r for r in audit_records(ks) if r["op"] == "sign"][-1]
    assert rec["tbs_hash"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert rec["digest"] == "none"


# -- tampering --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One keystore with a few dozen audit records, shared by the tampering tests:
    each edits its own copy."""
    tmp = tmp_path_factory.mktemp("audit-session")
    ks = conftest.Keystore(tmp / "ks", tmp)
    conftest.run([conftest.SEALHSM, "init", *conftest.FAST_KDF], env=ks.env(so=True), check=0)
    signer = Signer(ks)
    ks.keygen("a", "ec:P-256")
    ks.keygen("b", "ec:P-256", "--digests", "sha384")
    for i in range(4):
        signer.ok("a", "dgst" if i % 2 else "pkeyutl")
    signer.refused("b", "digests", audit=False)
    ks.sealhsm("disable", "a", so=True)
    ks.sealhsm("enable", "a", so=True)
    ks.sealhsm("audit", "verify")
    return ks


def seq_of(key):
    return int.from_bytes(key, "big")


def key_of(seq):
    return seq.to_bytes(8, "big")


def verify_fails_naming(k, seq):
    res = k.sealhsm("audit", "verify", check=None)
    line = assert_fails(res, 6)
    assert re.search(rf"\brecord {seq}\b", line), f"record {seq} not named: {line}"
    return line


def test_untouched_copy_verifies(session, tmp_path):
    k = copy_keystore(session, "copy", tmp_path)
    mdb_rewrite(k.path, "audit", mdb_records(k.path, "audit"))   # dump + reload, no change
    k.sealhsm("audit", "verify")


BYTE_POSITIONS = [1, 9, 17, 40, 80, -33, -32, -1]    # seq, time, user..., auth flag, MAC


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_byte_changed(session, tmp_path, where):
    recs = mdb_records(session.path, "audit")
    i = {"first": 0, "middle": len(recs) // 2, "last": len(recs) - 1}[where]
    key, value = recs[i]
    for pos in BYTE_POSITIONS:
        k = copy_keystore(session, f"t{pos}", tmp_path)
        b = bytearray(value)
        b[pos] ^= 0x01
        mdb_rewrite(k.path, "audit", recs[:i] + [(key, bytes(b))] + recs[i + 1:])
        verify_fails_naming(k, seq_of(key))


def test_version_byte_changed(session, tmp_path):
    recs = mdb_records(session.path, "audit")
    i = len(recs) // 2
    key, value = recs[i]
    k = copy_keystore(session, "t", tmp_path)
    mdb_rewrite(k.path, "audit", recs[:i] + [(key, bytes([value[0] ^ 1]) + value[1:])]
                + recs[i + 1:])
    verify_fails_naming(k, seq_of(key))


def test_middle_record_deleted(session, tmp_path):
    recs = mdb_records(session.path, "audit")
    i = len(recs) // 2
    k = copy_keystore(session, "t", tmp_path)
    mdb_rewrite(k.path, "audit", recs[:i] + recs[i + 1:])
    verify_fails_naming(k, seq_of(recs[i][0]))


@pytest.mark.parametrize("n", [1, 3])
def test_last_records_deleted(session, tmp_path, n):
    recs = mdb_records(session.path, "audit")
    k = copy_keystore(session, "t", tmp_path)
    mdb_rewrite(k.path, "audit", recs[:-n])
    line = verify_fails_naming(k, seq_of(recs[-n][0]))
    # the head still names the last record written: the cut is reported as such
    assert f"is missing: the log ends at record {seq_of(recs[-n][0]) - 1}" in line, line
    assert re.search(rf"head names record {seq_of(recs[-1][0])}\b", line), line


def test_first_record_deleted(session, tmp_path):
    recs = mdb_records(session.path, "audit")
    k = copy_keystore(session, "t", tmp_path)
    mdb_rewrite(k.path, "audit", recs[1:])
    verify_fails_naming(k, 1)


@pytest.mark.parametrize("gap", [1, 5])
def test_two_records_swapped(session, tmp_path, gap):
    recs = mdb_records(session.path, "audit")
    i = len(recs) // 3
    j = i + gap
    k = copy_keystore(session, "t", tmp_path)
    (ki, vi), (kj, vj) = recs[i], recs[j]
    recs[i], recs[j] = (ki, vj), (kj, vi)
    mdb_rewrite(k.path, "audit", recs)
    verify_fails_naming(k, seq_of(ki))


@pytest.mark.parametrize("src", ["previous", "earlier"])
def test_copied_record_inserted(session, tmp_path, src):
    """A copy of an earlier record inserted in the middle, later records renumbered."""
    recs = mdb_records(session.path, "audit")
    i = len(recs) // 2
    copy = recs[i - 1 if src == "previous" else 2][1]
    out = recs[:i] + [(recs[i][0], copy)] + [(key_of(seq_of(kk) + 1), v) for kk, v in recs[i:]]
    k = copy_keystore(session, "t", tmp_path)
    mdb_rewrite(k.path, "audit", out)
    verify_fails_naming(k, seq_of(recs[i][0]))


def test_copied_record_appended_is_never_part_of_the_log(session, tmp_path):
    """A copy put after the head: either verify names it, or new records overwrite it
    (they chain from the MACed head) and the copy never shows up in the log."""
    recs = mdb_records(session.path, "audit")
    last = seq_of(recs[-1][0])
    k = copy_keystore(session, "t", tmp_path)
    mdb_rewrite(k.path, "audit", recs + [(key_of(last + 1), recs[3][1])])
    res = k.sealhsm("audit", "verify", check=None)
    if res.rc == 6:
        assert re.search(rf"\brecord {last + 1}\b", assert_fails(res, 6))
    else:
        assert res.rc == 0, res
        exported = audit_records(k)
        assert [r["seq"] for r in exported] == list(range(1, len(exported) + 1))
        macs = [r["mac"] for r in exported]
        assert len(set(macs)) == len(macs), "a copied record is part of the exported log"


# -- fail closed ----------------------------------------------------------------------

def _cert(tmp, name, pad=0):
    """A self-signed certificate, with a `pad`-character comment extension."""
    key = tmp / f"{name}.key"
    cert = tmp / f"{name}.pem"
    args = [conftest.OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
            "-subj", f"/CN={name}", "-days", "2"]
    if pad:
        args += ["-addext", "nsComment=" + "x" * pad]
    conftest.run(args, check=0)
    return cert


def _padded_chain(tmp, n, pad):
    """n padded CA certificates, ca1 issued by ca2 ... caN self-signed: (ca1's key,
    ca1, the chain file ca1..caN)."""
    top = _cert(tmp, f"ca{n}", pad)
    for i in range(n - 1, 0, -1):
        csr = tmp / f"ca{i}.csr"
        conftest.run([conftest.OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-nodes", "-keyout", tmp / f"ca{i}.key",
                      "-subj", f"/CN=ca{i}", "-addext", "nsComment=" + "x" * pad,
                      "-out", csr], check=0)
        conftest.run([conftest.OPENSSL, "x509", "-req", "-in", csr, "-CA", tmp / f"ca{i + 1}.pem",
                      "-CAkey", tmp / f"ca{i + 1}.key", "-copy_extensions", "copy",
                      "-set_serial", str(i), "-days", "2", "-out", tmp / f"ca{i}.pem"], check=0)
    chain = tmp / "chain.pem"
    chain.write_bytes(b"".join((tmp / f"ca{i}.pem").read_bytes() for i in range(1, n + 1)))
    assert top.exists()
    return tmp / "ca1.key", tmp / "ca1.pem", chain


def _hsm_cert(ks, tmp, label, ca_key, ca_cert):
    """A certificate for LABEL's key: CSR signed by the HSM key, issued by a test CA."""
    csr = tmp / f"{label}.csr"
    cert = tmp / f"{label}.pem"
    ks.openssl("req", "-new", "-key", f"sealhsm:{label}", "-subj", f"/CN={label}", "-out", csr)
    ks.openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
               "-days", "30", "-out", cert, via=None)
    return cert


def test_fail_closed_when_the_map_is_full(ks, signer, tmp_path):
    """SEALHSM_MAP_MIB=1 (the store's fault-injection knob) on a keystore whose data
    file has grown past 1 MiB: LMDB maps exactly the pages in use, so signing soon
    fails to commit its audit record. Every failure leaves no signature; afterwards
    the chain verifies and there is one ok sign record per released signature."""
    ks.keygen("art", "ec:P-256")
    ks.keygen("pad1", "ec:P-256")
    ks.keygen("pad2", "ec:P-256")
    # grow the file past 1 MiB with two ~700 KB certificate chains (SO commands): 15
    # padded CA certificates, each issued by the next (cert import keeps only the
    # certificates that chain the leaf)
    ca_key, ca, chain = _padded_chain(tmp_path, 15, 48000)
    assert 900 << 10 < chain.stat().st_size < 1 << 20
    for label in ("pad1", "pad2"):
        ks.sealhsm("cert", "import", label, _hsm_cert(ks, tmp_path, label, ca_key, ca), chain,
                   so=True)
    assert (ks.path / "data.mdb").stat().st_size > 1 << 20
    pub = signer.pubkey("art")
    released = 0
    knob = ks.env(SEALHSM_MAP_MIB="1")
    failed = None
    for _ in range(200):
        res, sig, data = signer.sign("art", env=knob)
        if res.rc != 0:
            failed = (res, sig)
            break
        signer.verify(pub, sig, data)
        released += 1
    assert failed is not None, "the map never filled up"
    res, sig = failed
    assert not sig.exists() or sig.stat().st_size == 0, res
    assert re.search(r"sealhsm: .*(is full|no space)", res.errtext), res
    # still full: still no signature
    res, sig, _ = signer.sign("art", env=knob)
    assert res.rc != 0 and (not sig.exists() or sig.stat().st_size == 0), res
    # without the knob: the chain verifies and matches what was released
    ks.sealhsm("audit", "verify")
    recs = audit_records(ks)
    ok = [r for r in recs if r["op"] == "sign" and r["label"] == "art" and r["outcome"] == "ok"]
    assert len(ok) == released
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    signer.ok("art")


# -- concurrency ----------------------------------------------------------------------

def test_8_processes_x_50_signatures(ks, signer, tmp_path):
    """8 concurrent `openssl dgst -sign` loops of 50 signatures on one key. Under ASan
    (each openssl start costs ~10x) the loops are 8 x 12: same code paths, still
    concurrent commits, within the suite's time budget."""
    ks.keygen("busy", "ec:P-256")
    pub = signer.pubkey("busy")
    work = tmp_path / "work"
    work.mkdir()
    procs, per = 8, (12 if conftest.ASAN else 50)

    def loop(w):
        out = []
        for i in range(per):
            data = work / f"{w}-{i}.txt"
            data.write_bytes(f"worker {w} artifact {i}\n".encode())
            sig = work / f"{w}-{i}.sig"
            res = ks.openssl("dgst", "-sha256", "-sign", "sealhsm:busy", "-out", sig, data,
                             check=None)
            out.append((res, data, sig))
        return out

    with concurrent.futures.ThreadPoolExecutor(max_workers=procs) as pool:
        results = [r for rs in pool.map(loop, range(procs)) for r in rs]
    assert len(results) == procs * per
    bad = [r for r in results if r[0].rc != 0]
    assert not bad, f"{len(bad)} signatures failed, e.g. {bad[0][0]}"

    def verify(item):
        _, data, sig = item
        return subprocess.run([conftest.OPENSSL, "dgst", "-sha256", "-verify", str(pub),
                               "-signature", str(sig), str(data)],
                              capture_output=True).returncode
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        assert list(pool.map(verify, results)) == [0] * len(results)
    recs = audit_records(ks)
    signs = [r for r in recs if r["op"] == "sign"]
    assert len([r for r in signs if r["outcome"] == "ok" and r["label"] == "busy"]) == procs * per
    assert len(signs) == procs * per
    assert {r["tbs_hash"] for r in signs} == {
        hashlib.sha256(d.read_bytes()).hexdigest() for _, d, _ in results}
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    ks.sealhsm("audit", "verify")
    import json as _j
    assert _j.loads(ks.sealhsm("show", "busy", "--json").out)["usage"]["signatures"] == procs * per
