# SPDX-License-Identifier: Apache-2.0
"""PIN tries (issue 14): concurrent wrong PINs report the true count left (item 13)
and per-key usage PINs are counted and locked like role PINs (item 5)."""
import concurrent.futures
import json
import re

from conftest import FAST_KDF, SEALHSM, Keystore, assert_fails, run


def audit_records_as_so(ks):
    out = ks.sealhsm("audit", "export", "--so", "--format", "jsonl", so=True, user=False).out
    return [json.loads(l) for l in out.splitlines()]


def make_ks(tmp_path, tries):
    k = Keystore(tmp_path / "ks", tmp_path)
    run([SEALHSM, "init", *FAST_KDF, "--max-pin-tries", str(tries)], env=k.env(so=True),
        check=0)
    return k


# -- item 13 ---------------------------------------------------------------------------------

def test_concurrent_wrong_pins_report_the_true_count(tmp_path):
    ks = make_ks(tmp_path, 3)

    def wrong(i):
        return run([SEALHSM, "list"], env=ks.env(user=False, SEALHSM_PIN=f"wrong-pin-{i:03d}"))

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(wrong, range(8)))
    left = []
    for res in results:
        line = assert_fails(res, 4)
        m = re.search(r"\((\d+) tries left", line)
        if m:
            left.append(int(m.group(1)))
        else:
            assert "locked" in line, line
    # three guesses were judged (limit 3), each reporting what was truly left
    assert sorted(left) == [0, 1, 2], [r.err for r in results]
    # the audit records of the judged guesses carry the same counts (read as the SO)
    reasons = [r["reason"] for r in audit_records_as_so(ks)
               if r["op"] == "unlock" and r["outcome"] == "denied" and "wrong PIN" in r["reason"]]
    assert sorted(int(re.search(r"\((\d+) tries left", r).group(1)) for r in reasons) == [0, 1, 2]


# -- item 5: per-key usage PINs --------------------------------------------------------------

KEY_PIN = "key-pin-4c1a77"


def _sign_with_key_pin(ks, tmp_path, pin, n):
    pin_file = tmp_path / "kpin"
    pin_file.write_text(pin + "\n")
    conf = ks.conf(name="kpin.cnf", extra_lines=[f"key-pin-source = file:{pin_file}"])
    data = tmp_path / "m.txt"
    data.write_text("release\n")
    sig = tmp_path / f"s{n}.sig"
    res = ks.openssl("dgst", "-sha256", "-sign", "sealhsm:guarded", "-out", sig, data,
                     via="conf", conf=conf, check=None)
    signed = sig.exists() and sig.stat().st_size > 0
    assert signed == (res.rc == 0), res
    return res, sig, data


def test_key_pin_tries_are_counted_and_locked(ks, tmp_path):
    ks.sealhsm("keygen", "guarded", "--type", "ec:P-256", "--key-pin", so=True,
               SEALHSM_KEY_PIN=KEY_PIN)
    pub = tmp_path / "guarded.pub.pem"
    ks.sealhsm("pubkey", "guarded", "--out", pub)
    # the right PIN works, and a wrong one says how many tries are left (limit: 10)
    assert _sign_with_key_pin(ks, tmp_path, KEY_PIN, 0)[0].rc == 0
    res, _, _ = _sign_with_key_pin(ks, tmp_path, "wrong-key-pin-0", 1)
    assert "wrong key PIN (9 tries left)" in res.err, res.err
    lines = []
    for i in range(2, 16):  # 15 wrong guesses in all
        res, _, _ = _sign_with_key_pin(ks, tmp_path, f"wrong-key-pin-{i}", i)
        assert res.rc != 0
        lines.append(res.err)
    assert "wrong key PIN (0 tries left: now locked)" in lines[8], lines[8]
    for err in lines[9:]:
        assert "the key PIN of key guarded is locked after 10 failed PIN attempts" in err, err
        assert "pin reset-key guarded" in err
    # locked: the right PIN is refused too, and no signature is made
    res, sig, _ = _sign_with_key_pin(ks, tmp_path, KEY_PIN, 99)
    assert res.rc != 0 and "locked" in res.err
    assert not sig.exists() or sig.stat().st_size == 0
    recs = [r for r in audit_records_as_so(ks) if r["op"] == "sign"]
    assert recs[-1]["outcome"] == "denied" and "locked" in recs[-1]["reason"], recs[-1]
    # the user role is not affected: its PIN still logs in
    ks.sealhsm("list")
    # the SO sets a new key PIN: unlocked, the old one is refused, the new one signs
    new_pin = "key-pin-new-5d2e"
    out = ks.sealhsm("pin", "reset-key", "guarded", so=True, SEALHSM_NEW_PIN=new_pin).out
    assert "guarded" in out
    res, _, _ = _sign_with_key_pin(ks, tmp_path, KEY_PIN, 100)
    assert "wrong key PIN (9 tries left)" in res.err, res.err
    res, sig, data = _sign_with_key_pin(ks, tmp_path, new_pin, 101)
    assert res.rc == 0, res
    ks.openssl("dgst", "-sha256", "-verify", pub, "-signature", sig, data, via=None)
    pin_recs = [r for r in audit_records_as_so(ks) if r["op"] == "pin"]
    assert pin_recs[-1]["label"] == "guarded" and "key PIN reset" in pin_recs[-1]["reason"]


def test_reset_key_needs_the_so_and_a_key_pin_key(ks):
    ks.keygen("plain", "ec:P-256")
    assert_fails(ks.sealhsm("pin", "reset-key", "plain", so=True, check=None,
                            SEALHSM_NEW_PIN="whatever-pin"), 1, "plain")
    assert_fails(ks.sealhsm("pin", "reset-key", "ghost", so=True, check=None,
                            SEALHSM_NEW_PIN="whatever-pin"), 2, "ghost")
    # the user PIN is not the SO PIN
    res = ks.sealhsm("pin", "reset-key", "plain", check=None, SEALHSM_SO_PIN="user-pin-1111",
                     SEALHSM_NEW_PIN="whatever-pin")
    assert_fails(res, 4)
