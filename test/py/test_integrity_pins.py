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
