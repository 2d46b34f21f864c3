# SPDX-License-Identifier: Apache-2.0
"""Field injection in the key=value audit lines (issue 14, item 12).

A signer chooses its program name (a copy of openssl named `x outcome=ok`), key
labels may hold spaces and quotes, and a state change's reason may hold quotes,
newlines and `key=value` text. The syslog copy (store/audit.c) and
`audit export --format text` must still give one line per record in which a
key=value parser reads each key once, with the true value (compared with the
JSONL export, which was always escaped)."""
import json
import re
import shutil
import socket

from conftest import OPENSSL, audit_records, run

# key=value tokens: a bare word or a double-quoted string with backslash escapes
TOKEN = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')
UNESC = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def unquote(v):
    if not v.startswith('"'):
        return v
    body = v[1:-1]
    out, i = bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            n = body[i + 1]
            if n == "x":
                out.append(int(body[i + 2:i + 4], 16))
                i += 4
                continue
            out += UNESC[n].encode()
            i += 2
            continue
        out += c.encode()
        i += 1
    return out.decode()


def parse(rest):
    """A strict key=value parse of a whole line remainder: every byte belongs to a
    token or to the single spaces between them; returns [(key, value)]."""
    pairs, pos = [], 0
    while pos < len(rest):
        assert rest[pos] == " ", f"junk at {pos}: {rest[pos:pos + 40]!r} in {rest!r}"
        m = TOKEN.match(rest, pos + 1)
        if m is None and rest[pos + 1:] == "(unauthenticated)":
            break
        assert m, f"not a key=value token at {pos + 1}: {rest[pos + 1:pos + 40]!r} in {rest!r}"
        pairs.append((m.group(1), unquote(m.group(2))))
        pos = m.end()
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"a key appears twice: {keys} in {rest!r}"
    return dict(pairs)


def expect(rec, fields):
    """The JSONL record's free-text values, as the syslog line must carry them (an
    absent label or digest is a bare -, an absent reason "")."""
    return {k: (rec[k] if rec[k] is not None else "" if k == "reason" else "-")
            for k in fields}


WEIRD_LABEL = 'we ird "x" outcome\\'
REASON = 'suspected leak: he said "rotate"\nop=sign outcome=ok user=root\r\tend'
PROGRAM = "x outcome=ok"


def _scenario(ks, tmp_path, sock_path):
    env = ks.env(SEALHSM_SYSLOG_SOCKET=sock_path)
    ks.sealhsm("keygen", WEIRD_LABEL, "--type", "ec:P-256", so=True, env=ks.env(
        so=True, SEALHSM_SYSLOG_SOCKET=sock_path))
    ks.sealhsm("keygen", "plain", "--type", "ec:P-256", so=True, env=ks.env(
        so=True, SEALHSM_SYSLOG_SOCKET=sock_path))
    # a copy of openssl whose program name is chosen to fake a field
    fake = tmp_path / PROGRAM
    shutil.copy(OPENSSL, fake)
    data = tmp_path / "m.txt"
    data.write_text("x\n")
    ref = tmp_path / "weird.keyref.pem"
    ks.sealhsm("keyref", WEIRD_LABEL, "--out", ref)
    for key in (str(ref), "sealhsm:plain"):
        run([fake, "dgst", "-sha256", "-provider-path", ks.provider_args()[1], "-provider",
             "sealhsm", "-provider", "default", "-sign", key, "-out", tmp_path / "m.sig", data],
            env=env, check=0, preload=True)
    ks.sealhsm("disable", "plain", "--reason", REASON, so=True,
               env=ks.env(so=True, SEALHSM_SYSLOG_SOCKET=sock_path))


def _drain(sock):
    out = []
    while True:
        try:
            out.append(sock.recv(65536).decode())
        except BlockingIOError:
            return out


FREE = ("user", "program", "label", "digest", "reason")


def test_syslog_and_text_lines_cannot_be_forged(tmp_path):
    from conftest import FAST_KDF, SEALHSM, Keystore
    ks = Keystore(tmp_path / "ks", tmp_path)
    run([SEALHSM, "init", "--syslog", *FAST_KDF], env=ks.env(so=True), check=0)
    path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    _scenario(ks, tmp_path, path)
    msgs = _drain(sock)
    recs = {r["seq"]: r for r in audit_records(ks)}

    # the syslog copy: one datagram, one line, per record
    seen = set()
    for m in msgs:
        assert "\n" not in m and "\r" not in m, m
        head, rest = m.split(": audit", 1)
        f = parse(rest)
        rec = recs[int(f["seq"])]
        seen.add(rec["seq"])
        assert f["op"] == rec["op"] and f["outcome"] == rec["outcome"], (f, rec)
        assert f == {**f, **expect(rec, FREE)}, (f, rec)
        assert set(f) == {"seq", "op", "outcome", "user", "uid", "program", "label", "key_id",
                          "digest", "tbs_hash", "hash", "reason"}, f
    signs = [recs[s] for s in seen if recs[s]["op"] == "sign"]
    assert len(signs) == 2 and all(r["program"] == PROGRAM and r["outcome"] == "ok"
                                   for r in signs), signs
    assert {r["label"] for r in signs} == {WEIRD_LABEL, "plain"}
    assert any(recs[s]["reason"] and REASON in recs[s]["reason"] for s in seen)

    # `audit export --format text`: same rule, every record
    lines = ks.sealhsm("audit", "export", "--format", "text").out.splitlines()
    assert len(lines) == len(recs) + 1  # and the export's own unlock
    for line in lines:
        seq, time_, rest = line.split(" ", 2)
        f = parse(" " + rest)
        if int(seq) not in recs:
            continue
        rec = recs[int(seq)]
        assert f["op"] == rec["op"] and f["outcome"] == rec["outcome"], (line, rec)
        assert int(f["pid"]) == rec["pid"]
        for k in FREE:
            assert f.get(k) == (rec[k] or None), (k, line, rec)
    text_signs = [parse(" " + l.split(" ", 2)[2]) for l in lines if " op=sign " in l]
    assert {t["program"] for t in text_signs} == {PROGRAM}
    assert any(parse(" " + l.split(" ", 2)[2]).get("reason", "").endswith(REASON) for l in lines)
