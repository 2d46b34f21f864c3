# SPDX-License-Identifier: Apache-2.0
"""Issue 4, docs/reference.md, Policy: every policy option, checked on every signature made through stock
`openssl dgst -sign sealhsm:L` and `openssl pkeyutl -sign -inkey sealhsm:L`: allowed
inside the rule (the signature verifies under `sealhsm pubkey`), refused outside it
(non-zero exit, an error 'sealhsm: policy:' naming the key and the rule, no signature,
an audit record op=sign outcome=denied with that reason)."""
import os
import pwd
import time

import pytest

import conftest

from conftest import Signer, assert_fails, audit_records

# every test runs with the keystore in the process and through sealhsmd
pytestmark = pytest.mark.usefixtures("sealhsm_mode")

HOW = ("dgst", "pkeyutl")
OFFICERS = {"alice": "alice-pin-1111", "bob": "bob-pin-2222"}


def usage(ks, label):
    import json
    return json.loads(ks.sealhsm("show", label, "--json").out)["usage"]["signatures"]


def policy_of(ks, label):
    import json
    return json.loads(ks.sealhsm("show", label, "--json").out)["policy"]


def add_officers(ks):
    for name, pin in OFFICERS.items():
        ks.sealhsm("officer", "add", name, so=True, SEALHSM_OFFICER_PIN=pin)


def approve(ks, label, officer, check=0):
    return ks.sealhsm("approve", label, "--officer", officer, user=False, check=check,
                      SEALHSM_OFFICER_PIN=OFFICERS[officer])


# -- env ------------------------------------------------------------------------------

@pytest.mark.embedded_only("through sealhsmd the daemon's --environment decides (test_daemon.py)")
@pytest.mark.parametrize("how", HOW)
def test_env_prod_key_needs_provider_environment_prod(ks, signer, how):
    ks.keygen("rel", "ec:P-256", "--env", "prod")
    dev = ks.conf("dev.cnf", environment="dev")
    unset = ks.conf("unset.cnf")                     # docs/reference.md, Provider parameters: defaults to dev
    test = ks.conf("test.cnf", environment="test")
    prod = ks.conf("prod.cnf", environment="prod")
    signer.refused("rel", "env", how, via="conf", conf=dev)
    signer.refused("rel", "env", how, via="conf", conf=unset)
    signer.refused("rel", "env", how, via="conf", conf=test)
    signer.refused("rel", "env", how, via="cli")      # -provider: no environment, dev
    signer.ok("rel", how, via="conf", conf=prod)


@pytest.mark.embedded_only("through sealhsmd the daemon's --environment decides (test_daemon.py)")
def test_env_dev_key_refused_under_prod(ks, signer):
    ks.keygen("devkey", "ec:P-256")
    signer.refused("devkey", "env", via="conf", conf=ks.conf("prod.cnf", environment="prod"))
    signer.ok("devkey", via="conf", conf=ks.conf("dev.cnf", environment="dev"))


# -- digests --------------------------------------------------------------------------

@pytest.mark.parametrize("how", HOW)
def test_digests_sha384_only(ks, signer, how):
    ks.keygen("k384", "ec:P-384", "--digests", "sha384")
    signer.refused("k384", "digests", how, "sha256")
    signer.refused("k384", "digests", how, "sha512")
    signer.ok("k384", how, "sha384")


@pytest.mark.parametrize("type_", ["ec:P-256", "rsa:2048"])
@pytest.mark.parametrize("how", HOW)
def test_sha1_always_refused(ks, signer, how, type_):
    ks.keygen("k", type_)                            # default policy
    signer.refused("k", "digests", how, "sha1")
    signer.ok("k", how, "sha256")


@pytest.mark.parametrize("bad", ["sha1", "sha256,sha1", "SHA1", "md5", "sha256,md5"])
def test_sha1_and_md5_cannot_be_allowed(ks, bad):
    res = ks.sealhsm("keygen", "k", "--type", "ec:P-256", "--digests", bad, so=True, check=None)
    assert_fails(res, 1)
    assert "k" not in [k["label"] for k in __import__("json").loads(
        ks.sealhsm("list", "--json").out)]
    ks.keygen("ok", "ec:P-256", "--digests", "sha256")
    assert_fails(ks.sealhsm("policy", "ok", "--digests", bad, so=True, check=None), 1)
    assert policy_of(ks, "ok")["digests"] == ["sha256"]


# -- padding --------------------------------------------------------------------------

