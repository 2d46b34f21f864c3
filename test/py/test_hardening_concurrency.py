# SPDX-License-Identifier: Apache-2.0
"""Concurrency (issue 8): 8 processes x 4 threads sign through the provider (test/shim/
conc_sign: one key loaded through OSSL_STORE, shared by the threads, every signature
verified with the public key) while 1 process keeps changing the key's policy
(`sealhsm policy` in a loop), for 30 s (10 s under ASan, where everything is several
times slower).

  - no deadlock: every process ends within its time plus a grace period;
  - no lost audit record: the `sign ok` records of the key carry exactly the hashes of
    the messages whose signatures were returned (a multiset equality: none missing,
    none extra), and there is one `policy` record per policy change that succeeded;
  - the chain verifies (`audit verify`, freshness of the key included).
"""
import collections
import json
import subprocess
import threading
import time

from conftest import ASAN, SEALHSM, audit_records, base_env, preload_env, run

SECONDS = 10 if ASAN else 30
PROCESSES, THREADS = 8, 4
GRACE = 120


def test_signers_and_a_policy_changer(ks, hardening_bin):
    ks.keygen("svc", "ec:P-256", "--rate", "1000000/sec")
    pub = ks.tmp / "svc.pub.pem"
    ks.sealhsm("pubkey", "svc", "--out", pub)
    conf = ks.conf(name="conc.cnf")
    env = preload_env(base_env(OPENSSL_CONF=conf, SEALHSM_PIN=ks.env()["SEALHSM_PIN"]))

    signers = []
    for i in range(PROCESSES):
        out = ks.tmp / f"signed-{i}.txt"
        p = subprocess.Popen([str(hardening_bin / "conc_sign"), "sealhsm:svc", str(pub),
                              str(SECONDS), str(THREADS), str(out)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        signers.append((p, out))

    changes = {"ok": 0, "failed": []}

    def change_policy():
        # permissive either way: the changes must never refuse or lose a signature
        rates = ["2000000/sec", "none", "1000000/sec", "none"]
        deadline = time.monotonic() + SECONDS
        n = 0
        while time.monotonic() < deadline:
            res = run([SEALHSM, "policy", "svc", "--rate", rates[n % len(rates)]],
                      env=ks.env(so=True), check=None, timeout=GRACE)
            if res.rc == 0:
                changes["ok"] += 1
            else:
                changes["failed"].append(res.err)
            n += 1

    changer = threading.Thread(target=change_policy)
    changer.start()

    results = []
    for p, out in signers:
        try:
            stdout, stderr = p.communicate(timeout=SECONDS + GRACE)
        except subprocess.TimeoutExpired:
            for q, _ in signers:
                q.kill()
            raise AssertionError("a signing process did not finish: deadlock?")
        stderr = stderr.decode(errors="replace")
        assert "Sanitizer" not in stderr and "runtime error" not in stderr, stderr
        assert p.returncode == 0, f"conc_sign failed ({p.returncode}): {stdout!r} {stderr}"
        counts = dict(kv.split("=") for kv in stdout.decode().split("\n")[0].split())
        results.append((counts, stdout.decode(), out))
    changer.join(timeout=GRACE)
    assert not changer.is_alive(), "the policy changer did not finish: deadlock?"

    assert changes["failed"] == [], f"policy changes failed: {changes['failed'][:3]}"
    assert changes["ok"] > 0
    for counts, text, _ in results:
        assert counts["bad"] == "0", text
        assert counts["failed"] == "0", f"signatures refused or failed under load: {text}"

    returned = collections.Counter()
    for _, _, out in results:
        returned.update(out.read_text().split())
    total = sum(int(c["ok"]) for c, _, _ in results)
    assert sum(returned.values()) == total and total > 0

    ks.sealhsm("audit", "verify")
    records = audit_records(ks)
    signed = collections.Counter(r["tbs_hash"] for r in records
                                 if r["op"] == "sign" and r["outcome"] == "ok" and r["label"] == "svc")
    assert signed == returned, (
        f"{sum(signed.values())} sign records for {total} signatures returned; "
        f"missing {sum((returned - signed).values())}, extra {sum((signed - returned).values())}")
    policy = [r for r in records if r["op"] == "policy" and r["outcome"] == "ok"]
    assert len(policy) == changes["ok"], (len(policy), changes["ok"])
    show = json.loads(ks.sealhsm("show", "svc", "--json").out)
    assert show["usage"]["signatures"] == total, show["usage"]
    print(f"concurrency: {total} signatures by {PROCESSES}x{THREADS} threads in {SECONDS}s, "
          f"{changes['ok']} policy changes, every one audited")
