from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ledgerlake.errors import LedgerlakeError
from sandbox.advance import advance
from sandbox.credentials import STRIPE_API_KEY
from sandbox.generate import generate
from sandbox.server import create_app


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _by_id(root: Path, name: str) -> dict[str, dict]:
    return {o["id"]: o for o in _jsonl(root / "state/stripe" / f"{name}.jsonl")}


@pytest.fixture
def advanced(tmp_path: Path) -> tuple[Path, dict, dict, list]:
    """A sandbox, what Stripe/Plaid showed before, after advancing it 30 days."""
    root = tmp_path / "sbx"
    generate(seed=5, scale=0.03, out=root)
    before = {name: _by_id(root, name) for name in ("charges", "payouts")}
    meta = json.loads((root / "sandbox.json").read_text())
    log = _jsonl(root / "state/bank_feed/sync_log.jsonl")
    advance(root, 30)
    return root, before, meta, log


def test_advance_moves_the_clock_and_extends_the_sync_log(advanced) -> None:
    root, _, meta, old_log = advanced
    new_meta = json.loads((root / "sandbox.json").read_text())
    assert date.fromisoformat(new_meta["as_of"]) == date.fromisoformat(meta["as_of"]) + timedelta(days=30)
    assert new_meta["go_live"] == meta["go_live"] and new_meta["seed"] == meta["seed"]
    new_log = _jsonl(root / "state/bank_feed/sync_log.jsonl")
    assert len(new_log) > len(old_log) and new_log[: len(old_log)] == old_log


def test_advance_adds_and_updates_stripe_records(advanced) -> None:
    root, before, _, _ = advanced
    charges, payouts = _by_id(root, "charges"), _by_id(root, "payouts")
    assert set(before["charges"]) < set(charges) and set(before["payouts"]) < set(payouts)
    assert all(charges[c]["amount"] == before["charges"][c]["amount"] for c in before["charges"])
    arrived = [p for p in before["payouts"] if before["payouts"][p]["status"] == "in_transit"]
    assert arrived and all(payouts[p]["status"] == "paid" for p in arrived)


def test_advance_equals_generating_at_that_date(advanced, tmp_path: Path) -> None:
    root, _, meta, _ = advanced
    direct = tmp_path / "direct"
    generate(seed=5, scale=0.03, out=direct, as_of=date.fromisoformat(meta["as_of"]) + timedelta(days=30))
    for rel in (
        "state/stripe/charges.jsonl",
        "state/bank_feed/sync_log.jsonl",
        "truth/daily_balances.parquet",
    ):
        assert (root / rel).read_bytes() == (direct / rel).read_bytes()


def test_server_picks_up_an_advance(tmp_path: Path) -> None:
    root = tmp_path / "sbx"
    generate(seed=5, scale=0.03, out=root)
    client = TestClient(create_app(root))
    auth = {"Authorization": f"Bearer {STRIPE_API_KEY}"}
    newest = client.get("/v1/charges", params={"limit": 1}, headers=auth).json()["data"][0]
    advance(root, 10)
    after = client.get("/v1/charges", params={"limit": 1}, headers=auth).json()["data"][0]
    assert after["created"] > newest["created"]


def test_advance_limits(tmp_path: Path) -> None:
    root = tmp_path / "sbx"
    generate(seed=5, scale=0.02, out=root)
    with pytest.raises(LedgerlakeError, match="days"):
        advance(root, 0)
    with pytest.raises(LedgerlakeError, match="simulation ends"):
        advance(root, 5000)
    with pytest.raises(LedgerlakeError, match="sandbox.json"):
        advance(tmp_path / "missing", 1)