@pytest.mark.parametrize("how", HOW)
def test_padding_pss_only_then_pkcs1_only(ks, signer, how):
    ks.keygen("r", "rsa:2048", "--padding", "pss")
    signer.refused("r", "padding", how)              # openssl's default is PKCS#1 v1.5
    signer.ok("r", how, pss=True)
    ks.sealhsm("policy", "r", "--padding", "pkcs1", so=True)
    signer.refused("r", "padding", how, pss=True)
    signer.ok("r", how)


# -- validity window ------------------------------------------------------------------

@pytest.mark.parametrize("how", HOW)
def test_not_before_in_the_future(ks, signer, how):
    ks.keygen("early", "ec:P-256", "--not-before", "2099-01-01")
    signer.refused("early", "not-before", how)
    ks.sealhsm("policy", "early", "--not-before", "2020-01-01T00:00:00Z", so=True)
    signer.ok("early", how)


@pytest.mark.parametrize("how", HOW)
def test_not_after_in_the_past(ks, signer, how):
    # a --not-after already past is refused at keygen: make one that passes soon
    end = int(time.time()) + 2
    ks.keygen("late", "ec:P-256", "--not-after",
              time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end)))
    while time.time() < end + 1.1:
        time.sleep(0.2)
    signer.refused("late", "not-after", how)
    ks.sealhsm("policy", "late", "--not-after", "2099-12-31T23:59:59Z", so=True)
    signer.ok("late", how)


def test_window_around_now_allows(ks, signer):
    ks.keygen("win", "ec:P-256", "--not-before", "2020-01-01", "--not-after", "2099-01-01")
    for how in HOW:
        signer.ok("win", how)


# -- max-signatures -------------------------------------------------------------------

def test_max_signatures_2_third_refused(ks, signer):
    ks.keygen("cap", "ec:P-256", "--max-signatures", "2")
    signer.ok("cap", "dgst")
    signer.ok("cap", "pkeyutl")
    signer.refused("cap", "max-signatures", "dgst")
    signer.refused("cap", "max-signatures", "pkeyutl")
    assert usage(ks, "cap") == 2                     # refusals do not count
    recs = [r for r in audit_records(ks) if r["op"] == "sign" and r["label"] == "cap"]
    assert [r["outcome"] for r in recs] == ["ok", "ok", "denied", "denied"]


# -- rate -----------------------------------------------------------------------------

def test_rate_3_per_min_fourth_refused(ks, signer):
    ks.keygen("rl", "ec:P-256", "--rate", "3/min")
    signer.ok("rl", "dgst")
    signer.ok("rl", "pkeyutl")
    signer.ok("rl", "dgst")
    signer.refused("rl", "rate", "dgst")
    signer.refused("rl", "rate", "pkeyutl")
    assert usage(ks, "rl") == 3


# -- approvals ------------------------------------------------------------------------

def test_approvals_2_distinct_officers_then_ttl(ks, signer):
    add_officers(ks)
    assert ks.sealhsm("officer", "list").out.split() == ["alice", "bob"]
    import conftest
    ttl = 8 if conftest.ASAN else 2  # every process start is ~10x slower under ASan
    ks.keygen("dual", "ec:P-256", "--approvals", "2", "--activation-ttl", f"{ttl}s")
    for how in HOW:
        signer.refused("dual", "approvals", how)                 # 0 approvals
    approve(ks, "dual", "alice")
    for how in HOW:
        signer.refused("dual", "approvals", how)                 # 1 approval
    approve(ks, "dual", "alice")                                  # the same officer again
    signer.refused("dual", "approvals", "dgst")                   # ... does not count twice
    # a wrong officer PIN is not an approval
    res = ks.sealhsm("approve", "dual", "--officer", "bob", user=False, check=None,
                     SEALHSM_OFFICER_PIN="not-bobs-pin")
    assert_fails(res, 4, "bob")
    signer.refused("dual", "approvals", "dgst")
    approve(ks, "dual", "alice")                                  # fresh, within the TTL
    t0 = time.monotonic()
    approve(ks, "dual", "bob")
    for how in HOW:
        signer.ok("dual", how)
    assert time.monotonic() - t0 < ttl, f"too slow to sign within the {ttl}s activation"
    time.sleep(max(0.0, t0 + ttl + 1.1 - time.monotonic()))     # second granularity
    for how in HOW:
        signer.refused("dual", "approvals", how)
    approvals = [r for r in audit_records(ks) if r["op"] == "approve"]
    assert len(approvals) >= 3 and all(r["label"] == "dual" for r in approvals), approvals
    assert approvals[-1]["outcome"] == "ok", approvals


