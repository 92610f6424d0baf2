"""ISO 20022 camt.052 / camt.053 / camt.054 (any 001.NN version) with lxml, namespace-qualified.

Grain: one transaction per booked entry (`Ntry`), the amount that moved the account, so that opening +
sum(entries) = closing holds. Entry details (`TxDtls`) give references, counterparty and remittance;
a batch entry with several details keeps the distinct values joined with " | ".
"""

from __future__ import annotations

from copy import deepcopy
from datetime import date

from lxml import etree

from ingestion.files.detect import CAMT_NS
from ingestion.files.model import FileProblem, ParsedFile, ParsedLine, ParsedStatement
from ingestion.files.text import clean, to_decimal

_CONTAINERS = ("Stmt", "Rpt", "Ntfctn")
_OPENING = ("OPBD", "PRCD")
_CLOSING = ("CLBD",)
_NOT_PROVIDED = {"NOTPROVIDED", "NONREF"}


class _Camt:
    """Namespace-qualified finders for one camt document."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    def q(self, path: str) -> str:
        return "/".join(f"{{{self.ns}}}{step}" for step in path.split("/"))

    def find(self, el: etree._Element, path: str) -> etree._Element | None:
        return el.find(self.q(path))

    def all(self, el: etree._Element, path: str) -> list[etree._Element]:
        return el.findall(self.q(path))

    def text(self, el: etree._Element | None, *paths: str) -> str | None:
        if el is None:
            return None
        for path in paths:
            found = el.find(self.q(path))
            if found is not None and clean(found.text):
                return clean(found.text)
        return None


def parse_camt(text: str) -> ParsedFile:
    root = _parse_xml(text)
    match = CAMT_NS.search(root.tag)
    if not match:
        raise FileProblem(f"root element {root.tag} is not a camt.052/053/054 Document")
    camt = _Camt(root.tag[1:].split("}")[0])
    message = root[0] if len(root) else None
    if message is None:
        raise FileProblem("camt Document has no message element")
    parsed = ParsedFile(source_format=match.group(1))
    position = 0
    for name in _CONTAINERS:
        for container in camt.all(message, name):
            statement = _statement(camt, container, position)
            position += len(statement.lines)
            parsed.statements.append(statement)
    if not parsed.statements:
        raise FileProblem(f"{match.group(1)} message has no Stmt/Rpt/Ntfctn")
    return parsed


def _parse_xml(text: str) -> etree._Element:
    body = text.lstrip()
    if body.startswith("<?xml"):
        body = body[body.index("?>") + 2 :]
    try:
        return etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise FileProblem(f"malformed XML: {exc}") from exc


def camt_date(camt: _Camt, el: etree._Element | None) -> date | None:
    """The date of a `Dt` or `DtTm` child (camt writes one or the other)."""
    value = camt.text(el, "Dt", "DtTm")
    if value is None:
        return None
    return date.fromisoformat(value[:10])


def _statement(camt: _Camt, container: etree._Element, first_position: int) -> ParsedStatement:
    acct = camt.find(container, "Acct")
    statement = ParsedStatement(
        account_id=camt.text(acct, "Id/IBAN", "Id/Othr/Id"),
        statement_ref=camt.text(container, "Id"),
        currency=camt.text(acct, "Ccy"),
        raw=_raw(camt, container),
    )
    problems = _balances(camt, container, statement)
    period = camt.find(container, "FrToDt")
    if period is not None:
        statement.from_date = _date_prefix(camt.text(period, "FrDtTm", "FrDt"))
        statement.to_date = _date_prefix(camt.text(period, "ToDtTm", "ToDt"))
    for offset, entry in enumerate(camt.all(container, "Ntry")):
        statement.lines.append(_line(camt, entry, first_position + offset))
    if statement.currency is None:
        currencies = {line.currency for line in statement.lines if line.currency}
        statement.currency = currencies.pop() if len(currencies) == 1 else None
    statement.problem = "; ".join(problems) or None
    return statement


def _raw(camt: _Camt, container: etree._Element) -> str:
    copy = etree.Element(container.tag, nsmap=container.nsmap)
    for child in container:
        if child.tag != camt.q("Ntry"):
            copy.append(deepcopy(child))
    return etree.tostring(copy, encoding="unicode")


def _date_prefix(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


def _balances(camt: _Camt, container: etree._Element, statement: ParsedStatement) -> list[str]:
    problems: list[str] = []
    for bal in camt.all(container, "Bal"):
        code = camt.text(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
        if code not in _OPENING + _CLOSING:
            continue
        amount_el = camt.find(bal, "Amt")
        amount = to_decimal(amount_el.text if amount_el is not None else None)
        if amount is None:
            problems.append(f"balance {code} has no valid Amt")
            continue
        if camt.text(bal, "CdtDbtInd") == "DBIT":
            amount = -amount
        currency = amount_el.get("Ccy") if amount_el is not None else None
        statement.currency = statement.currency or currency
        if currency and statement.currency and currency != statement.currency:
            problems.append(f"balance {code} is in {currency}, the account in {statement.currency}")
        when = _date_prefix(camt.text(bal, "Dt/Dt", "Dt/DtTm"))
        if code in _OPENING:
            statement.opening_balance = amount
            statement.from_date = statement.from_date or when
        else:
            statement.closing_balance = amount
            statement.to_date = when or statement.to_date
    return problems


def _line(camt: _Camt, entry: etree._Element, position: int) -> ParsedLine:
    line = ParsedLine(position=position, raw=etree.tostring(entry, encoding="unicode"))
    problems: list[str] = []
    amount_el = camt.find(entry, "Amt")
    line.amount = to_decimal(amount_el.text if amount_el is not None else None)
    indicator = camt.text(entry, "CdtDbtInd")
    if line.amount is None:
        problems.append("Ntry/Amt is missing or not a number")
    elif indicator not in ("CRDT", "DBIT"):
        problems.append(f"Ntry/CdtDbtInd '{indicator}' is not CRDT or DBIT")
    else:
        # CdtDbtInd is the direction of this entry, a reversal included (ISO 20022 usage rule for
        # RvslInd: a CRDT reversal undoes a debit), so RvslInd does not flip the sign.
        line.amount = line.amount if indicator == "CRDT" else -line.amount
    line.currency = amount_el.get("Ccy") if amount_el is not None else None
    try:
        line.booking_date = camt_date(camt, camt.find(entry, "BookgDt"))
        line.value_date = camt_date(camt, camt.find(entry, "ValDt"))
    except ValueError as exc:
        problems.append(f"Ntry has an invalid date: {exc}")
    if line.booking_date is None and not problems:
        problems.append("Ntry has no BookgDt (booking date)")
    status = camt.text(entry, "Sts/Cd", "Sts/Prtry", "Sts")
    if status and status != "BOOK":
        problems.append(
            f"Ntry status {status} is not booked (BOOK); it loads from the statement that books it"
        )
    line.transaction_code = _bank_code(camt, entry)
    line.bank_reference = camt.text(entry, "AcctSvcrRef", "NtryRef")
    _details(camt, entry, indicator, line)
    line.problem = "; ".join(problems) or None
    return line


def _bank_code(camt: _Camt, el: etree._Element) -> str | None:
    domain = camt.text(el, "BkTxCd/Domn/Cd")
    if domain:
        family = camt.text(el, "BkTxCd/Domn/Fmly/Cd") or ""
        sub = camt.text(el, "BkTxCd/Domn/Fmly/SubFmlyCd") or ""
        return "-".join(part for part in (domain, family, sub) if part)
    return camt.text(el, "BkTxCd/Prtry/Cd")


def _details(camt: _Camt, entry: etree._Element, indicator: str | None, line: ParsedLine) -> None:
    details = camt.all(entry, "NtryDtls/TxDtls")
    party = "Dbtr" if indicator == "CRDT" else "Cdtr"
    names, accounts, remittances, e2e = [], [], [], []
    for tx in details:
        names.append(camt.text(tx, f"RltdPties/{party}/Nm", f"RltdPties/{party}/Pty/Nm"))
        accounts.append(camt.text(tx, f"RltdPties/{party}Acct/Id/IBAN", f"RltdPties/{party}Acct/Id/Othr/Id"))
        ustrd = [clean(u.text) for u in camt.all(tx, "RmtInf/Ustrd")]
        strd = [clean(r.text) for r in camt.all(tx, "RmtInf/Strd/CdtrRefInf/Ref")]
        remittances.append(" ".join(v for v in ustrd + strd if v) or None)
        ref = camt.text(tx, "Refs/EndToEndId")
        e2e.append(None if ref and ref.upper() in _NOT_PROVIDED else ref)
        line.bank_reference = line.bank_reference or camt.text(tx, "Refs/AcctSvcrRef")
    line.counterparty_name = _join(names)
    line.counterparty_account = _join(accounts)
    line.remittance_info = _join(remittances) or camt.text(entry, "AddtlNtryInf")
    line.end_to_end_ref = _join(e2e)


def _join(values: list[str | None]) -> str | None:
    distinct = list(dict.fromkeys(v for v in values if v))
    return " | ".join(distinct) or None
