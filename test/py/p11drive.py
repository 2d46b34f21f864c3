# SPDX-License-Identifier: Apache-2.0
"""Drives sealhsm-pkcs11.so directly through ctypes, for return codes no stock
client shows (test_pkcs11_policy.py). Run as a program so that an ASan build can
get its runtime preloaded:

    p11drive.py MODULE 'JSON list of steps'

Each step is an object {"op": ...}; the output is one JSON list with a result
object per step, always carrying "rv" (the CKR_ name, or hex when unnamed).
Steps: login {pin, user: "user"|"context"}, logout, sign {mech, id, data (hex),
pss: [hash, mgf, slen], parts: [n, ...] (multi-part split), pin: context PIN},
attrs {cls, id, attrs: [names]}, verify {mech, id, data, sig (hex), cls}, find {cls},
refuse {what},
fork {steps} (the steps run in a forked child after C_Initialize there),
threads {n, count, mech, id, data} (n threads, each its own session, signing
count times), race {n, count, mech, id, data, cycles, pin} (threads signing
while this thread logs out and in cycles times, then count times more).
"""
import ctypes as C
import json
import os
import sys
import threading

CKR = {0x0: "CKR_OK", 0xc0: "CKR_SIGNATURE_INVALID", 0xc1: "CKR_SIGNATURE_LEN_RANGE", 0x5: "CKR_GENERAL_ERROR", 0x7: "CKR_ARGUMENTS_BAD",
       0x12: "CKR_ATTRIBUTE_TYPE_INVALID", 0x11: "CKR_ATTRIBUTE_SENSITIVE",
       0x21: "CKR_DATA_LEN_RANGE", 0x20: "CKR_DATA_INVALID", 0x30: "CKR_DEVICE_ERROR",
       0x54: "CKR_FUNCTION_NOT_SUPPORTED", 0x60: "CKR_KEY_HANDLE_INVALID",
       0x63: "CKR_KEY_TYPE_INCONSISTENT", 0x68: "CKR_KEY_FUNCTION_NOT_PERMITTED",
       0x70: "CKR_MECHANISM_INVALID", 0x71: "CKR_MECHANISM_PARAM_INVALID",
       0x82: "CKR_OBJECT_HANDLE_INVALID", 0x90: "CKR_OPERATION_ACTIVE",
       0x91: "CKR_OPERATION_NOT_INITIALIZED", 0xa0: "CKR_PIN_INCORRECT",
       0xa4: "CKR_PIN_LOCKED", 0xb3: "CKR_SESSION_HANDLE_INVALID",
       0xe2: "CKR_TOKEN_WRITE_PROTECTED", 0x100: "CKR_USER_ALREADY_LOGGED_IN",
       0x101: "CKR_USER_NOT_LOGGED_IN", 0x103: "CKR_USER_TYPE_INVALID",
       0x150: "CKR_BUFFER_TOO_SMALL", 0x190: "CKR_CRYPTOKI_NOT_INITIALIZED",
       0x191: "CKR_CRYPTOKI_ALREADY_INITIALIZED", 0x200: "CKR_FUNCTION_REJECTED"}
MECH = {"RSA_PKCS": 0x1, "RSA_PKCS_PSS": 0xd, "SHA256_RSA_PKCS": 0x40,
        "SHA384_RSA_PKCS": 0x41, "SHA512_RSA_PKCS": 0x42, "SHA256_RSA_PKCS_PSS": 0x43,
        "ECDSA": 0x1041, "ECDSA_SHA256": 0x1044, "ECDSA_SHA384": 0x1045,
        "EDDSA": 0x1057, "SHA1_RSA_PKCS": 0x6, "EC_KEY_PAIR_GEN": 0x1040}
HASH = {"sha1": 0x220, "sha256": 0x250, "sha384": 0x260, "sha512": 0x270}
MGF = {"sha1": 1, "sha256": 2, "sha384": 3, "sha512": 4}
CLS = {"cert": 1, "public": 2, "private": 3}
ATTR = {"CLASS": 0x0, "TOKEN": 0x1, "PRIVATE": 0x2, "LABEL": 0x3, "VALUE": 0x11,
        "KEY_TYPE": 0x100, "ID": 0x102, "SENSITIVE": 0x103, "SIGN": 0x108,
        "MODULUS": 0x120, "PUBLIC_EXPONENT": 0x122, "PRIVATE_EXPONENT": 0x123,
        "PRIME_1": 0x124, "PRIME_2": 0x125, "EXPONENT_1": 0x126, "COEFFICIENT": 0x128,
        "EXTRACTABLE": 0x162, "NEVER_EXTRACTABLE": 0x164, "ALWAYS_AUTHENTICATE": 0x202,
        "EC_PARAMS": 0x180, "EC_POINT": 0x181, "LOCAL": 0x163}
