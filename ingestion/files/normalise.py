"""From parsed files to load-ready rows: contract checks, fingerprints, balance check, dedupe, counts.

Fingerprint of a line: sha256 over account, booking date, amount, currency, the bank reference (or
remittance + counterparty when there is none) and the occurrence index of that key within its
statement, so two identical coffees on one day stay two rows while the same line in two overlapping
statements (or the same file loaded twice) collapses to one.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ingestion.common import ObjectCounts, quarantine_row
from ingestion.files.currencies import normalise_currency
from ingestion.files.model import ParsedFile, ParsedLine, ParsedStatement

SOURCE = "bank_files"
TRANSACTIONS = "transactions"
STATEMENTS = "statements"
FILE = "file"
_PRECISION = Decimal("0.0001")


def _hash(*parts: object) -> str:
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:32]


@dataclass
class Batch:
    """Everything one `load_files` call will load, plus its counts."""

    transactions: list[dict[str, Any]] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, ObjectCounts] = field(
        default_factory=lambda: {name: ObjectCounts() for name in (FILE, STATEMENTS, TRANSACTIONS)}
    )
    seen_fingerprints: set[str] = field(default_factory=set)
    seen_statements: set[str] = field(default_factory=set)
    # the content hash (of the bytes) of each file loaded, in order: what makes a file new or not
    file_hashes: list[str] = field(default_factory=list)

    def quarantine_file(self, file_name: str, reason: str, raw: str) -> None:
        self.counts[FILE].seen += 1
        self.counts[FILE].quarantined += 1
        self.quarantine.append(quarantine_row(SOURCE, FILE, f"{file_name}:0", reason, raw[:2000]))

    def add_file(self, file_name: str, parsed: ParsedFile, content_hash: str | None = None) -> None:
        self.counts[FILE].seen += 1
        self.counts[FILE].loaded += 1
        if content_hash is not None:
            self.file_hashes.append(content_hash)
        for index, statement in enumerate(parsed.statements):
            self._add_statement(file_name, parsed.source_format, statement, index)

    def _add_statement(
        self, file_name: str, source_format: str, statement: ParsedStatement, index: int
    ) -> None:
        """`index` is the statement's place in the file; its quarantine ref is `file:index`."""
        counts = self.counts[STATEMENTS]
        counts.seen += 1
        statement.currency = normalise_currency(statement.currency) or statement.currency
        statement_id = statement_key(statement)
        self._add_lines(file_name, source_format, statement, statement_id)
        reason = statement_problem(statement)
        ref = f"{file_name}:{index}"
        if reason:
            counts.quarantined += 1
            raw = json.dumps(_statement_row(statement, statement_id, source_format, file_name), default=str)
            self.quarantine.append(quarantine_row(SOURCE, STATEMENTS, ref, reason, raw))
        elif statement_id in self.seen_statements:
            counts.duplicates += 1
        else:
            counts.loaded += 1
            self.seen_statements.add(statement_id)
            self.statements.append(_statement_row(statement, statement_id, source_format, file_name))

    def _add_lines(
        self, file_name: str, source_format: str, statement: ParsedStatement, statement_id: str
    ) -> None:
        counts = self.counts[TRANSACTIONS]
        occurrences: Counter[tuple[Any, ...]] = Counter()
        for line in statement.lines:
            counts.seen += 1
            currency = normalise_currency(line.currency or statement.currency)
            reason = line_problem(line, statement, currency)
            if reason:
                counts.quarantined += 1
                self.quarantine.append(
                    quarantine_row(SOURCE, TRANSACTIONS, f"{file_name}:{line.position}", reason, line.raw)
                )
                continue
            assert line.amount is not None and statement.account_id is not None
            key = _line_key(statement.account_id, line, currency)
            fingerprint = _hash(*key, occurrences[key])
            occurrences[key] += 1
            if fingerprint in self.seen_fingerprints:
                counts.duplicates += 1
                continue
            counts.loaded += 1
            self.seen_fingerprints.add(fingerprint)
            self.transactions.append(
                _transaction_row(
                    line, statement, statement_id, currency, fingerprint, source_format, file_name
                )
            )


