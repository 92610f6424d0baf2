"""SWIFT MT940 with the `mt940` library (WoLpH/mt940), one statement (`:20:` block) at a time.

The library merges all statements of a file into one `Transactions` object and keeps only the last
statement's balances, so we split the file at each `:20:` tag first (after removing SWIFT `{1:}{2:}`
block headers) and let the library parse each block; the balance check needs per-statement balances.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import mt940
from mt940.processors import transaction_details_post_processor

from ingestion.files.model import ParsedFile, ParsedLine, ParsedStatement
from ingestion.files.text import clean

_SWIFT_BLOCKS = re.compile(r"\{[1235]:(?:[^{}]|\{[^{}]*\})*\}")
_STATEMENT_START = re.compile(r"^:20:", re.M)
_LINE_TAG = re.compile(r"^:61:", re.M)
_NO_REF = {"NONREF", "NOTPROVIDED", ""}


def unwrap_swift(text: str) -> str:
    """The MT940 body without SWIFT FIN envelope blocks ({1:..}{2:..}{3:..}{4: ... -}{5:..})."""
    text = _SWIFT_BLOCKS.sub("", text)
    text = text.replace("{4:", "\n")
    return re.sub(r"^-\}\s*$", "-", text, flags=re.M)


def split_statements(text: str) -> list[str]:
    starts = [m.start() for m in _STATEMENT_START.finditer(text)]
    return [text[start:end] for start, end in zip(starts, [*starts[1:], len(text)], strict=False)]


def parse_mt940(text: str) -> ParsedFile:
    parsed = ParsedFile(source_format="mt940")
    position = 0
    for block in split_statements(unwrap_swift(text.replace("\r\n", "\n"))):
        statement = _statement(block, position)
        position += len(statement.lines)
        parsed.statements.append(statement)
    return parsed


def _statement(block: str, first_position: int) -> ParsedStatement:
    transactions = mt940.models.Transactions(
        processors={"post_transaction_details": [transaction_details_post_processor]}
    )
    try:
        with _quiet_library():
            transactions.parse(block)
    except Exception as exc:  # the library raises bare RuntimeError/ValueError/KeyError
        return _unparseable(block, first_position, f"mt940 could not parse the statement: {exc}")
    data = transactions.data
    opening = data.get("final_opening_balance") or data.get("intermediate_opening_balance")
    closing = data.get("final_closing_balance") or data.get("intermediate_closing_balance")
    statement = ParsedStatement(
        account_id=clean(data.get("account_identification")),
        statement_ref=_statement_ref(data),
        currency=_balance_currency(opening) or _balance_currency(closing),
        raw=_header_raw(block),
        opening_balance=opening.amount.amount if opening else None,
        closing_balance=closing.amount.amount if closing else None,
        from_date=_as_date(opening.date) if opening else None,
        to_date=_as_date(closing.date) if closing else None,
    )
    raws = _line_raws(block)
    for offset, tx in enumerate(transactions.transactions):
        raw = raws[offset] if offset < len(raws) else str(tx.data)
        statement.lines.append(_line(tx.data, first_position + offset, raw))
    return statement


@contextmanager
def _quiet_library() -> Iterator[None]:
    """mt940 logs every regex miss at ERROR level; we report the failure as a quarantine row instead."""
    logger = logging.getLogger("mt940")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _unparseable(block: str, first_position: int, reason: str) -> ParsedStatement:
    raws = _line_raws(block)
    statement = ParsedStatement(account_id=None, statement_ref=None, currency=None, raw=block, problem=reason)
    statement.lines = [
        ParsedLine(position=first_position + i, raw=raw, problem=reason) for i, raw in enumerate(raws)
    ]
    return statement


def _statement_ref(data: dict[str, Any]) -> str:
    parts = [data.get("transaction_reference"), data.get("statement_number"), data.get("sequence_number")]
    return "/".join(str(p).strip() for p in parts if p is not None)


def _balance_currency(balance: Any) -> str | None:
    return balance.amount.currency if balance is not None else None


def _as_date(value: Any) -> date | None:
    return None if value is None else date(value.year, value.month, value.day)


def _header_raw(block: str) -> str:
    first_line = _LINE_TAG.search(block)
    head = block[: first_line.start()] if first_line else block
    tail = block[block.rfind(":62") :] if ":62" in block else ""
    return (head + tail).strip()


def _line_raws(block: str) -> list[str]:
    starts = [m.start() for m in _LINE_TAG.finditer(block)]
    raws = []
    for start, end in zip(starts, [*starts[1:], len(block)], strict=False):
        chunk = block[start:end]
        closing = re.search(r"^:6[24]", chunk, re.M)
        raws.append((chunk[: closing.start()] if closing else chunk).strip())
    return raws


def _line(data: dict[str, Any], position: int, raw: str) -> ParsedLine:
    amount = data.get("amount")
    value = amount.amount if amount is not None else None
    line = ParsedLine(position=position, raw=raw)
    line.amount = Decimal(value) if value is not None else None
    line.currency = data.get("currency") or (amount.currency if amount is not None else None)
    line.value_date = _as_date(data.get("date"))
    line.booking_date = _as_date(data.get("entry_date")) or line.value_date
    details = clean(data.get("transaction_details"))
    line.remittance_info = clean(data.get("purpose")) or details
    line.counterparty_name = clean(data.get("applicant_name"))
    line.counterparty_account = clean(data.get("applicant_iban")) or _account_like(data.get("extra_details"))
    line.bank_reference = _ref(data.get("bank_reference")) or _ref(data.get("customer_reference"))
    line.end_to_end_ref = clean(data.get("end_to_end_reference"))
    line.transaction_code = clean(data.get("transaction_code")) or clean(data.get("id"))
    if line.amount is None:
        line.problem = "the :61: line has no amount"
    elif line.booking_date is None:
        line.problem = "the :61: line has no date"
    return line


def _ref(value: str | None) -> str | None:
    value = clean(value)
    return None if value is None or value.upper() in _NO_REF else value


def _account_like(value: str | None) -> str | None:
    value = clean(value)
    return value if value and re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}|\d{6,}", value) else None