UL = C.c_ulong
P = C.c_void_p
UNAVAILABLE = (1 << (8 * C.sizeof(UL))) - 1


class Attr(C.Structure):
    _fields_ = [("type", UL), ("pValue", P), ("ulValueLen", UL)]


class Mech(C.Structure):
    _fields_ = [("mechanism", UL), ("pParameter", P), ("ulParameterLen", UL)]


class Pss(C.Structure):
    _fields_ = [("hashAlg", UL), ("mgf", UL), ("sLen", UL)]


NAMES = ("Initialize Finalize GetInfo GetFunctionList GetSlotList GetSlotInfo GetTokenInfo "
         "GetMechanismList GetMechanismInfo InitToken InitPIN SetPIN OpenSession CloseSession "
         "CloseAllSessions GetSessionInfo GetOperationState SetOperationState Login Logout "
         "CreateObject CopyObject DestroyObject GetObjectSize GetAttributeValue "
         "SetAttributeValue FindObjectsInit FindObjects FindObjectsFinal EncryptInit Encrypt "
         "EncryptUpdate EncryptFinal DecryptInit Decrypt DecryptUpdate DecryptFinal DigestInit "
         "Digest DigestUpdate DigestKey DigestFinal SignInit Sign SignUpdate SignFinal "
         "SignRecoverInit SignRecover VerifyInit Verify VerifyUpdate VerifyFinal "
         "VerifyRecoverInit VerifyRecover DigestEncryptUpdate DecryptDigestUpdate "
         "SignEncryptUpdate DecryptVerifyUpdate GenerateKey GenerateKeyPair WrapKey UnwrapKey "
         "DeriveKey SeedRandom GenerateRandom GetFunctionStatus CancelFunction "
         "WaitForSlotEvent").split()


class FnList(C.Structure):
    _fields_ = [("version", C.c_ubyte * 2)] + [(n, P) for n in NAMES]


def rvname(rv):
    return CKR.get(rv, hex(rv))


class Module:
    def __init__(self, path):
        self.lib = C.CDLL(path)
        fl = C.POINTER(FnList)()
        get = self.lib.C_GetFunctionList
        get.restype = UL
        assert get(C.byref(fl)) == 0
        self.fl = fl.contents

    def __getattr__(self, name):
        addr = getattr(self.fl, name)
        return lambda *args: C.CFUNCTYPE(UL, *[type(a) for a in args])(addr)(*args)


def ul(v):
    return UL(v)


