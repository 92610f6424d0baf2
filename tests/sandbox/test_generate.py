from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from sandbox.generate import generate


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_seed_gives_byte_identical_output(tmp_path: Path) -> None:
    a = generate(seed=7, scale=0.03, out=tmp_path / "a")
    b = generate(seed=7, scale=0.03, out=tmp_path / "b")
    assert _tree_hash(tmp_path / "a" / "truth") == _tree_hash(tmp_path / "b" / "truth")
    assert _tree_hash(tmp_path / "a") == _tree_hash(tmp_path / "b")
    assert a["records"] == b["records"]


def test_different_seeds_differ(tmp_path: Path) -> None:
    generate(seed=7, scale=0.03, out=tmp_path / "a")
    generate(seed=8, scale=0.03, out=tmp_path / "b")
    assert _tree_hash(tmp_path / "a" / "truth") != _tree_hash(tmp_path / "b" / "truth")


def test_sandbox_json_holds_clock_and_seed(small_sandbox: Path) -> None:
    meta = json.loads((small_sandbox / "sandbox.json").read_text())
    assert meta["seed"] == 1 and meta["scale"] == 0.05
    assert meta["start"] < meta["go_live"] < meta["as_of"]
    assert meta["functional_currency"] == "USD"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_payout_equals_its_balance_transactions(small_sandbox: Path) -> None:
    payouts = {p["id"]: p for p in _jsonl(small_sandbox / "state/stripe/payouts.jsonl")}
    members = pl.read_parquet(small_sandbox / "truth/stripe_payout_members.parquet")
    sums = dict(members.group_by("payout_id").agg(pl.col("net").sum()).iter_rows())
    assert set(sums) == set(payouts)
    assert all(sums[pid] == p["amount"] > 0 for pid, p in payouts.items())
    bts = {b["id"]: b for b in _jsonl(small_sandbox / "state/stripe/balance_transactions.jsonl")}
    for row in members.iter_rows(named=True):
        bt = bts[row["balance_transaction_id"]]
        assert bt["net"] == bt["amount"] - bt["fee"] == row["net"]
        # funds are swept no earlier than they become available (T+2 business days for charges)
        assert bt["available_on"] // 86400 <= payouts[row["payout_id"]]["created"] // 86400
    types = {b["type"] for b in bts.values()}
    assert {"charge", "refund", "payout"} <= types


def test_charges_refunds_and_fees_are_consistent(small_sandbox: Path) -> None:
    charges = {c["id"]: c for c in _jsonl(small_sandbox / "state/stripe/charges.jsonl")}
    refunds = _jsonl(small_sandbox / "state/stripe/refunds.jsonl")
    assert refunds, "the small sandbox should hold refunds"
    by_charge: dict[str, int] = {}
    for r in refunds:
        by_charge[r["charge"]] = by_charge.get(r["charge"], 0) + r["amount"]
    for cid, total in by_charge.items():
        assert charges[cid]["amount_refunded"] == total <= charges[cid]["amount"]
        assert charges[cid]["refunded"] == (total == charges[cid]["amount"])
    assert any(c["refunded"] for c in charges.values()) and any(
        0 < c["amount_refunded"] < c["amount"] for c in charges.values()
    )


def test_every_paid_payout_arrives_in_the_bank_once(small_sandbox: Path) -> None:
    payouts = _jsonl(small_sandbox / "state/stripe/payouts.jsonl")
    matches = pl.read_parquet(small_sandbox / "truth/bank_matches.parquet")
    payout_matches = matches.filter(pl.col("match_type") == "stripe_payout")
    paid = {p["id"]: p["amount"] for p in payouts if p["status"] == "paid"}
    assert sorted(payout_matches["counterpart_id"].to_list()) == sorted(paid)
    lines = pl.read_parquet(small_sandbox / "truth/bank_lines.parquet")
    expected = dict(
        lines.select("ref", "expected_amount").filter(pl.col("ref").str.starts_with("po_")).iter_rows()
    )
    assert all(round(expected[pid] * 100) == amount for pid, amount in paid.items())
    with_id = payout_matches.filter(pl.col("has_reference"))
    names = dict(lines.select("bank_transaction_id", "name").iter_rows())
    assert all(
        cp in names[bt] for bt, cp in with_id.select("bank_transaction_id", "counterpart_id").iter_rows()
    )


