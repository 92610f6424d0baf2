"""Bank and payment-processor CSV exports: a column mapping (`CsvLayout`) per layout, presets for
common layouts, detection of the layout from the header row.

There is no statement in a CSV export: each (file, account) becomes one statement without balances,
spanning the dates of its rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ingestion.files.model import FileProblem, ParsedFile, ParsedLine, ParsedStatement
from ingestion.files.text import clean
from ledgerlake.errors import LedgerlakeError


@dataclass(frozen=True)
class CsvLayout:
    """How one CSV layout maps to a bank transaction. Column names match case-insensitively.

    Amount: either `amount` (signed, + money in) or `debit`/`credit` columns (both positive numbers).
    `decimal` is "." or "," (None: guessed per value); thousands separators are dropped either way.
    """

    name: str
    date: str
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    amount: str | None = None
    debit: str | None = None
    credit: str | None = None
    amount_sign: int = 1
    currency: str | None = None
    default_currency: str | None = None
    account: str | None = None
    default_account: str | None = None
    value_date: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    remittance_info: tuple[str, ...] = ()
    bank_reference: str | None = None
    end_to_end_ref: str | None = None
    transaction_code: str | None = None
    status: str | None = None
    accepted_statuses: tuple[str, ...] = ()
    decimal: str | None = None
    signature: tuple[str, ...] = field(default=())

    def required_columns(self) -> set[str]:
        cols = self.signature or tuple(c for c in (self.date, self.amount, self.debit, self.credit) if c)
        return {c.lower() for c in cols}


PRESETS: tuple[CsvLayout, ...] = (
    CsvLayout(
        name="stripe-charges",
        date="created",
        date_formats=("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"),
        amount="amount",
        currency="currency",
        default_account="stripe",
        counterparty_name="customer_description",
        remittance_info=("description",),
        bank_reference="id",
        end_to_end_ref="payment_intent_id",
        transaction_code="status",
        status="status",
        accepted_statuses=("paid", "succeeded", "refunded", "partially refunded"),
        decimal=".",
        signature=("id", "created", "amount", "currency", "amount_refunded", "fee"),
    ),
    CsvLayout(
        name="shopify-payments",
        date="Transaction Date",
        date_formats=("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"),
        amount="Amount",
        currency="Currency",
        default_account="shopify_payments",
        remittance_info=("Order", "Checkout"),
        bank_reference="Payout ID",
        transaction_code="Type",
        decimal=".",
        signature=("Transaction Date", "Type", "Order", "Amount", "Fee", "Net", "Currency"),
    ),
    CsvLayout(
        name="capitalone",
        date="Posted Date",
        value_date="Transaction Date",
        debit="Debit",
        credit="Credit",
        account="Card No.",
        default_currency="USD",
        remittance_info=("Description",),
        transaction_code="Category",
        decimal=".",
    ),
    CsvLayout(
        name="n26",
        date="Booking Date",
        value_date="Value Date",
        amount="Amount (EUR)",
        default_currency="EUR",
        account="Account Name",
        counterparty_name="Partner Name",
        counterparty_account="Partner Iban",
        remittance_info=("Payment Reference",),
        transaction_code="Type",
        decimal=".",
    ),
    CsvLayout(
        name="payoneer",
        date="Transaction Date",
        date_formats=("%m/%d/%Y",),
        debit="Debit Amount",
        credit="Credit Amount",
        currency="Currency",
        default_account="payoneer",
        counterparty_name="Source",
        remittance_info=("Description", "Additional Description"),
        bank_reference="Transaction ID",
        status="Status",
        accepted_statuses=("completed",),
        decimal=".",
    ),
    CsvLayout(
        name="pcmastercard",
        date="Date",
        date_formats=("%m/%d/%Y",),
        amount="Amount",
        amount_sign=-1,  # a card statement lists purchases as positive amounts
        default_currency="CAD",
        account="Card Used For Transaction",
        counterparty_name="Merchant Name",
        decimal=".",
        signature=("Merchant Name", "Card Used For Transaction", "Date", "Amount"),
    ),
    CsvLayout(
        name="schwab",
        date="Date",
        date_formats=("%m/%d/%Y",),
        debit="Withdrawal",
        credit="Deposit",
        default_currency="USD",
        default_account="schwab-checking",
        remittance_info=("Description",),
        bank_reference="CheckNumber",
        transaction_code="Type",
        status="Status",
        accepted_statuses=("posted",),
        decimal=".",
        signature=("Date", "Status", "Type", "CheckNumber", "Description", "Withdrawal", "Deposit"),
    ),
    CsvLayout(
        name="csv2ofx-default",
        date="Date",
        amount="Amount",
        account="Account",
        remittance_info=("Description", "Notes"),
        bank_reference="Row",
        end_to_end_ref="Reference",
        transaction_code="Category",
        decimal=".",
        signature=("Row", "Num", "Date", "Reference", "Description", "Amount", "Account"),
    ),
    CsvLayout(
        name="de-bank",
        date="Buchungstag",
        date_formats=("%d.%m.%Y", "%d.%m.%y"),
        value_date="Valutadatum",
        amount="Betrag",
        currency="Waehrung",
        account="Auftragskonto",
        counterparty_name="Beguenstigter/Zahlungspflichtiger",
        counterparty_account="Kontonummer/IBAN",
        remittance_info=("Verwendungszweck",),
        end_to_end_ref="Glaeubiger ID",
        transaction_code="Buchungstext",
        decimal=",",
        signature=("Buchungstag", "Betrag", "Verwendungszweck"),
    ),
    CsvLayout(
        name="generic",
        date="date",
        date_formats=("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"),
        amount="amount",
        currency="currency",
        account="account_id",
        counterparty_name="counterparty_name",
        counterparty_account="counterparty_account",
        remittance_info=("description",),
        bank_reference="reference",
        value_date="value_date",
    ),
)


_TUPLE_FIELDS = ("date_formats", "remittance_info", "accepted_statuses", "signature")


def layout_from_mapping(mapping: dict[str, Any], where: str = "CSV layout") -> CsvLayout:
    """A `CsvLayout` from config (e.g. a `[bank_csv.<name>]` table); `where` names it in errors."""
    known = {f.name for f in fields(CsvLayout)}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise LedgerlakeError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    if not mapping.get("name") or not mapping.get("date"):
        raise LedgerlakeError(f"{where}: 'name' and 'date' (the booking date column) are required")
    if not mapping.get("amount") and not (mapping.get("debit") and mapping.get("credit")):
        raise LedgerlakeError(f"{where}: give 'amount' (signed) or both 'debit' and 'credit' columns")
    if mapping.get("decimal") not in (None, ".", ","):
        raise LedgerlakeError(f"{where}: 'decimal' must be '.' or ','")
    values = dict(mapping)
    for key in _TUPLE_FIELDS:
        if isinstance(values.get(key), str):
            values[key] = (values[key],)
        elif key in values:
            values[key] = tuple(values[key])
    return CsvLayout(**values)


def detect_layout(header: list[str], layouts: tuple[CsvLayout, ...] = PRESETS) -> CsvLayout | None:
    """The most specific layout whose required columns are all in the header."""
    columns = {h.strip().lower() for h in header}
    fitting = [layout for layout in layouts if layout.required_columns() <= columns]
    return max(fitting, key=lambda layout: len(layout.required_columns()), default=None)


def parse_csv(text: str, layout: CsvLayout | None = None, default_currency: str | None = None) -> ParsedFile:
    rows = _rows(text)
    header, body = rows[0], rows[1:]
    chosen = layout or detect_layout(header)
    if chosen is None:
        raise FileProblem(f"CSV header matches no known layout (columns: {', '.join(header)[:300]})")
    missing = chosen.required_columns() - {h.strip().lower() for h in header}
    if missing:
        raise FileProblem(f"CSV lacks column(s) {sorted(missing)} of layout '{chosen.name}'")
    if not body:
        raise FileProblem("CSV has a header but no rows")
    index = {h.strip().lower(): i for i, h in enumerate(header)}
    parsed = ParsedFile(source_format=f"csv:{chosen.name}")
    by_account: dict[str | None, ParsedStatement] = {}
    for position, row in enumerate(body):
        line, account = _line(chosen, index, header, row, position, default_currency)
        statement = by_account.get(account)
        if statement is None:
            statement = ParsedStatement(account_id=account, statement_ref=None, currency=None, raw="")
            by_account[account] = statement
            parsed.statements.append(statement)
        statement.lines.append(line)
    for statement in parsed.statements:
        _summarise(statement, chosen)
    return parsed


def _rows(text: str) -> list[list[str]]:
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        raise FileProblem("CSV has no rows")
    return rows


def _summarise(statement: ParsedStatement, layout: CsvLayout) -> None:
    dates = [line.booking_date for line in statement.lines if line.booking_date]
    currencies = {line.currency for line in statement.lines if line.currency}
    statement.from_date = min(dates, default=None)
    statement.to_date = max(dates, default=None)
    statement.currency = currencies.pop() if len(currencies) == 1 else None
    statement.raw = f"csv layout {layout.name}, account {statement.account_id}, {len(statement.lines)} rows"


def _line(
    layout: CsvLayout,
    index: dict[str, int],
    header: list[str],
    row: list[str],
    position: int,
    default_currency: str | None,
) -> tuple[ParsedLine, str | None]:
    def get(column: str | None) -> str | None:
        if column is None or column.lower() not in index:
            return None
        i = index[column.lower()]
        return clean(row[i]) if i < len(row) else None

    line = ParsedLine(position=position, raw=_raw(header, row))
    problems: list[str] = []
    if len(row) != len(header):
        problems.append(f"row has {len(row)} fields, the header {len(header)}")
    line.booking_date, problem = _date(get(layout.date), layout, layout.date)
    problems += [problem] if problem else []
    line.value_date, _ = _date(get(layout.value_date), layout, layout.value_date or "")
    line.amount, problem = _amount(layout, get)
    problems += [problem] if problem else []
    line.currency = (
        get(layout.currency) or layout.default_currency or default_currency or ""
    ).upper() or None
    if line.currency is None:
        problems.append(
            f"no currency: layout '{layout.name}' has no currency column; pass a default currency"
        )
    status = get(layout.status)
    if layout.status and (status or "").lower() not in layout.accepted_statuses:
        problems.append(
            f"{layout.status} '{status}' is not a settled state ({', '.join(layout.accepted_statuses)})"
        )
    line.counterparty_name = get(layout.counterparty_name)
    line.counterparty_account = get(layout.counterparty_account)
    line.remittance_info = " | ".join(v for v in (get(c) for c in layout.remittance_info) if v) or None
    line.bank_reference = get(layout.bank_reference)
    line.end_to_end_ref = get(layout.end_to_end_ref)
    line.transaction_code = get(layout.transaction_code)
    line.problem = "; ".join(problems) or None
    return line, get(layout.account) or layout.default_account or layout.name


def _raw(header: list[str], row: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue().strip()


def _date(value: str | None, layout: CsvLayout, column: str) -> tuple[date | None, str | None]:
    if not value:
        return None, f"column '{column}' is empty (booking date)"
    for fmt in layout.date_formats:
        try:
            return datetime.strptime(value, fmt).date(), None
        except ValueError:
            continue
    return None, f"'{value}' in column '{column}' is not a date ({' or '.join(layout.date_formats)})"


def _amount(layout: CsvLayout, get: Callable[[str | None], str | None]) -> tuple[Decimal | None, str | None]:
    if layout.amount:
        text = get(layout.amount)
        value = parse_amount(text, layout.decimal)
        if value is None:
            return None, f"'{text or ''}' in column '{layout.amount}' is not an amount"
        return value * layout.amount_sign, None
    debit_text, credit_text = get(layout.debit), get(layout.credit)
    debit, credit = parse_amount(debit_text, layout.decimal), parse_amount(credit_text, layout.decimal)
    if (debit_text and debit is None) or (credit_text and credit is None):
        return None, f"debit '{debit_text or ''}' / credit '{credit_text or ''}' is not an amount"
    if debit is None and credit is None:
        return None, f"both '{layout.debit}' and '{layout.credit}' are empty"
    return (credit or Decimal(0)) - abs(debit or Decimal(0)), None


_AMOUNT_CHARS = re.compile(r"[^\d,.\-+()]")


def parse_amount(text: str | None, decimal: str | None = None) -> Decimal | None:
    """'$1,036.47', '1.234,56', '(12.00)', '12.00-', '−5' -> Decimal; None when blank or not a number."""
    if text is None or not text.strip():
        return None
    value = text.strip().replace("\u2212", "-").replace("\u00a0", "").replace(" ", "").replace("'", "")
    negative = value.startswith("(") and value.endswith(")") or value.endswith("-")
    value = _AMOUNT_CHARS.sub("", value).strip("()").rstrip("-")
    if value.startswith("-"):
        negative, value = True, value[1:]
    value = value.lstrip("+")
    separator = decimal or _guess_decimal(value)
    thousands = "," if separator == "." else "."
    value = value.replace(thousands, "").replace(separator, ".")
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return -number if negative else number


def _guess_decimal(value: str) -> str:
    if "," in value and "." in value:
        return "," if value.rfind(",") > value.rfind(".") else "."
    if "," in value:
        # "1,234" and "1,234,567" read as thousands; "12,5" and "1234,56" as a decimal comma.
        tail = value.rpartition(",")[2]
        return "." if value.count(",") > 1 or len(tail) == 3 else ","
    return "."
