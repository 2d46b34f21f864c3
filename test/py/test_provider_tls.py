# SPDX-License-Identifier: Apache-2.0
"""TLS servers with keystore keys: stock `openssl s_server -key sealhsm:LABEL`
accepts a stock `openssl s_client` (no provider) over TLS 1.2 and TLS 1.3
(issue 3). Loopback only; every process runs under a timeout."""
import os
import select
import socket
import subprocess
import time

import pytest

import conftest
from conftest import OPENSSL, PROVIDER_KEYS, VIAS

# every test runs with the keystore in the process and through sealhsmd
pytestmark = pytest.mark.usefixtures("sealhsm_mode")

TLS_VERSIONS = {"tls1_2": "TLSv1.2", "tls1_3": "TLSv1.3"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """s_server serving one HTTP request (-www -naccept 1), started with the provider."""

    def __init__(self, pks, label, cert, version, via):
        self.port = free_port()
        args = ["-key", f"sealhsm:{label}", "-cert", cert, "-accept", f"127.0.0.1:{self.port}",
                "-naccept", "1", f"-{version}", "-www"]
        env = pks.env()
        if via == "cli":
            args = [*pks.provider_args(), *args]
        else:
            env["OPENSSL_CONF"] = str(pks.conf(name=f"tls-{label}.cnf"))
        if conftest.ASAN:
            env["LD_PRELOAD"] = conftest._asan_preload()
        self.proc = subprocess.Popen([OPENSSL, "s_server", *map(str, args)], env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = b""
        self._wait_for(b"ACCEPT", timeout=20)

    def _wait_for(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while marker not in self.out:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"s_server did not start: {self.out!r} {self.proc.stderr.read()!r}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                self.out += os.read(self.proc.stdout.fileno(), 4096)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        out, err = self.proc.communicate(timeout=20)
        return self.out + out, err

    def finish(self):
        """Waits for the server to exit after its one connection."""
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        return self.proc.returncode, *self.stop()


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("version", TLS_VERSIONS)
@pytest.mark.parametrize("label", PROVIDER_KEYS)
def test_s_server_with_keystore_key(pks, tmp_path, label, version, via):
    cert = tmp_path / "server.pem"
    pks.openssl("req", "-new", "-x509", "-key", f"sealhsm:{label}", "-subj", "/CN=localhost",
                "-days", "30", "-out", cert, via="cli")
    server = Server(pks, label, cert, version, via)
    try:
        client = conftest.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{server.port}",
                               "-brief", "-ign_eof", "-CAfile", cert, "-verify_return_error",
                               f"-{version}"],
                              input="GET / HTTP/1.0\r\n\r\n", timeout=30, check=None)
    finally:
        rc, out, err = server.finish()
    assert client.rc == 0, client
    assert f"Protocol version: {TLS_VERSIONS[version]}" in client.err
    assert "Verification: OK" in client.err
    assert "HTTP/1.0 200 ok" in client.out
    assert rc == 0, (out, err)
    assert b"error" not in err.lower(), err
