"""Stripe disputes in the sandbox: the objects, their money, their events, `/v1/disputes`, and how
`advance` moves them through their statuses.

Seed 10 at scale 0.05 has open disputes at `as_of` that are decided within the next 30 days (one
won, one lost), so one generate plus one `advance(30)` shows every transition.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from starlette.testclient import TestClient

from sandbox.advance import advance
from sandbox.company.stripe import DISPUTE_FEE
from sandbox.credentials import STRIPE_API_KEY
from sandbox.generate import generate
from sandbox.server import create_app

AUTH = {"Authorization": f"Bearer {STRIPE_API_KEY}"}
ORDER = {"needs_response": 0, "under_review": 1, "won": 2, "lost": 2}
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")


def _jsonl(root: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (root / "state/stripe" / f"{name}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the sandbox at as_of, a copy advanced by 30 days)."""
    base = tmp_path_factory.mktemp("disputes")
    before, after = base / "before", base / "after"
    generate(seed=10, scale=0.05, out=before)
    shutil.copytree(before, after)
    advance(after, 30)
    return before, after


@pytest.mark.parametrize("which", [0, 1])
def test_dispute_money_follows_stripes_rules(sandboxes: tuple[Path, Path], which: int) -> None:
    root = sandboxes[which]
    disputes = _jsonl(root, "disputes")
    bts = {b["id"]: b for b in _jsonl(root, "balance_transactions")}
    statuses = {d["status"] for d in disputes}
    assert {"won", "lost"} <= statuses
    for d in disputes:
        assert d["object"] == "dispute" and d["id"].startswith("dp_") and d["currency"] == "usd"
        first, *rest = d["balance_transactions"]
        # the withdrawal: the disputed amount out, plus the dispute fee
        assert (first["type"], first["reporting_category"]) == ("adjustment", "dispute")
        assert first["amount"] == -d["amount"] and first["fee"] == DISPUTE_FEE
        assert first["net"] == first["amount"] - first["fee"]
        assert [f["description"] for f in first["fee_details"]] == ["Dispute fee"]
        if d["status"] == "won":  # the reinstatement: the amount back, the fee kept
            (back,) = rest
            assert (back["type"], back["reporting_category"]) == ("adjustment", "dispute_reversal")
            assert back["amount"] == back["net"] == d["amount"] and back["fee"] == 0
            assert back["created"] > first["created"]
        else:
            assert rest == []
        net = sum(b["net"] for b in d["balance_transactions"])
        assert net == (-DISPUTE_FEE if d["status"] == "won" else -(d["amount"] + DISPUTE_FEE))
        # the embedded transactions are the account's, unchanged
        assert all(bts[b["id"]] == b for b in d["balance_transactions"])
        assert d["is_charge_refundable"] is False
        # evidence is submitted before a dispute goes under review (a lost one may have had none)
        has_evidence = d["evidence_details"]["has_evidence"]
        assert has_evidence == (d["evidence"]["customer_name"] is not None)
        assert d["evidence_details"]["submission_count"] == int(has_evidence)
        assert has_evidence if d["status"] in ("under_review", "won") else True
        assert not has_evidence if d["status"] == "needs_response" else True
        assert d["evidence_details"]["due_by"] > d["created"]


@pytest.mark.parametrize("which", [0, 1])
def test_charges_are_disputed_exactly_when_a_dispute_exists(sandboxes: tuple[Path, Path], which: int) -> None:
    root = sandboxes[which]
    disputes = _jsonl(root, "disputes")
    charges = {c["id"]: c for c in _jsonl(root, "charges")}
    assert {c for c, o in charges.items() if o["disputed"]} == {d["charge"] for d in disputes}
    for d in disputes:
        assert d["payment_intent"] == charges[d["charge"]]["payment_intent"]
        assert d["amount"] == charges[d["charge"]]["amount"]


