# SPDX-License-Identifier: Apache-2.0
"""The officer quorum (docs/security.md): M-of-N approvals mean nothing if the SO alone
can change who the officers are. While the effective quorum Q >= 1, officer add and
remove, lowering a key's --approvals, lowering the quorum setting and rekey need a live
admin activation by Q existing officers, which the change consumes; every refusal is
exit 5 and audited."""
import json

from conftest import assert_fails, audit_records

PINS = {"alice": "alice-pin-111", "bob": "bob-pin-2222", "carol": "carol-pin-33",
        "mallet": "mallet-pin-44", "trudy": "trudy-pin-555"}


def add(ks, name, check=0):
    return ks.sealhsm("officer", "add", name, so=True, check=check,
                      SEALHSM_OFFICER_PIN=PINS[name])


def admin(ks, name, check=0):
    return ks.sealhsm("approve", "--admin", "--officer", name, user=False, check=check,
                      SEALHSM_OFFICER_PIN=PINS[name])


def quorum(ks):
    return json.loads(ks.sealhsm("officer", "quorum", "--json").out)


def last_denied(ks, op):
    recs = [r for r in audit_records(ks) if r["op"] == op]
    return recs[-1]


def make_officers(ks):
    """Setup by the SO alone while Q = 0: two officers, a key needing both."""
    assert quorum(ks) == {"setting": 0, "effective": 0, "officers": 0}
    add(ks, "alice")
    add(ks, "bob")
    ks.keygen("rel", "ec:P-256", "--approvals", "2")
    assert quorum(ks) == {"setting": 0, "effective": 2, "officers": 2}


def test_the_so_alone_cannot_meet_m_of_n(ks):
    """The review's attack: the SO adds two officers (choosing their PINs), approves as
    both, lowers --approvals, removes them. Each step that matters is refused."""
    make_officers(ks)
    res = add(ks, "mallet", check=None)
    assert_fails(res, 5, "admin activation", "2 officers")
    rec = last_denied(ks, "officer")
    assert rec["outcome"] == "denied" and "admin activation" in rec["reason"], rec
    assert_fails(add(ks, "trudy", check=None), 5)
    assert json.loads(ks.sealhsm("officer", "list", "--json").out) == ["alice", "bob"]
    # even with the key activated by its officers, lowering its approvals needs them again
    for name in ("alice", "bob"):
        ks.sealhsm("approve", "rel", "--officer", name, user=False,
                   SEALHSM_OFFICER_PIN=PINS[name])
    res = ks.sealhsm("policy", "rel", "--approvals", "0", so=True, check=None)
    assert_fails(res, 5, "admin activation")
    rec = last_denied(ks, "policy")
    assert rec["outcome"] == "denied", rec
    assert_fails(ks.sealhsm("officer", "remove", "alice", so=True, check=None), 5)
    assert json.loads(ks.sealhsm("show", "rel", "--json").out)["policy"]["approvals"] == 2


def test_quorum_flow_end_to_end(ks, tmp_path):
    make_officers(ks)
    # one approval is not enough, and a non-officer cannot approve
    admin(ks, "alice")
    assert_fails(add(ks, "carol", check=None), 5, "1 approval pending")
    # alice and bob: carol may be added; the activation is consumed
    out = admin(ks, "bob").out
    assert "admin activation live until" in out
    add(ks, "carol")
    assert_fails(add(ks, "mallet", check=None), 5, "0 approvals pending")
    recs = audit_records(ks)
    assert any(r["op"] == "officer" and r["outcome"] == "ok" and "carol added" in r["reason"]
               for r in recs)
    assert [r["op"] for r in recs if "admin approval" in (r["reason"] or "")] == ["approve"] * 2

    # raising the quorum needs nothing; above the officer count it is a usage error
    assert_fails(ks.sealhsm("officer", "quorum", "4", so=True, check=None), 1, "officers")
    ks.sealhsm("officer", "quorum", "3", so=True)
    assert quorum(ks) == {"setting": 3, "effective": 3, "officers": 3}
    # keygen/policy with --approvals above the officer count: usage error
    assert_fails(ks.sealhsm("keygen", "big", "--type", "ec:P-256", "--approvals", "4",
                            so=True, check=None), 1, "officers")
    assert_fails(ks.sealhsm("policy", "rel", "--approvals", "5", so=True, check=None), 1)

    # lowering the quorum: refused without, allowed with 3 approvals
    assert_fails(ks.sealhsm("officer", "quorum", "1", so=True, check=None), 5, "3 officers")
    for name in ("alice", "bob", "carol"):
        admin(ks, name)
    ks.sealhsm("officer", "quorum", "1", so=True)
    assert quorum(ks)["setting"] == 1 and quorum(ks)["effective"] == 2

    # lowering a key's approvals: refused without, allowed with (the key also needs its
    # own activation for a policy change, as before)
    for name in ("alice", "bob"):
        ks.sealhsm("approve", "rel", "--officer", name, user=False,
                   SEALHSM_OFFICER_PIN=PINS[name])
    assert_fails(ks.sealhsm("policy", "rel", "--approvals", "1", so=True, check=None), 5)
    admin(ks, "alice")
    admin(ks, "carol")
    ks.sealhsm("policy", "rel", "--approvals", "1", so=True)
    assert quorum(ks)["effective"] == 1

    # removing an officer: one approval now (Q = 1), by an officer that still exists
    assert_fails(ks.sealhsm("officer", "remove", "carol", so=True, check=None), 5)
    admin(ks, "carol")
    ks.sealhsm("officer", "remove", "carol", so=True)
    # an admin approval by an officer removed since does not count
    admin(ks, "bob")
    ks.sealhsm("officer", "remove", "bob", so=True)
    assert json.loads(ks.sealhsm("officer", "list", "--json").out) == ["alice"]
    denied = [r for r in audit_records(ks) if r["outcome"] == "denied"]
    assert len(denied) >= 5
    ks.sealhsm("verify")


def test_admin_approval_needs_a_quorum_and_an_officer(ks):
    add(ks, "alice")
    res = admin(ks, "alice", check=None)
    assert_fails(res, 1, "no officer quorum")
    # with Q = 0 the SO alone manages officers
    add(ks, "bob")
    ks.sealhsm("officer", "remove", "bob", so=True)


def test_removed_officers_admin_approval_does_not_count(ks):
    make_officers(ks)
    add_ok = [admin(ks, "alice"), admin(ks, "bob")]
    assert all(r.rc == 0 for r in add_ok)
    add(ks, "carol")  # consumes the activation
    admin(ks, "alice")
    admin(ks, "carol")
    ks.sealhsm("officer", "remove", "carol", so=True)  # consumes it again
    # carol's earlier approval is gone with her: alice alone is 1 of 2
    admin(ks, "alice")
    assert_fails(add(ks, "mallet", check=None), 5, "1 approval pending")
