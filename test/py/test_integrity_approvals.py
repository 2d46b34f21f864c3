# SPDX-License-Identifier: Apache-2.0
"""Approvals belong to an officer (issue 14, item 15): removing the officer
withdraws their pending approvals and ends live activations; raising a key's
--approvals ends the activation granted under the smaller quorum."""
from conftest import Signer, assert_policy_refusal, audit_records

OFFICERS = {"alice": "alice-pin-1", "bob": "bob-pin-22", "carol": "carol-pin-3"}


def add(ks, *names):
    for n in names:
        ks.sealhsm("officer", "add", n, so=True, SEALHSM_OFFICER_PIN=OFFICERS[n])


def approve(ks, label, officer):
    return ks.sealhsm("approve", label, "--officer", officer, user=False,
                      SEALHSM_OFFICER_PIN=OFFICERS[officer]).out


def admin(ks, *names):
    """The officer quorum's admin activation (docs/reference.md): with a key needing two
    approvals, removing an officer needs two other officers' admin approvals first."""
    for n in names:
        ks.sealhsm("approve", "--admin", "--officer", n, user=False,
                   SEALHSM_OFFICER_PIN=OFFICERS[n])


def activated(out):
    return "activated" in out and "not yet activated" not in out


def test_removed_officers_pending_approval_no_longer_counts(ks):
    signer = Signer(ks)
    add(ks, "alice", "bob", "carol")
    ks.keygen("fw", "ec:P-256", "--approvals", "2", "--activation-ttl", "1h")
    assert not activated(approve(ks, "fw", "alice"))
    admin(ks, "bob", "carol")
    out = ks.sealhsm("officer", "remove", "alice", so=True).out
    assert "alice" in out
    rec = [r for r in audit_records(ks) if r["op"] == "officer"][-1]
    assert "officer alice removed; 1 pending approval withdrawn" in rec["reason"], rec
    out = approve(ks, "fw", "bob")
    assert not activated(out), out   # alice's approval is gone: 1 of 2
    res, sig, _ = signer.sign("fw")
    assert_policy_refusal(res, "fw", "approvals")
    assert not sig.exists() or sig.stat().st_size == 0
    last = [r for r in audit_records(ks) if r["op"] == "sign"][-1]
    assert last["outcome"] == "denied" and "approvals" in last["reason"], last
    # two officers who are still there activate it
    assert activated(approve(ks, "fw", "carol"))
    signer.ok("fw")


def test_removing_an_officer_ends_live_activations(ks):
    signer = Signer(ks)
    add(ks, "alice", "bob", "carol")
    ks.keygen("fw", "ec:P-256", "--approvals", "2", "--activation-ttl", "1h")
    approve(ks, "fw", "alice")
    assert activated(approve(ks, "fw", "bob"))
    signer.ok("fw")
    admin(ks, "bob", "carol")
    ks.sealhsm("officer", "remove", "alice", so=True)
    rec = [r for r in audit_records(ks) if r["op"] == "officer"][-1]
    assert "1 live activation ended" in rec["reason"], rec
    res, _, _ = signer.sign("fw")
    assert_policy_refusal(res, "fw", "approvals")


def test_raising_approvals_ends_the_current_activation(ks):
    signer = Signer(ks)
    add(ks, "alice", "bob", "carol")
    ks.keygen("fw", "ec:P-256", "--approvals", "2", "--activation-ttl", "1h")
    approve(ks, "fw", "alice")
    assert activated(approve(ks, "fw", "bob"))
    signer.ok("fw")
    ks.sealhsm("policy", "fw", "--approvals", "3", so=True)  # needs the live activation
    rec = [r for r in audit_records(ks) if r["op"] == "policy"][-1]
    assert "activation ended" in rec["reason"], rec
    res, _, _ = signer.sign("fw")
    assert_policy_refusal(res, "fw", "approvals")
    for n in ("alice", "bob"):
        assert not activated(approve(ks, "fw", n))
    assert activated(approve(ks, "fw", "carol"))
    signer.ok("fw")