class Driver:
    def __init__(self, path):
        self.m = Module(path)

    def init(self):
        return self.m.Initialize(P(None))

    def open(self):
        h = UL()
        rv = self.m.OpenSession(ul(1), ul(4 | 2), P(None), P(None), P(C.addressof(h)))
        assert rv == 0, rvname(rv)
        return h.value

    def find(self, s, cls, key_id=None):
        c = UL(CLS[cls])
        tmpl = [Attr(ATTR["CLASS"], C.cast(C.pointer(c), P), C.sizeof(c))]
        if key_id is not None:
            idb = C.create_string_buffer(bytes.fromhex(key_id), len(key_id) // 2)
            tmpl.append(Attr(ATTR["ID"], C.cast(idb, P), len(key_id) // 2))
        arr = (Attr * len(tmpl))(*tmpl)
        rv = self.m.FindObjectsInit(ul(s), P(C.addressof(arr)), ul(len(tmpl)))
        assert rv == 0, rvname(rv)
        out = (UL * 64)()
        n = UL()
        rv = self.m.FindObjects(ul(s), P(C.addressof(out)), ul(64), P(C.addressof(n)))
        assert rv == 0, rvname(rv)
        self.m.FindObjectsFinal(ul(s))
        return list(out[:n.value])

    def sign(self, s, st):
        objs = self.find(s, "private", st["id"])
        if not objs:
            return {"rv": "no key"}
        mech = Mech(MECH[st["mech"]], None, 0)
        if "pss" in st:
            h, mgf, slen = st["pss"]
            pss = Pss(HASH[h], MGF[mgf], slen)
            mech = Mech(MECH[st["mech"]], C.cast(C.pointer(pss), P), C.sizeof(pss))
        rv = self.m.SignInit(ul(s), P(C.addressof(mech)), ul(objs[0]))
        if rv != 0:
            return {"rv": rvname(rv), "at": "SignInit"}
        if "pin" in st:
            pin = st["pin"].encode()
            rv = self.m.Login(ul(s), ul(2), C.c_char_p(pin), ul(len(pin)))
            if rv != 0:
                return {"rv": rvname(rv), "at": "Login"}
        data = bytes.fromhex(st["data"])
        sig = C.create_string_buffer(1024)
        n = UL(1024)
        if "parts" in st:
            pos = 0
            for k in st["parts"]:
                part = data[pos:pos + k]
                pos += k
                rv = self.m.SignUpdate(ul(s), C.c_char_p(part), ul(len(part)))
                if rv != 0:
                    return {"rv": rvname(rv), "at": "SignUpdate"}
            rv = self.m.SignFinal(ul(s), P(C.addressof(sig)), P(C.addressof(n)))
        else:
            rv = self.m.Sign(ul(s), C.c_char_p(data), ul(len(data)), P(C.addressof(sig)),
                             P(C.addressof(n)))
        return {"rv": rvname(rv), "sig": sig.raw[:n.value].hex() if rv == 0 else None}

    def verify(self, s, st):
        objs = self.find(s, st.get("cls", "public"), st["id"])
        if not objs:
            return {"rv": "no key"}
        mech = Mech(MECH[st["mech"]], None, 0)
        rv = self.m.VerifyInit(ul(s), P(C.addressof(mech)), ul(objs[0]))
        if rv != 0:
            return {"rv": rvname(rv), "at": "VerifyInit"}
        data, sig = bytes.fromhex(st["data"]), bytes.fromhex(st["sig"])
        rv = self.m.Verify(ul(s), C.c_char_p(data), ul(len(data)), C.c_char_p(sig), ul(len(sig)))
        return {"rv": rvname(rv)}

    def attrs(self, s, st):
        objs = self.find(s, st["cls"], st.get("id"))
        if not objs:
            return {"rv": "no object"}
        names = st["attrs"]
        arr = (Attr * len(names))(*[Attr(ATTR[n], None, 0) for n in names])
        rv = self.m.GetAttributeValue(ul(s), ul(objs[0]), P(C.addressof(arr)), ul(len(names)))
        lens = {n: (None if a.ulValueLen == UNAVAILABLE else a.ulValueLen)
                for n, a in zip(names, arr)}
        vals = {}
        for n, a in zip(names, arr):
            if a.ulValueLen != UNAVAILABLE:
                buf = C.create_string_buffer(max(a.ulValueLen, 1))
                one = (Attr * 1)(Attr(ATTR[n], C.cast(buf, P), a.ulValueLen))
                if self.m.GetAttributeValue(ul(s), ul(objs[0]), P(C.addressof(one)), ul(1)) == 0:
                    vals[n] = buf.raw[:a.ulValueLen].hex()
        return {"rv": rvname(rv), "lens": lens, "values": vals}

    def refuse(self, s, st):
        what = st["what"]
        h = UL()
        if what == "generate":
            mech = Mech(MECH["EC_KEY_PAIR_GEN"], None, 0)
            h2 = UL()
            rv = self.m.GenerateKeyPair(ul(s), P(C.addressof(mech)), P(None), ul(0), P(None),
                                        ul(0), P(C.addressof(h)), P(C.addressof(h2)))
        elif what == "create":
            c = UL(CLS["cert"])
            arr = (Attr * 1)(Attr(ATTR["CLASS"], C.cast(C.pointer(c), P), C.sizeof(c)))
            rv = self.m.CreateObject(ul(s), P(C.addressof(arr)), ul(1), P(C.addressof(h)))
        elif what in ("destroy", "setattr"):
            objs = self.find(s, "private") or self.find(s, "public")
            if what == "destroy":
                rv = self.m.DestroyObject(ul(s), ul(objs[0]))
            else:
                lab = C.create_string_buffer(b"x", 1)
                arr = (Attr * 1)(Attr(ATTR["LABEL"], C.cast(lab, P), 1))
                rv = self.m.SetAttributeValue(ul(s), ul(objs[0]), P(C.addressof(arr)), ul(1))
        elif what == "encrypt":
            mech = Mech(MECH["RSA_PKCS"], None, 0)
            rv = self.m.EncryptInit(ul(s), P(C.addressof(mech)), ul(1))
        elif what == "decrypt":
            mech = Mech(MECH["RSA_PKCS"], None, 0)
            rv = self.m.DecryptInit(ul(s), P(C.addressof(mech)), ul(1))
        elif what == "derive":
            mech = Mech(MECH["RSA_PKCS"], None, 0)
            rv = self.m.DeriveKey(ul(s), P(C.addressof(mech)), ul(1), P(None), ul(0),
                                  P(C.addressof(h)))
        elif what == "wrap":
            mech = Mech(MECH["RSA_PKCS"], None, 0)
            n = UL(0)
            rv = self.m.WrapKey(ul(s), P(C.addressof(mech)), ul(1), ul(2), P(None),
                                P(C.addressof(n)))
        elif what == "initpin":
            rv = self.m.InitPIN(ul(s), C.c_char_p(b"1234"), ul(4))
        return {"rv": rvname(rv)}

    def threads(self, st):
        results = []
        lock = threading.Lock()

        def work():
            s = self.open()
            for _ in range(st["count"]):
                r = self.sign(s, st)
                with lock:
                    results.append(r)
            self.m.CloseSession(ul(s))

        ts = [threading.Thread(target=work) for _ in range(st["n"])]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return {"rv": "CKR_OK", "results": results}

    def race(self, s, st):
        """st["n"] threads sign while this thread logs out and in again st["cycles"]
        times with st["pin"] ("during"), then st["count"] times each ("after")."""
        during, after = [], []
        lock = threading.Lock()
        done = threading.Event()

        def work():
            t = self.open()
            while not done.is_set():
                r = self.sign(t, st)
                with lock:
                    during.append(r["rv"])
            for _ in range(st["count"]):
                r = self.sign(t, st)
                with lock:
                    after.append(r["rv"])
            self.m.CloseSession(ul(t))

        ts = [threading.Thread(target=work) for _ in range(st["n"])]
        for t in ts:
            t.start()
        pin = st["pin"].encode()
        logins = []
        for _ in range(st["cycles"]):
            logins.append(rvname(self.m.Logout(ul(s))))
            logins.append(rvname(self.m.Login(ul(s), ul(1), C.c_char_p(pin), ul(len(pin)))))
        done.set()
        for t in ts:
            t.join()
        return {"rv": "CKR_OK", "during": during, "after": after, "logins": logins}

    def steps(self, steps, s):
        out = []
        for st in steps:
            op = st["op"]
            if op == "login":
                pin = st.get("pin")
                user = {"user": 1, "context": 2, "so": 0}[st.get("user", "user")]
                rv = self.m.Login(ul(s), ul(user), C.c_char_p(pin.encode() if pin else None),
                                  ul(len(pin) if pin else 0))
                out.append({"rv": rvname(rv)})
            elif op == "logout":
                out.append({"rv": rvname(self.m.Logout(ul(s)))})
            elif op == "sign":
                out.append(self.sign(s, st))
            elif op == "attrs":
                out.append(self.attrs(s, st))
            elif op == "verify":
                out.append(self.verify(s, st))
            elif op == "find":
                out.append({"rv": "CKR_OK", "n": len(self.find(s, st["cls"], st.get("id")))})
            elif op == "refuse":
                out.append(self.refuse(s, st))
            elif op == "threads":
                out.append(self.threads(st))
            elif op == "fork":
                out.append(self.fork(st))
            elif op == "race":
                out.append(self.race(s, st))
            else:
                raise SystemExit(f"unknown op {op}")
        return out

    def fork(self, st):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                res = {"init": rvname(self.init())}
                s = self.open()
                res["steps"] = self.steps(st["steps"], s)
                self.m.Finalize(P(None))
                os.write(w, json.dumps(res).encode())
            finally:
                os._exit(0)
        os.close(w)
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        os.waitpid(pid, 0)
        return {"rv": "CKR_OK", "child": json.loads(data) if data else None}


def main():
    d = Driver(sys.argv[1])
    steps = json.loads(sys.argv[2])
    rv = d.init()
    assert rv == 0, rvname(rv)
    s = d.open()
    out = d.steps(steps, s)
    d.m.CloseSession(ul(s))
    d.m.Finalize(P(None))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
