# SPDX-License-Identifier: Apache-2.0
"""Audit forwarding: with `init --syslog`, every program using the keystore (the
tool and openssl through the provider) copies each committed audit record to the
local syslog socket. The socket is redirected to a test socket through
$SEALHSM_SYSLOG_SOCKET."""
import socket

from conftest import FAST_KDF, SEALHSM, Keystore, run


def _drain(sock):
    msgs = []
    while True:
        try:
            msgs.append(sock.recv(4096).decode())
        except BlockingIOError:
            return msgs


def test_syslog_copy_from_tool_and_provider(tmp_path):
    path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    ks = Keystore(tmp_path / "ks", tmp_path)
    env = ks.env(so=True, SEALHSM_SYSLOG_SOCKET=path)
    run([SEALHSM, "init", "--syslog", *FAST_KDF], env=env, check=0)
    ks.sealhsm("keygen", "fw", "--type", "ec:P-256", env=env)
    (tmp_path / "m.txt").write_text("forward me\n")
    ks.openssl("dgst", "-sha256", "-sign", "sealhsm:fw", "-out", tmp_path / "m.sig",
               tmp_path / "m.txt", env=ks.env(SEALHSM_SYSLOG_SOCKET=path))
    msgs = _drain(sock)
    # facility authpriv: <85> notice for ok records, <84> warning for refusals
    assert all(m.startswith(("<85>", "<84>")) for m in msgs), msgs
    assert any("sealhsm[" in m and "op=init outcome=ok" in m for m in msgs), msgs
    assert any("op=keygen outcome=ok" in m and 'label="fw"' in m for m in msgs), msgs
    sign = [m for m in msgs if "op=sign outcome=ok" in m]
    assert len(sign) == 1 and 'program="openssl"' in sign[0] and 'digest="sha256"' in sign[0], msgs
    # the records sent are the committed ones: same count as the log holds
    exported = ks.sealhsm("audit", "export", "--format", "jsonl").out.splitlines()
    assert len(msgs) == len(exported) - 1  # export's own unlock comes after the drain


def test_no_syslog_without_the_flag(ks, tmp_path):
    path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    ks.keygen("quiet", "ed25519")
    ks.sealhsm("list", env=ks.env(SEALHSM_SYSLOG_SOCKET=path))
    assert _drain(sock) == []


def test_provider_param_syslog(ks, tmp_path):
    """The provider's `syslog = 1` copies that process's records even when the
    keystore was initialized without --syslog."""
    path = tmp_path / "log.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    ks.keygen("tls", "ec:P-256")
    (tmp_path / "m.txt").write_text("x\n")
    conf = ks.conf(extra_lines=["syslog = 1"])
    ks.openssl("dgst", "-sha256", "-sign", "sealhsm:tls", "-out", tmp_path / "m.sig",
               tmp_path / "m.txt", via="conf", conf=conf,
               env=ks.env(SEALHSM_SYSLOG_SOCKET=path))
    msgs = _drain(sock)
    assert any("op=unlock outcome=ok" in m and 'program="openssl"' in m for m in msgs), msgs
    assert any("op=sign outcome=ok" in m and 'label="tls"' in m for m in msgs), msgs