def test_policy_change_needs_so_pin(ks):
    ks.keygen("p", "ec:P-256")
    # no SO PIN and no terminal: exit 3; the user's PIN is not the SO PIN: exit 4
    res = ks.sealhsm("policy", "p", "--max-signatures", "5", check=None)
    assert_fails(res, 3)
    res = ks.sealhsm("policy", "p", "--max-signatures", "5", check=None,
                     SEALHSM_SO_PIN="user-pin-1111")
    assert_fails(res, 4)
    assert policy_of(ks, "p")["max_signatures"] is None
    ks.sealhsm("policy", "p", "--max-signatures", "5", so=True)
    assert policy_of(ks, "p")["max_signatures"] == 5
    recs = [r for r in audit_records(ks) if r["op"] == "policy"]
    assert [(r["label"], r["outcome"]) for r in recs][-1] == ("p", "ok")


def test_policy_change_on_approval_key_needs_activation(ks, signer):
    add_officers(ks)
    ks.keygen("dual", "ec:P-256", "--approvals", "2", "--activation-ttl", "1h")
    res = ks.sealhsm("policy", "dual", "--max-signatures", "9", so=True, check=None)
    assert_fails(res, 5, "dual")
    approve(ks, "dual", "alice")
    res = ks.sealhsm("policy", "dual", "--max-signatures", "9", so=True, check=None)
    assert_fails(res, 5, "dual")
    assert policy_of(ks, "dual")["max_signatures"] is None
    approve(ks, "dual", "bob")
    ks.sealhsm("policy", "dual", "--max-signatures", "9", so=True)
    assert policy_of(ks, "dual")["max_signatures"] == 9
    # dropping the approvals needs the activation too, and the SO PIN
    res = ks.sealhsm("policy", "dual", "--approvals", "0", check=None)
    assert_fails(res, 3)


# -- users ----------------------------------------------------------------------------

def _other_uid():
    uid = os.getuid() + 4242
    while True:
        try:
            pwd.getpwuid(uid)
            uid += 1
        except KeyError:
            return uid


@pytest.mark.parametrize("how", HOW)
def test_users(ks, signer, how):
    me = os.getuid()
    other = _other_uid()
    ks.keygen("u", "ec:P-256", "--users", str(other))
    signer.refused("u", "users", how)
    ks.sealhsm("policy", "u", "--users", f"{other},{me}", so=True)
    signer.ok("u", how)
    ks.sealhsm("policy", "u", "--users", pwd.getpwuid(me).pw_name, so=True)
    signer.ok("u", how)
    ks.sealhsm("policy", "u", "--users", str(other), so=True)
    signer.refused("u", "users", how)
    ks.sealhsm("policy", "u", "--users", "any", so=True)
    signer.ok("u", how)


# -- key PIN --------------------------------------------------------------------------

@pytest.mark.parametrize("how", HOW)
def test_key_pin(ks, signer, how, tmp_path):
    key_pin = "key-pin-for-kp"
    ks.sealhsm("keygen", "kp", "--type", "ec:P-256", "--key-pin", so=True,
               SEALHSM_KEY_PIN=key_pin)
    assert policy_of(ks, "kp")["key_pin"] is True
    conf = ks.conf("kp.cnf", extra_lines=["key-pin-source = env:MY_KEY_PIN"])
    signer.refused("kp", "key-pin", how, via="conf", conf=conf,
                   env=ks.env(MY_KEY_PIN="wrong-key-pin"))
    signer.refused("kp", "key-pin", how, via="conf", conf=conf,
                   env=ks.env(MY_KEY_PIN="user-pin-1111"))    # the user PIN is not it
    signer.refused("kp", "key-pin", how, via="conf", conf=conf, env=ks.env())  # unset
    signer.ok("kp", how, via="conf", conf=conf, env=ks.env(MY_KEY_PIN=key_pin))
    # file: source too
    pinfile = tmp_path / "kp.pin"
    pinfile.write_text(key_pin + "\n")
    pinfile.chmod(0o600)
    fconf = ks.conf("kpf.cnf", extra_lines=[f"key-pin-source = file:{pinfile}"])
    signer.ok("kp", how, via="conf", conf=fconf)


