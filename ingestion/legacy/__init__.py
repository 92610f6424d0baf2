"""The legacy accounting system's trial-balance export -> `raw_legacy.trial_balance` (+ quarantine).

`load_legacy(paths, target)` reads `;`-separated exports with the header
`Date;Account No;Account Name;Debit;Credit;Balance` (cp1252 or UTF-8; dates `DD.MM.YYYY`; amounts
`1.234,56`, a leading `-` for negative balances) — one row per account and day, as the sandbox's
`exports/legacy/legacy_trial_balance.csv` (docs/sandbox.md, "Legacy export (parallel run)").
Rows merge on (`date`, `account_no`): a later export of the same day replaces it. A row that does not
parse goes to `raw_legacy.quarantine`; a key repeated within the batch counts as a duplicate (the
first one loads). seen = loaded + quarantined + duplicates.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa

from ingestion.common import SourceReport, Target, make_pipeline, quarantine_row, to_quarantine
from ledgerlake.errors import LedgerlakeError

log = logging.getLogger(__name__)
SOURCE = "legacy"
OBJECT = "trial_balance"
HEADER = ("Date", "Account No", "Account Name", "Debit", "Credit", "Balance")
AMOUNT = pa.decimal128(18, 2)
SCHEMA = pa.schema(
    [
        pa.field("date", pa.date32(), nullable=False),
        pa.field("account_no", pa.string(), nullable=False),
        pa.field("account_name", pa.string()),
        pa.field("debit", AMOUNT),
        pa.field("credit", AMOUNT),
        pa.field("balance", AMOUNT),
        pa.field("source_file", pa.string()),
        pa.field("row_number", pa.int64()),
    ]
)


class RowProblem(ValueError):
    """A row that breaks the export's contract (quarantined with this message)."""


def _amount(text: str, column: str) -> Decimal:
    raw = text.strip().replace(".", "").replace(",", ".")
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise RowProblem(f"{column}: not an amount ({text!r}, expected e.g. 1.234,56)") from exc
    if value != value.quantize(Decimal("0.01")):
        raise RowProblem(f"{column}: more than two decimals ({text!r})")
    return value


def _date(text: str) -> date:
    try:
        return datetime.strptime(text.strip(), "%d.%m.%Y").date()
    except ValueError as exc:
        raise RowProblem(f"Date: not a DD.MM.YYYY date ({text!r})") from exc


def parse_row(cells: list[str], source_file: str, row_number: int) -> dict[str, Any]:
    if len(cells) != len(HEADER):
        raise RowProblem(f"{len(cells)} columns, expected {len(HEADER)} ({';'.join(HEADER)})")
    day, account_no, name, debit, credit, balance = cells
    if not account_no.strip():
        raise RowProblem("Account No is empty")
    row = {
        "date": _date(day),
        "account_no": account_no.strip(),
        "account_name": name.strip(),
        "debit": _amount(debit, "Debit"),
        "credit": _amount(credit, "Credit"),
        "balance": _amount(balance, "Balance"),
        "source_file": source_file,
        "row_number": row_number,
    }
    if row["debit"] < 0 or row["credit"] < 0:
        raise RowProblem("Debit and Credit are the day's movements and must not be negative")
    return row


def _text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def parse_files(files: list[Path]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, int]:
    """(rows, quarantine rows, seen, duplicates) for the export files, in order."""
    rows: dict[tuple[date, str], dict[str, Any]] = {}
    quarantine: list[dict[str, Any]] = []
    seen = duplicates = 0
    for path in files:
        reader = csv.reader(io.StringIO(_text(path)), delimiter=";")
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != HEADER:
            quarantine.append(
                quarantine_row(SOURCE, OBJECT, path.name, f"header is not {';'.join(HEADER)}", str(header))
            )
            continue
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            seen += 1
            try:
                row = parse_row(cells, path.name, number)
            except RowProblem as exc:
                quarantine.append(
                    quarantine_row(SOURCE, OBJECT, f"{path.name}:{number}", str(exc), ";".join(cells))
                )
                continue
            key = (row["date"], row["account_no"])
            if key in rows:
                duplicates += 1
                continue
            rows[key] = row
    return list(rows.values()), quarantine, seen, duplicates


@dlt.source(name=SOURCE)
def legacy_source(rows: list[dict[str, Any]], quarantine: list[dict[str, Any]]) -> Any:
    @dlt.resource(name=OBJECT, write_disposition="merge", primary_key=("date", "account_no"))
    def trial_balance() -> Iterator[pa.Table]:
        if rows:
            yield pa.Table.from_pylist(rows, schema=SCHEMA)

    @dlt.resource(name="legacy_quarantine")
    def bad_rows() -> Iterator[Any]:
        for row in quarantine:
            yield to_quarantine(row)

    return trial_balance, bad_rows


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(p for p in sorted(path.glob("*.csv")) if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise LedgerlakeError(f"{path}: no such legacy export file or folder")
    return files


def load_legacy(paths: list[Path], target: Target) -> SourceReport:
    """Load legacy trial-balance exports (files, or folders of `*.csv`) into `raw_legacy`."""
    started = time.monotonic()
    rows, quarantine, seen, duplicates = parse_files(_files([Path(p) for p in paths]))
    if rows or quarantine:
        make_pipeline(SOURCE, target).run(legacy_source(rows, quarantine))
    report = SourceReport(source=SOURCE, seconds=time.monotonic() - started)
    counts = report.counts(OBJECT)
    counts.seen, counts.loaded, counts.duplicates = seen, len(rows), duplicates
    counts.quarantined = seen - len(rows) - duplicates  # rows only; a bad file is quarantined whole
    log.info("legacy: %s", vars(counts))
    return report