def statement_key(statement: ParsedStatement) -> str:
    """A content hash: the same statement in a renamed or re-exported file keeps its id."""
    total = sum((line.amount for line in statement.lines if line.amount is not None), Decimal(0))
    return _hash(
        statement.account_id,
        statement.statement_ref,
        statement.from_date,
        statement.to_date,
        statement.opening_balance,
        statement.closing_balance,
        len(statement.lines),
        total.quantize(_PRECISION),
    )


def line_problem(line: ParsedLine, statement: ParsedStatement, currency: str | None) -> str | None:
    """Why a line breaks the contract, or None."""
    if line.problem:
        return line.problem
    if not statement.account_id:
        return "statement has no account identifier"
    if line.booking_date is None:
        return "line has no booking date"
    if line.amount is None:
        return "line has no amount"
    if currency is None:
        given = line.currency or statement.currency
        return f"currency '{given}' is not an ISO 4217 code" if given else "line has no currency"
    return None


def statement_problem(statement: ParsedStatement) -> str | None:
    """Why a statement cannot be loaded: a malformed part, or opening + lines != closing."""
    problems = [statement.problem] if statement.problem else []
    if not statement.account_id:
        problems.append("statement has no account identifier")
    if statement.currency and normalise_currency(statement.currency) is None:
        problems.append(f"statement currency '{statement.currency}' is not an ISO 4217 code")
    if statement.opening_balance is not None and statement.closing_balance is not None:
        amounts = [line.amount for line in statement.lines if line.amount is not None]
        expected = statement.opening_balance + sum(amounts, Decimal(0))
        difference = statement.closing_balance - expected
        if difference != 0:
            unread = sum(1 for line in statement.lines if line.amount is None)
            note = f" ({unread} line(s) without an amount)" if unread else ""
            problems.append(
                f"balance check failed: opening {statement.opening_balance} + lines {expected - statement.opening_balance}"
                f" = {expected}, closing says {statement.closing_balance} (difference {difference}){note}"
            )
    return "; ".join(problems) or None


def _line_key(account_id: str, line: ParsedLine, currency: str | None) -> tuple[Any, ...]:
    assert line.amount is not None
    reference = line.bank_reference or f"{line.remittance_info or ''}|{line.counterparty_name or ''}"
    return (account_id, line.booking_date, line.amount.quantize(_PRECISION), currency, reference)


def _transaction_row(
    line: ParsedLine,
    statement: ParsedStatement,
    statement_id: str,
    currency: str | None,
    fingerprint: str,
    source_format: str,
    file_name: str,
) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "account_id": statement.account_id,
        "statement_id": statement_id,
        "booking_date": line.booking_date,
        "value_date": line.value_date,
        "amount": line.amount.quantize(_PRECISION) if line.amount is not None else None,
        "currency": currency,
        "counterparty_name": line.counterparty_name,
        "counterparty_account": line.counterparty_account,
        "remittance_info": line.remittance_info,
        "bank_reference": line.bank_reference,
        "end_to_end_ref": line.end_to_end_ref,
        "transaction_code": line.transaction_code,
        "source_format": source_format,
        "source_file": file_name,
        "position": line.position,
    }


def _statement_row(
    statement: ParsedStatement, statement_id: str, source_format: str, file_name: str
) -> dict[str, Any]:
    def money(value: Decimal | None) -> Decimal | None:
        return value.quantize(_PRECISION) if value is not None else None

    return {
        "statement_id": statement_id,
        "account_id": statement.account_id,
        "statement_ref": statement.statement_ref,
        "currency": statement.currency,
        "opening_balance": money(statement.opening_balance),
        "closing_balance": money(statement.closing_balance),
        "from_date": statement.from_date,
        "to_date": statement.to_date,
        "source_format": source_format,
        "source_file": file_name,
        "line_count": len(statement.lines),
    }