# the defects planted on bank-feed lines; other systems plant their own (ledger, shop) elsewhere
BANK_DEFECT_TYPES = (
    "payout_line_missing_id",
    "remittance_missing_invoice_number",
    "amount_typo",
    "duplicate_vendor_payment",
)


def test_defects_point_at_real_bank_lines(tmp_path: Path) -> None:
    root = tmp_path / "sbx"
    generate(seed=4, scale=0.05, out=root)  # a small sandbox with every kind of bank defect
    defects = pl.read_parquet(root / "truth/defects.parquet")
    lines = pl.read_parquet(root / "truth/bank_lines.parquet")
    ids = set(lines["bank_transaction_id"].to_list())
    assert defects.height > 0
    assert {"payout_line_missing_id", "remittance_missing_invoice_number"} <= set(defects["defect_type"])
    bank_defects = defects.filter(pl.col("defect_type").is_in(BANK_DEFECT_TYPES))
    assert set(bank_defects["defect_type"]) == set(BANK_DEFECT_TYPES)
    for record_ids in bank_defects["record_ids"]:
        assert record_ids.split(",")[0] in ids
    missing = lines.join(
        defects.filter(pl.col("defect_type") == "payout_line_missing_id").with_columns(
            bank_transaction_id=pl.col("record_ids").str.split(",").list.first()
        ),
        on="bank_transaction_id",
    )
    assert all(not name.startswith(("STRIPE PAYOUT po_", "SHOPIFY PAYOUT")) for name in missing["name"])
    assert set(missing["kind"]) == {"stripe_payout", "shopify_payout"}


def test_daily_balances_follow_the_lines(small_sandbox: Path) -> None:
    lines = pl.read_parquet(small_sandbox / "truth/bank_lines.parquet")
    balances = pl.read_parquet(small_sandbox / "truth/daily_balances.parquet")
    accounts = json.loads((small_sandbox / "state/bank_feed/accounts.json").read_text())
    first_day, last_day = balances["date"].min(), balances["date"].max()
    for acc in accounts:
        own = balances.filter(pl.col("account_id") == acc["account_id"]).sort("date")
        flows = lines.filter(pl.col("account_id") == acc["account_id"])
        opening = own["balance"][0] - flows.filter(pl.col("date") == first_day)["amount"].sum()
        assert own["balance"][-1] == pytest.approx(opening + flows["amount"].sum(), abs=0.01)
        assert acc["balances"]["current"] == pytest.approx(own["balance"][-1], abs=0.01)
    total = balances.filter(pl.col("account_id") == "total", pl.col("date") == last_day)["balance"][0]
    per_account = balances.filter(pl.col("account_id") != "total", pl.col("date") == last_day)
    assert total == pytest.approx(per_account["balance_functional"].sum(), abs=0.05)


def test_fx_conversions_pair_across_accounts(small_sandbox: Path) -> None:
    matches = pl.read_parquet(small_sandbox / "truth/bank_matches.parquet").filter(
        pl.col("match_type") == "fx_transfer"
    )
    pairs = dict(matches.select("bank_transaction_id", "counterpart_id").iter_rows())
    assert pairs and all(pairs[pairs[a]] == a for a in pairs)
    currencies = dict(matches.select("bank_transaction_id", "currency").iter_rows())
    assert all(currencies[a] != currencies[b] for a, b in pairs.items())


def test_scale_one_is_fast_and_sized(tmp_path: Path) -> None:
    summary = generate(seed=3, scale=1.0, out=tmp_path / "big")
    assert summary["generate_seconds"] < 30
    assert 80_000 < summary["records_total"] < 130_000  # ≈ 100k source records at scale 1
