"""`GET /v1/balance_transactions?payout=po_...`: the transactions an automatic payout paid out."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from starlette.testclient import TestClient

from sandbox.credentials import STRIPE_API_KEY
from sandbox.server import create_app

AUTH = {"Authorization": f"Bearer {STRIPE_API_KEY}"}


@pytest.fixture(scope="module")
def client(small_sandbox: Path) -> TestClient:
    return TestClient(create_app(small_sandbox))


def _payouts(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "state/stripe/payouts.jsonl").read_text().splitlines()]


def _walk(client: TestClient, payout_id: str, limit: int) -> list[dict]:
    out: list[dict] = []
    params: dict[str, str | int] = {"payout": payout_id, "limit": limit}
    while True:
        body = client.get("/v1/balance_transactions", params=params, headers=AUTH).json()
        out += body["data"]
        if not body["has_more"]:
            return out
        params["starting_after"] = body["data"][-1]["id"]


def test_lists_the_payouts_members_and_its_own_transaction(client: TestClient, small_sandbox: Path) -> None:
    truth = pl.read_parquet(small_sandbox / "truth/stripe_payout_members.parquet")
    payouts = _payouts(small_sandbox)
    biggest = truth.group_by("payout_id").len().sort("len", descending=True)["payout_id"][0]
    for payout in [p for p in payouts if p["id"] == biggest] + payouts[:3]:
        listed = _walk(client, payout["id"], limit=2)
        expected = set(truth.filter(pl.col("payout_id") == payout["id"])["balance_transaction_id"])
        assert {t["id"] for t in listed} == expected | {payout["balance_transaction"]}
        assert len(listed) == len(expected) + 1  # each once across pages
        created = [t["created"] for t in listed]
        assert created == sorted(created, reverse=True)  # newest first, like every Stripe list
        own = [t for t in listed if t["id"] == payout["balance_transaction"]]
        assert own[0]["type"] == "payout" and own[0]["net"] == -payout["amount"]
        assert sum(t["net"] for t in listed) == 0  # the members sum to the payout


def test_unknown_payout_is_stripes_resource_missing(client: TestClient) -> None:
    resp = client.get("/v1/balance_transactions", params={"payout": "po_nope"}, headers=AUTH)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "resource_missing" and error["param"] == "payout"
    assert error["message"] == "No such payout: 'po_nope'"


def test_payout_filter_only_on_balance_transactions(client: TestClient, small_sandbox: Path) -> None:
    payout = _payouts(small_sandbox)[0]["id"]
    resp = client.get("/v1/charges", params={"payout": payout}, headers=AUTH)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "payout"
