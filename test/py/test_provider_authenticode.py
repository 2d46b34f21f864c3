# SPDX-License-Identifier: Apache-2.0
"""Authenticode: osslsigncode signs a PE file with `-key` = a `sealhsm keyref` file
while the provider is active through OPENSSL_CONF, and `osslsigncode verify`
accepts the signature (issue 3). osslsigncode reads the key file with
PEM_read_bio_PrivateKey, so this goes through the provider's decoder."""
import shutil
import struct

import pytest

import conftest
from conftest import HASH_KEYS

OSSLSIGNCODE = shutil.which("osslsigncode")
pytestmark = [pytest.mark.skipif(OSSLSIGNCODE is None, reason="osslsigncode not installed"),
              # with the keystore in the process and through sealhsmd
              pytest.mark.usefixtures("sealhsm_mode")]


def minimal_pe32():
    """The smallest well-formed PE32 console executable: headers plus one .text
    section holding a single `ret`."""
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)  # e_lfanew
    coff = struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x0102)  # i386, 1 section
    optional = struct.pack(
        "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
        0x10B, 14, 0,                 # PE32 magic, linker version
        0x200, 0, 0,                  # sizes of code, initialized, uninitialized data
        0x1000, 0x1000, 0x1000,       # entry point, base of code, base of data
        0x400000, 0x1000, 0x200,      # image base, section and file alignment
        6, 0, 0, 0, 6, 0,             # OS, image, subsystem versions
        0, 0x2000, 0x200, 0,          # win32 version, size of image/headers, checksum
        3, 0x8140,                    # console subsystem, NX | dynamic base | TS aware
        0x100000, 0x1000, 0x100000, 0x1000, 0, 16)  # stack/heap, loader flags, 16 dirs
    optional += bytes(16 * 8)         # data directories, security directory empty
    section = struct.pack("<8sIIIIIIHHI", b".text", 1, 0x1000, 0x200, 0x200, 0, 0, 0, 0,
                          0x60000020)
    headers = bytes(dos) + b"PE\0\0" + coff + optional + section
    return headers + bytes(0x200 - len(headers)) + b"\xc3" + bytes(0x1FF)


def osslsigncode(*args, env, check=0):
    return conftest.run([OSSLSIGNCODE, *args], env=env, check=check, preload=True)


@pytest.mark.parametrize("md", ["sha256", "sha384"])
@pytest.mark.parametrize("label", HASH_KEYS)
def test_osslsigncode_signs_pe_with_keyref(pks, tmp_path, label, md):
    cert = tmp_path / "codesign.pem"
    pks.openssl("req", "-new", "-x509", "-key", f"sealhsm:{label}", "-subj",
                f"/CN=sealhsm code signing {label}", "-days", "30", "-addext",
                "extendedKeyUsage=codeSigning", "-addext", "keyUsage=critical,digitalSignature",
                "-out", cert, via="cli")
    keyref = tmp_path / "codesign.keyref"
    pks.sealhsm("keyref", label, "--out", keyref)
    exe = tmp_path / "tiny.exe"
    exe.write_bytes(minimal_pe32())
    signed = tmp_path / "signed.exe"

    env = pks.env(OPENSSL_CONF=pks.conf(name=f"authenticode-{label}.cnf"))
    res = osslsigncode("sign", "-certs", cert, "-key", keyref, "-h", md, "-n", "sealhsm test",
                       "-in", exe, "-out", signed, env=env)
    assert "Succeeded" in res.out

    res = osslsigncode("verify", "-in", signed, "-CAfile", cert, env=conftest.base_env())
    assert "Signature verification: ok" in res.out
    assert f"Message digest algorithm  : {md.upper()}" in res.out

    tampered = bytearray(signed.read_bytes())
    tampered[0x200] ^= 0xFF  # the code section
    bad = tmp_path / "tampered.exe"
    bad.write_bytes(bytes(tampered))
    res = osslsigncode("verify", "-in", bad, "-CAfile", cert, env=conftest.base_env(),
                       check=None)
    assert res.rc != 0 and "Signature verification: ok" not in res.out
