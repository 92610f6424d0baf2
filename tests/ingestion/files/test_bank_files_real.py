"""Every real bank sample file (tests/fixtures/real/bank_*) parses to the record counts its manifest row
states; the deliberately malformed ones end as quarantine rows with a reason."""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.files import parse_batch, parse_file
from ingestion.files.normalise import FILE, STATEMENTS, TRANSACTIONS, Batch

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "real"


def _manifest() -> list[dict[str, str]]:
    with (REAL / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        return [row for row in csv.DictReader(fh, delimiter="\t") if row["category"].startswith("bank_")]


ROWS = _manifest()
COMPANION = (".json", ".yml")  # the upstream projects' expected-parse files, not statements


def expected_counts(row: dict[str, str]) -> tuple[int, int | None]:
    """(transactions, statements) as the manifest's record_count states them for this format."""
    text = row["record_count"]
    patterns = {
        "bank_ofx": r"(\d+) STMTTRN, \d+ invest txns, (\d+) statements",
        "bank_mt940": r"(\d+) :61: lines, (\d+) statements",
        "bank_bai2": r"(\d+) type-16 txns, (\d+) accounts \(03\)",
        "bank_camt": r"(\d+) Ntry, \d+ TxDtls, (\d+) Stmt/Ntfctn/Rpt",
        "bank_csv": r"(\d+) data rows",
    }
    match = re.search(patterns[row["category"]], text)
    assert match, f"cannot read record_count {text!r}"
    statements = int(match.group(2)) if match.lastindex == 2 else None
    return int(match.group(1)), statements


def _batch(path: Path) -> Batch:
    return parse_batch([path])


def _balanced(batch: Batch) -> None:
    for name, counts in batch.counts.items():
        assert counts.seen == counts.loaded + counts.quarantined + counts.duplicates, name


def test_manifest_lists_every_copied_file() -> None:
    listed = {row["local_file"] for row in ROWS}
    copied = {str(p.relative_to(REAL)) for p in REAL.glob("bank_*/*")}
    assert listed == copied


@pytest.mark.parametrize("row", ROWS, ids=[row["local_file"] for row in ROWS])
def test_real_file_counts_match_manifest(row: dict[str, str]) -> None:
    path = REAL / row["local_file"]
    batch = _batch(path)
    _balanced(batch)
    if path.suffix in COMPANION:
        assert batch.counts[FILE].quarantined == 1
        assert batch.quarantine[0]["reason"].startswith("unknown format")
        return
    transactions, statements = expected_counts(row)
    assert batch.counts[FILE].loaded == 1
    assert batch.counts[TRANSACTIONS].seen == transactions
    if statements is not None:
        assert batch.counts[STATEMENTS].seen == statements
    for q in batch.quarantine:
        assert q["record_ref"].startswith(f"{path.name}:") and q["reason"]


MALFORMED = [row for row in ROWS if Path(row["local_file"]).name.startswith(("fail_", "error_"))]


@pytest.mark.parametrize("row", MALFORMED, ids=[row["local_file"] for row in MALFORMED])
def test_malformed_files_are_quarantined_with_a_reason(row: dict[str, str]) -> None:
    batch = _batch(REAL / row["local_file"])
    assert batch.quarantine, "a malformed file must leave quarantine rows"
    assert all(q["source"] == "bank_files" and q["reason"] and q["raw"] for q in batch.quarantine)


def test_missing_and_invalid_dates_quarantine_each_line() -> None:
    batch = _batch(REAL / "bank_ofx" / "fail_date_missing.ofx")
    reasons = [q["reason"] for q in batch.quarantine if q["object"] == "transactions"]
    assert reasons == [
        "STMTTRN has no DTPOSTED (booking date)",
        "STMTTRN has no DTPOSTED (booking date)",
        "DTPOSTED '20120231' is not a valid date",
    ]
    assert [q["record_ref"] for q in batch.quarantine] == [f"fail_date_missing.ofx:{i}" for i in range(3)]
    assert batch.counts[STATEMENTS].loaded == 1


def test_empty_balance_quarantines_the_statement_but_keeps_its_line() -> None:
    batch = _batch(REAL / "bank_ofx" / "fail_empty_balance.ofx")
    assert [q["object"] for q in batch.quarantine] == ["statements"]
    assert "empty BALAMT" in batch.quarantine[0]["reason"]
    assert [t["amount"] for t in batch.transactions] == [Decimal("120.0000")]


def test_balance_difference_is_stated() -> None:
    batch = _batch(REAL / "bank_mt940" / "jejik_ing.sta")
    (row,) = [q for q in batch.quarantine if q["object"] == "statements"]
    assert "difference 49.06" in row["reason"]


def test_mt940_lines_match_the_libraries_expected_output() -> None:
    """jejik_ing.expected.yml is mt940's own expected parse of jejik_ing.sta."""
    yml = (REAL / "bank_mt940" / "jejik_ing.expected.yml").read_text(encoding="utf-8")
    expected = re.findall(
        r"amount: !!python/object/apply:decimal\.Decimal \['([-\d.]+)'\]", yml.split("\ntransactions:")[1]
    )
    parsed = parse_file(REAL / "bank_mt940" / "jejik_ing.sta")
    assert [str(line.amount) for s in parsed.statements for line in s.lines] == expected


@pytest.mark.parametrize(
    ("xml", "truth"),
    [
        ("genkgo_camt053.v2.minimal.xml", "genkgo_camt053.v2.minimal.json"),
        ("genkgo_camt053.v4.xml", "genkgo_camt053.v4.json"),
        ("genkgo_camt054.v4.xml", "genkgo_camt054.v4.json"),
    ],
)
def test_camt_entries_match_genkgos_expected_parse(xml: str, truth: str) -> None:
    entries = json.loads((REAL / "bank_camt" / truth).read_text(encoding="utf-8"))["getEntries"]
    parsed = parse_file(REAL / "bank_camt" / xml)
    lines = [line for s in parsed.statements for line in s.lines]
    assert len(lines) == len(entries)
    for line, entry in zip(lines, entries, strict=True):
        money = entry["getAmount"]
        assert line.currency == money["getCurrency"]["getCode"]
        assert abs(line.amount) * 100 == abs(Decimal(money["getAmount"]))
        assert (line.amount > 0) == (entry["getCreditDebitIndicator"] == "CRDT")
        assert line.booking_date.isoformat() == entry["getBookingDate"]["0"][:10]
        if entry.get("getAccountServicerReference"):
            assert line.bank_reference == entry["getAccountServicerReference"]