# -- counters and activations are MACed: editing the file is an integrity error ------
# Records are edited with lmdb-utils in a copy of the keystore (conftest.mdb_rewrite).

def key_ids(ks):
    import json
    return {k["label"]: bytes.fromhex(k["id"]) for k in json.loads(ks.sealhsm("list", "--json").out)}


def assert_integrity_refusal(ks, signer, label, how="dgst"):
    """The next signature fails naming the key and an integrity failure (no signature);
    the tool reading the same key exits 6 naming it."""
    res, sig, _ = signer.sign(label, how, env=ks.env())
    assert res.rc != 0, f"{label}: signed from an edited keystore: {res}"
    assert not sig.exists() or sig.stat().st_size == 0
    lines = [l for l in res.errtext.splitlines() if "integrity" in l and label in l]
    assert lines, f"no integrity error naming {label}: {res}"
    assert_fails(ks.sealhsm("show", label, check=None), 6, label)


def edited(ks, name, db, fn):
    """A copy of ks whose database db went through fn([(key, value)]) -> records."""
    import conftest
    k = conftest.copy_keystore(ks, name)
    conftest.mdb_rewrite(k.path, db, fn(conftest.mdb_records(k.path, db)))
    return k


def replace_value(records, key, fn):
    out = [(k, fn(v) if k == key else v) for k, v in records]
    assert out != records or any(k == key for k, _ in records), "record not found"
    return out


def flip(pos):
    def f(v):
        b = bytearray(v)
        b[pos] ^= 0x01
        return bytes(b)
    return f


@pytest.fixture
def spent(ks, signer):
    """A key with --max-signatures 2 whose two signatures are used."""
    ks.keygen("cap", "ec:P-256", "--max-signatures", "2")
    ks.keygen("other", "ec:P-256", "--max-signatures", "2")
    signer.ok("cap")
    signer.ok("cap", "pkeyutl")
    signer.refused("cap", "max-signatures")
    return key_ids(ks)


def test_usage_counter_reset_to_zero_is_integrity_error(ks, signer, spent):
    import conftest
    kid = spent["cap"]
    value = dict(conftest.mdb_records(ks.path, "usage"))[kid]
    assert int.from_bytes(value[:8], "big") == 2     # the lifetime count, big-endian
    k = edited(ks, "reset", "usage",
               lambda r: replace_value(r, kid, lambda v: bytes(8) + v[8:]))
    assert_integrity_refusal(k, Signer(k), "cap")
    assert_integrity_refusal(k, Signer(k), "cap", "pkeyutl")


def test_usage_record_byte_flips_are_integrity_errors(ks, signer, spent):
    import conftest
    kid = spent["cap"]
    n = len(dict(conftest.mdb_records(ks.path, "usage"))[kid])
    pos_all = {0, 7, 8, 12, 15, 16, 20, 24, 27, n - 33, n - 32, n - 1}
    for pos in sorted({0, 15, 27, n - 1} if conftest.ASAN else pos_all):
        k = edited(ks, f"flip{pos}", "usage", lambda r: replace_value(r, kid, flip(pos)))
        assert_integrity_refusal(k, Signer(k), "cap")


def test_usage_record_deleted_or_swapped_is_integrity_error(ks, signer, spent):
    kid, other = spent["cap"], spent["other"]
    k = edited(ks, "deleted", "usage", lambda r: [(a, b) for a, b in r if a != kid])
    assert_integrity_refusal(k, Signer(k), "cap")
    # the fresh counters of another key, moved under this key's id
    def moved(r):
        d = dict(r)
        d[kid] = d[other]
        return sorted(d.items())
    k = edited(ks, "moved", "usage", moved)
    assert_integrity_refusal(k, Signer(k), "cap")


@pytest.mark.embedded_only("replaces the keystore's files under a running daemon")
def test_usage_record_replayed_from_earlier_is_refused(ks, signer):
    import conftest
    ks.keygen("cap", "ec:P-256", "--max-signatures", "2")
    kid = key_ids(ks)["cap"]
    signer.ok("cap")
    after_one = dict(conftest.mdb_records(ks.path, "usage"))[kid]
    signer.ok("cap")
    signer.refused("cap", "max-signatures")
    conftest.mdb_rewrite(ks.path, "usage",
                         replace_value(conftest.mdb_records(ks.path, "usage"), kid,
                                       lambda v: after_one))
    # the copied-back record says 1 signature, with a valid MAC: it is not the latest
    # record (the freshness tree in the audit head says so), so the next signature is
    # refused with an integrity error and `show` refuses to report the stale count
    res, sig, _ = signer.sign("cap")
    assert res.rc != 0 and (not sig.exists() or sig.stat().st_size == 0), \
        f"max-signatures 2 exceeded after rolling the counter back: {res}"
    assert_integrity_refusal(ks, signer, "cap")
    assert "rolled back" in ks.sealhsm("show", "cap", check=None).err


