"""BAI2 cash management files with the `bai2` library (ministryofjustice/bai2).

One statement per account (03 record) within a group (02): opening ledger (010) and closing ledger
(015) balances, detail lines (16) signed by the type code's credit/debit side. Amounts are integers
in the currency's minor unit. When the library cannot read a continued 03 record (an 88 line that
starts a new field, as in moov-io's samples) we join those continuations ourselves and read again.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from bai2 import bai2
from bai2.constants import TypeCodeTransaction
from bai2.exceptions import IntegrityException, NotSupportedYetException, ParsingException

from ingestion.files.currencies import minor_units
from ingestion.files.model import FileProblem, ParsedFile, ParsedLine, ParsedStatement
from ingestion.files.text import clean

_OPENING_LEDGER = "010"
_CLOSING_LEDGER = "015"
# BAI2 (version 2) says an omitted currency is the US dollar.
DEFAULT_CURRENCY = "USD"


def parse_bai2(text: str) -> ParsedFile:
    bai_file = _read(text)
    parsed = ParsedFile(source_format="bai2")
    position = 0
    for group in bai_file.children:
        for account in group.children:
            statement = _statement(group.header, account, position)
            position += len(statement.lines)
            parsed.statements.append(statement)
    return parsed


# Which record may follow which (88 continues any record and is skipped here).
_FOLLOWS = {
    "01": {"02"},
    "02": {"03", "98"},
    "03": {"16", "49"},
    "16": {"16", "49"},
    "49": {"03", "98"},
    "98": {"02", "99"},
    "99": set(),
}


def check_structure(text: str) -> None:
    """FileProblem unless records nest as 01 (02 (03 16* 49)* 98)* 99.

    The library loops forever on a truncated file (no 99 trailer), so this runs first.
    """
    previous = None
    for number, raw in enumerate(text.splitlines(), start=1):
        code = raw.strip()[:2]
        if not code or code == "88":
            continue
        if code not in _FOLLOWS:
            raise FileProblem(f"BAI2 line {number}: unknown record type '{code}'")
        if previous is None and code != "01":
            raise FileProblem(f"BAI2 line {number}: the file must start with a 01 header, not {code}")
        if previous is not None and code not in _FOLLOWS[previous]:
            expected = " or ".join(sorted(_FOLLOWS[previous])) or "nothing"
            raise FileProblem(f"BAI2 line {number}: record {code} after {previous} (expected {expected})")
        previous = code
    if previous != "99":
        raise FileProblem(f"BAI2 file is truncated: it ends with a {previous} record, not the 99 trailer")


def _read(text: str) -> Any:
    check_structure(text)
    try:
        return bai2.parse_from_string(text, check_integrity=True)
    except IntegrityException as exc:
        raise FileProblem(f"BAI2 control totals or record counts do not match: {exc}") from exc
    except (NotSupportedYetException, ParsingException, ValueError, KeyError, IndexError, TypeError):
        pass
    try:
        # Record counts change when continuations are joined, so the library's own check is off;
        # the statement balance check still applies.
        return bai2.parse_from_string(join_account_continuations(text), check_integrity=False)
    except (NotSupportedYetException, ParsingException, ValueError, KeyError, IndexError, TypeError) as exc:
        raise FileProblem(f"BAI2 file cannot be parsed: {exc}") from exc


def join_account_continuations(text: str) -> str:
    """Fold 88 lines into the 03 record they continue, field boundary preserved."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("88,") and out and out[-1].startswith("03,"):
            out[-1] = out[-1].removesuffix("/") + "," + line[3:]
        else:
            out.append(_zero_blank_availability(line))
    return "\n".join(out)


def _zero_blank_availability(line: str) -> str:
    """A 16 record with funds type S and blank availability amounts: blank means zero."""
    fields = line.split(",")
    if len(fields) > 6 and fields[0] == "16" and fields[3].upper() == "S":
        fields[4:7] = [value or "0" for value in fields[4:7]]
    return ",".join(fields)


def _statement(group_header: Any, account: Any, first_position: int) -> ParsedStatement:
    header = account.header
    currency = clean(header.currency) or clean(group_header.currency) or DEFAULT_CURRENCY
    scale = Decimal(10) ** minor_units(currency)
    as_of: date | None = group_header.as_of_date
    statement = ParsedStatement(
        account_id=clean(header.customer_account_number),
        statement_ref=f"{group_header.originator_id}/{as_of.isoformat() if as_of else ''}",
        currency=currency,
        raw=_rows_text(header.rows),
        from_date=as_of,
        to_date=as_of,
    )
    for summary in header.summary_items:
        code = summary.type_code.code
        if code == _OPENING_LEDGER and summary.amount is not None:
            statement.opening_balance = Decimal(summary.amount) / scale
        elif code == _CLOSING_LEDGER and summary.amount is not None:
            statement.closing_balance = Decimal(summary.amount) / scale
    for offset, detail in enumerate(account.children):
        statement.lines.append(_line(detail, first_position + offset, currency, scale, as_of))
    return statement


def _rows_text(rows: list[Any]) -> str:
    return "\n".join(f"{code.value},{text}" for code, text in rows)


def _line(detail: Any, position: int, currency: str, scale: Decimal, as_of: date | None) -> ParsedLine:
    line = ParsedLine(position=position, raw=_rows_text(detail.rows), currency=currency, booking_date=as_of)
    type_code = detail.type_code
    line.transaction_code = type_code.code
    availability = detail.availability or {}
    line.value_date = availability.get("date") if isinstance(availability.get("date"), date) else None
    line.bank_reference = clean(detail.bank_reference)
    line.end_to_end_ref = clean(detail.customer_reference)
    line.remittance_info = clean(detail.text)
    if detail.amount is None:
        line.problem = "16 record has no amount"
    elif type_code.transaction == TypeCodeTransaction.credit:
        line.amount = Decimal(detail.amount) / scale
    elif type_code.transaction == TypeCodeTransaction.debit:
        line.amount = -Decimal(detail.amount) / scale
    else:
        line.problem = f"type code {type_code.code} is neither a credit nor a debit"
    if as_of is None:
        line.problem = line.problem or "the group header has no as-of date"
    line.counterparty_name = _counterparty(line.remittance_info)
    return line


def _counterparty(text: str | None) -> str | None:
    # UK banks (Citi, NatWest) put the remitter after "BO1:" / "OB:" in the 88 text.
    if not text:
        return None
    match = re.search(r"\bBO1:(.+?)(?:\s+\w{2,3}\d?:|$)", text)
    return clean(match.group(1)) if match else None
