"""The sandbox's file exports: every statement parses with `ingestion.files`, its lines equal the
truth, balances add up, the one overlapping statement dedupes, and the files have the real shapes."""

from __future__ import annotations

import csv
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from ingestion.files import parse_batch, parse_file
from sandbox.company.exports import ACCOUNTS, iban

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"


def _bank_files(root: Path) -> list[Path]:
    return sorted((root / "exports" / "bank").iterdir())


@pytest.fixture(scope="module")
def batch(small_sandbox: Path):  # noqa: ANN201 - ingestion.files.normalise.Batch
    return parse_batch(_bank_files(small_sandbox))


def test_every_statement_parses_without_quarantine(batch) -> None:  # noqa: ANN001
    assert batch.quarantine == []
    assert batch.counts["file"].loaded == batch.counts["file"].seen > 0


def test_parsed_lines_equal_the_truth(small_sandbox: Path, batch) -> None:  # noqa: ANN001
    truth = pl.read_parquet(small_sandbox / "truth/statement_lines.parquet")
    want = Counter(
        (r["account_id"], r["date"], Decimal(str(r["amount"])).quantize(Decimal("0.0001")), r["currency"])
        for r in truth.iter_rows(named=True)
    )
    got = Counter(
        (t["account_id"], t["booking_date"], t["amount"], t["currency"]) for t in batch.transactions
    )
    assert got == want
    by_ref = {r["statement_line_id"]: r for r in truth.iter_rows(named=True)}
    for t in batch.transactions:
        if t["source_format"].startswith("csv"):  # the N26 layout has no bank reference column
            assert t["counterparty_name"] and t["remittance_info"]
            continue
        line = by_ref[t["bank_reference"]]
        assert (t["booking_date"], float(t["amount"])) == (line["date"], line["amount"])
        text = (t["remittance_info"] or "").upper()
        assert line["remittance_info"][:20].upper() in text, (t["source_file"], text)


def test_the_reissued_statement_is_deduplicated(small_sandbox: Path, batch) -> None:  # noqa: ANN001
    files = pl.read_parquet(small_sandbox / "truth/statement_files.parquet")
    [overlap] = files.filter(pl.col("overlap")).iter_rows(named=True)
    assert overlap["line_count"] > 0
    assert batch.counts["transactions"].duplicates == overlap["line_count"]
    truth = pl.read_parquet(small_sandbox / "truth/statement_lines.parquet")
    twice = truth.filter(pl.col("source_files").list.len() == 2)
    assert twice.height == overlap["line_count"]
    assert all(overlap["file"] in f for f in twice["source_files"].to_list())


def test_statement_balances_chain_and_equal_the_truth(small_sandbox: Path, batch) -> None:  # noqa: ANN001
    balances = pl.read_parquet(small_sandbox / "truth/statement_balances.parquet")
    closing = {(r["account_id"], r["date"]): r["balance"] for r in balances.iter_rows(named=True)}
    checked = 0
    for st in batch.statements:
        if st["closing_balance"] is None:
            continue
        assert float(st["closing_balance"]) == pytest.approx(closing[(st["account_id"], st["to_date"])])
        checked += 1
    assert checked > 20
    lines = pl.read_parquet(small_sandbox / "truth/statement_lines.parquet")
    for acc in ACCOUNTS:
        flows = lines.filter(pl.col("account_id") == acc.account_id)["amount"].sum()
        last = balances.filter(pl.col("account_id") == acc.account_id).sort("date")["balance"][-1]
        assert last == pytest.approx(acc.opening_cents / 100 + flows)


def test_every_format_is_written(small_sandbox: Path) -> None:
    formats = {parse_file(p).source_format for p in _bank_files(small_sandbox)}
    assert {
        "camt.053.001.02",
        "camt.053.001.08",
        "ofx-xml",
        "ofx-sgml",
        "mt940",
        "bai2",
        "csv:n26",
    } <= formats
    texts = {p.name: p.read_text() for p in _bank_files(small_sandbox)}
    mt940 = [t for n, t in texts.items() if n.endswith(".sta")]
    assert any(t.startswith("{1:F01") for t in mt940) and any(t.startswith(":20:") for t in mt940)


def test_statement_accounts_are_not_in_the_bank_feed(small_sandbox: Path) -> None:
    feed = pl.read_parquet(small_sandbox / "truth/bank_lines.parquet")
    accounts = json.loads((small_sandbox / "state/bank_feed/accounts.json").read_text())
    ids = {a.account_id for a in ACCOUNTS}
    assert not ids & set(feed["account_id"]) and not ids & {a["account_id"] for a in accounts}


def test_csv_headers_are_the_real_ones(small_sandbox: Path) -> None:
    n26_real = (REAL / "bank_csv/csv2ofx_n26-fr.csv").read_text().splitlines()[0]
    n26 = next((small_sandbox / "exports/bank").glob("*.csv")).read_text().splitlines()[0]
    assert n26 == n26_real
    stripe_real = (REAL / "bank_csv/csv2ofx_stripe-default.csv").read_text().splitlines()[0]
    files = sorted((small_sandbox / "exports/processor").glob("stripe_payments_*.csv"))
    assert files and all(f.read_text().splitlines()[0] == stripe_real for f in files)


def test_stripe_csv_equals_the_charges(small_sandbox: Path) -> None:
    charges = [json.loads(x) for x in (small_sandbox / "state/stripe/charges.jsonl").read_text().splitlines()]
    rows = []
    for f in sorted((small_sandbox / "exports/processor").glob("stripe_payments_*.csv")):
        rows += list(csv.DictReader(f.open()))
        parsed = parse_file(f)
        assert parsed.source_format == "csv:stripe-charges"
    assert sorted((r["id"], r["amount"], r["amount_refunded"]) for r in rows) == sorted(
        (c["id"], f"{c['amount'] / 100:.2f}", f"{c['amount_refunded'] / 100:.2f}") for c in charges
    )


def test_ibans_have_valid_check_digits() -> None:
    assert iban("GB", "WEST12345698765432") == "GB82WEST12345698765432"  # the ISO 13616 example
    for acc in ACCOUNTS:
        if acc.account_id[:2].isalpha():
            moved = acc.account_id[4:] + acc.account_id[:4]
            assert int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