@pytest.mark.embedded_only("replaces the keystore's files under a running daemon")
def test_key_record_replayed_from_earlier_cannot_unrevoke(ks, signer):
    import conftest
    ks.keygen("gone", "ec:P-256")
    kid = key_ids(ks)["gone"]
    active = dict(conftest.mdb_records(ks.path, "keys"))[kid]
    ks.sealhsm("revoke", "gone", "--reason", "compromised", so=True)
    signer.refused("gone", "revoked")
    conftest.mdb_rewrite(ks.path, "keys",
                         replace_value(conftest.mdb_records(ks.path, "keys"), kid,
                                       lambda v: active))
    assert_integrity_refusal(ks, signer, "gone")


def test_activation_edits_are_integrity_errors(ks, signer):
    import conftest
    add_officers(ks)
    ks.keygen("dual", "ec:P-256", "--approvals", "2", "--activation-ttl", "1h")
    ks.keygen("dual2", "ec:P-256", "--approvals", "2", "--activation-ttl", "1h")
    ids = key_ids(ks)
    kid, kid2 = ids["dual"], ids["dual2"]
    approve(ks, "dual2", "alice")                    # pending: one approval
    approve(ks, "dual", "alice")
    approve(ks, "dual", "bob")                       # live activation
    signer.ok("dual")
    signer.refused("dual2", "approvals")
    acts = dict(conftest.mdb_records(ks.path, "activations"))
    assert kid in acts and kid2 in acts
    # any byte of the live activation (expiry, approvals, MAC) changed
    n = len(acts[kid])
    for pos in sorted({0, 8, n - 1} if conftest.ASAN else {0, 3, 4, 7, 8, 11, n // 2, n - 32, n - 1}):
        k = edited(ks, f"act{pos}", "activations", lambda r: replace_value(r, kid, flip(pos)))
        assert_integrity_refusal(k, Signer(k), "dual")
    # the pending approval of dual2 edited
    for pos in ((8,) if conftest.ASAN else (0, 8, n - 1)):
        k = edited(ks, f"pend{pos}", "activations",
                   lambda r: replace_value(r, kid2, flip(pos)))
        assert_integrity_refusal(k, Signer(k), "dual2")
    # dual's live activation copied onto dual2
    k = edited(ks, "copied", "activations",
               lambda r: replace_value(r, kid2, lambda v: acts[kid]))
    assert_integrity_refusal(k, Signer(k), "dual2")
    # the original keystore is untouched by all of this
    signer.ok("dual")


def test_pin_files_for_officers_and_key_pins(ks, signer, tmp_path):
    """docs/reference.md, Roles and PINs: PIN sources other than the environment: --officer-pin-file for
    `officer add` and `approve`, --key-pin-file at keygen."""
    def pinfile(name, pin):
        p = tmp_path / name
        p.write_text(pin + "\n")                   # one trailing newline is stripped
        p.chmod(0o600)
        return p
    for name, pin in OFFICERS.items():
        ks.sealhsm("officer", "add", name, "--officer-pin-file", pinfile(name, pin), so=True)
    ks.keygen("dual", "ec:P-256", "--approvals", "2")
    for name, pin in OFFICERS.items():
        ks.sealhsm("approve", "dual", "--officer", name, "--officer-pin-file",
                   pinfile(f"{name}.2", pin), user=False)
    signer.ok("dual")
    kp = pinfile("kp.pin", "key-pin-from-file")
    ks.sealhsm("keygen", "kp", "--type", "ec:P-256", "--key-pin", "--key-pin-file", kp, so=True)
    conf = ks.conf("kp.cnf", extra_lines=[f"key-pin-source = file:{kp}"])
    signer.ok("kp", via="conf", conf=conf)
    bad = ks.conf("kpbad.cnf", extra_lines=[
        f"key-pin-source = file:{pinfile('bad.pin', 'key-pin-from-fil')}"])
    signer.refused("kp", "key-pin", via="conf", conf=bad)
