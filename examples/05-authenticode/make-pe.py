#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the smallest well-formed PE32 console executable (headers plus one .text
section holding a single `ret`) to the path given, as a stand-in for your build's
.exe/.dll when trying the Authenticode example. Usage: make-pe.py OUT.exe"""
import struct
import sys


def minimal_pe32():
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
    optional += bytes(16 * 8)         # data directories; the security one is empty
    section = struct.pack("<8sIIIIIIHHI", b".text", 1, 0x1000, 0x200, 0x200, 0, 0, 0, 0,
                          0x60000020)
    headers = bytes(dos) + b"PE\0\0" + coff + optional + section
    return headers + bytes(0x200 - len(headers)) + b"\xc3" + bytes(0x1FF)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], "wb") as f:
        f.write(minimal_pe32())