@pytest.mark.parametrize("which", [0, 1])
def test_payouts_still_equal_their_members_net(sandboxes: tuple[Path, Path], which: int) -> None:
    root = sandboxes[which]
    payouts = {p["id"]: p for p in _jsonl(root, "payouts")}
    members = json.loads((root / "state/stripe/payout_members.json").read_text())
    bts = {b["id"]: b for b in _jsonl(root, "balance_transactions")}
    for pid, ids in members.items():
        assert sum(bts[i]["net"] for i in ids) == 0  # incl. the payout's own transaction
        assert sum(bts[i]["net"] for i in ids[:-1]) == payouts[pid]["amount"] > 0
    swept = {i for ids in members.values() for i in ids}
    dispute_bts = [b for d in _jsonl(root, "disputes") for b in d["balance_transactions"]]
    reversals = [b for b in dispute_bts if b["reporting_category"] == "dispute_reversal"]
    assert reversals
    last_payout = max(p["created"] for p in payouts.values())
    # every dispute transaction available before the last payout was swept into one
    assert all(b["id"] in swept for b in dispute_bts if b["available_on"] // 86400 < last_payout // 86400)
    truth = pl.read_parquet(root / "truth/stripe_payout_members.parquet")
    assert set(truth["balance_transaction_id"]) == swept - {
        p["balance_transaction"] for p in payouts.values()
    }


@pytest.mark.parametrize("which", [0, 1])
def test_ledger_books_the_dispute_money(sandboxes: tuple[Path, Path], which: int) -> None:
    """The Stripe sales summaries credit every won dispute's reinstatement on a line of its own."""
    root = sandboxes[which]
    gl = pl.read_parquet(root / "truth/gl_lines.parquet")
    reinstated = gl.filter(pl.col("description") == "Stripe disputes won (funds reinstated)")
    assert reinstated["debit"].sum() == 0 and set(reinstated["account_name"]) == {"Refunds and Chargebacks"}
    back = sum(
        b["amount"]
        for b in _jsonl(root, "balance_transactions")
        if b["reporting_category"] == "dispute_reversal"
    )
    assert back > 0
    assert round(reinstated["credit"].sum(), 2) == back / 100


def test_truth_records_each_dispute_and_its_outcome(sandboxes: tuple[Path, Path]) -> None:
    for root in sandboxes:
        truth = pl.read_parquet(root / "truth/stripe_disputes.parquet")
        disputes = {d["id"]: d for d in _jsonl(root, "disputes")}
        assert sorted(truth["dispute_id"]) == sorted(disputes)
        for row in truth.iter_rows(named=True):
            d = disputes[row["dispute_id"]]
            assert (row["charge_id"], row["amount"], row["reason"], row["status"]) == (
                d["charge"], d["amount"], d["reason"], d["status"]
            )  # fmt: skip
            assert row["withdrawn"] == d["amount"] + DISPUTE_FEE
            assert row["reinstated"] == (d["amount"] if d["status"] == "won" else 0)
            assert (row["closed_at"] is not None) == (d["status"] in ("won", "lost"))
        records = pl.read_parquet(root / "truth/records.parquet").filter(pl.col("object") == "disputes")
        assert sorted(records["record_id"]) == sorted(disputes)


def test_advance_moves_disputes_forward_with_events(sandboxes: tuple[Path, Path]) -> None:
    before, after = sandboxes
    was = {d["id"]: d for d in _jsonl(before, "disputes")}
    now = {d["id"]: d for d in _jsonl(after, "disputes")}
    assert set(was) <= set(now)
    moved = [i for i in was if was[i]["status"] != now[i]["status"]]
    assert {now[i]["status"] for i in moved} >= {"won", "lost"}
    assert all(ORDER[now[i]["status"]] > ORDER[was[i]["status"]] for i in moved)
    events = [e for e in _jsonl(after, "events") if e["type"].startswith("charge.dispute.")]
    by_dispute: dict[str, list[dict]] = {}
    for e in events:
        assert e["type"] in DISPUTE_EVENTS
        by_dispute.setdefault(e["data"]["object"]["id"], []).append(e)
    for i in moved:  # the change that moved it is an event, whose object is the dispute then
        closing = [e for e in by_dispute[i] if e["type"] == "charge.dispute.closed"]
        assert closing and closing[0]["data"]["object"] == now[i]
    for e in events:
        obj = e["data"]["object"]
        assert obj["object"] == "dispute"
        expected = {"charge.dispute.created": {"needs_response"}, "charge.dispute.updated": {"under_review"}}
        assert obj["status"] in expected.get(e["type"], {"won", "lost"})
        assert all(b["created"] <= e["created"] for b in obj["balance_transactions"])
    # events of the earlier cut are kept as they were
    old = {e["id"]: e for e in _jsonl(before, "events")}
    assert all(old[e["id"]] == e for e in events if e["id"] in old)


def test_disputes_list_endpoint(sandboxes: tuple[Path, Path]) -> None:
    root = sandboxes[1]
    client = TestClient(create_app(root))
    stored = _jsonl(root, "disputes")
    seen: list[dict] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        body = client.get("/v1/disputes", params=params, headers=AUTH).json()
        assert body["object"] == "list" and body["url"] == "/v1/disputes"
        seen += body["data"]
        if not body["has_more"]:
            break
        params["starting_after"] = body["data"][-1]["id"]
    assert sorted(d["id"] for d in seen) == sorted(d["id"] for d in stored) and len(seen) == len(stored)
    assert [d["created"] for d in seen] == sorted((d["created"] for d in seen), reverse=True)
    cut = sorted(d["created"] for d in stored)[len(stored) // 2]
    body = client.get("/v1/disputes", params={"created[gte]": cut, "limit": 100}, headers=AUTH).json()
    assert {d["id"] for d in body["data"]} == {d["id"] for d in stored if d["created"] >= cut}
    resp = client.get("/v1/disputes", params={"starting_after": "dp_nope"}, headers=AUTH)
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == "No such dispute: 'dp_nope'"
    assert client.get("/v1/disputes").status_code == 401
