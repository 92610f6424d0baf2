"""The one normalised shape every bank file format is parsed into, and the Arrow schemas it loads as.

Parsers produce `ParsedFile -> ParsedStatement -> ParsedLine` with raw values and, where a line or
statement is malformed, a `problem` text. `ingestion.files.normalise` then validates the contract
(date, amount, currency, account), computes fingerprints and splits rows from quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pyarrow as pa

AMOUNT_TYPE = pa.decimal128(18, 4)


class FileProblem(Exception):
    """A whole file cannot be read: empty, unknown format, undecodable, malformed beyond one line."""


@dataclass
class ParsedLine:
    """One booked line as the file states it. `amount` is signed: + money in, - money out."""

    position: int
    raw: str
    booking_date: date | None = None
    value_date: date | None = None
    amount: Decimal | None = None
    currency: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    remittance_info: str | None = None
    bank_reference: str | None = None
    end_to_end_ref: str | None = None
    transaction_code: str | None = None
    problem: str | None = None


@dataclass
class ParsedStatement:
    """One statement (camt Stmt/Rpt/Ntfctn, OFX STMTRS, MT940 :20: block, BAI2 03 account, CSV file)."""

    account_id: str | None
    statement_ref: str | None
    currency: str | None
    raw: str
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    from_date: date | None = None
    to_date: date | None = None
    lines: list[ParsedLine] = field(default_factory=list)
    problem: str | None = None


@dataclass
class ParsedFile:
    source_format: str
    statements: list[ParsedStatement] = field(default_factory=list)


TRANSACTION_SCHEMA = pa.schema(
    [
        pa.field("fingerprint", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("statement_id", pa.string(), nullable=False),
        pa.field("booking_date", pa.date32(), nullable=False),
        pa.field("value_date", pa.date32()),
        pa.field("amount", AMOUNT_TYPE, nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("counterparty_name", pa.string()),
        pa.field("counterparty_account", pa.string()),
        pa.field("remittance_info", pa.string()),
        pa.field("bank_reference", pa.string()),
        pa.field("end_to_end_ref", pa.string()),
        pa.field("transaction_code", pa.string()),
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("position", pa.int64(), nullable=False),
    ]
)

STATEMENT_SCHEMA = pa.schema(
    [
        pa.field("statement_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("statement_ref", pa.string()),
        pa.field("currency", pa.string()),
        pa.field("opening_balance", AMOUNT_TYPE),
        pa.field("closing_balance", AMOUNT_TYPE),
        pa.field("from_date", pa.date32()),
        pa.field("to_date", pa.date32()),
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("line_count", pa.int64(), nullable=False),
    ]
)
