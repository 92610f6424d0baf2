"""OFX 1.x (SGML) and 2.x (XML) statements, read by a tolerant tag-stream reader.

ofxtools validates against the OFX schema and rejects whole files for things real banks send (a
BANKID longer than 9 characters, empty elements, private tags, a missing header): 5 of the 17 real
sample files fail there. We need the opposite: read what is there and quarantine single bad lines.
See docs/decisions.md, "Bank statement files".
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ingestion.files.model import FileProblem, ParsedFile, ParsedLine, ParsedStatement
from ingestion.files.text import clean, to_decimal

_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_.]*)\s*>([^<]*)")
_STATEMENT_TAGS = ("STMTRS", "CCSTMTRS", "INVSTMTRS")
_ACCOUNT_TAGS = ("BANKACCTFROM", "CCACCTFROM", "INVACCTFROM")
# Elements that hold a value. SGML lets an empty one go without an end tag; it must not swallow the
# elements after it as children, so an empty known leaf never opens an aggregate.
_LEAVES = frozenset(
    """
    ACCTID ACCTTYPE BALAMT BANKID BRANCHID CHECKNUM CODE CORRECTACTION CORRECTFITID CURDEF CURRATE
    CURSYM DTASOF DTAVAIL DTEND DTPOSTED DTSERVER DTSTART DTUSER FID FITID LANGUAGE MEMO MESSAGE NAME
    ORG PAYEEID REFNUM SEVERITY SIC SRVRTID TRNAMT TRNTYPE TRNUID
    """.split()
)


@dataclass
class Node:
    name: str
    text: str | None = None
    children: list[Node] = field(default_factory=list)

    def child(self, name: str) -> Node | None:
        return next((c for c in self.children if c.name == name), None)

    def value(self, *path: str) -> str | None:
        node: Node | None = self
        for name in path:
            node = node.child(name) if node else None
        return clean(node.text) if node else None

    def find_all(self, name: str) -> list[Node]:
        found: list[Node] = []
        for c in self.children:
            if c.name == name:
                found.append(c)
            else:
                found.extend(c.find_all(name))
        return found

    def to_text(self) -> str:
        if not self.children:
            return f"<{self.name}>{self.text or ''}"
        return f"<{self.name}>" + "".join(c.to_text() for c in self.children) + f"</{self.name}>"


def parse_tree(text: str) -> Node:
    """The element tree of an OFX body; SGML leaves without end tags and XML both work."""
    start = text.upper().find("<OFX>")
    if start < 0:
        raise FileProblem("no <OFX> element")
    root = Node("ROOT")
    stack = [root]
    for closing, raw_name, raw_text in _TOKEN.findall(text[start:]):
        name = raw_name.upper()
        if closing:
            _close(stack, name)
            continue
        value = raw_text.strip()
        if value or name in _LEAVES:
            stack[-1].children.append(Node(name, html.unescape(value)))
        else:
            node = Node(name, "")
            stack[-1].children.append(node)
            stack.append(node)
    ofx = root.child("OFX")
    if ofx is None:
        raise FileProblem("no <OFX> element")
    return ofx


def _close(stack: list[Node], name: str) -> None:
    for depth in range(len(stack) - 1, 0, -1):
        if stack[depth].name == name:
            del stack[depth:]
            return


def ofx_date(text: str | None) -> date | None:
    """The calendar date of an OFX datetime (YYYYMMDD[HHMMSS[.XXX]][[tz]]), as written."""
    if not text or not re.match(r"^\d{8}", text):
        raise ValueError(f"'{text or ''}' is not an OFX date")
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def parse_ofx(text: str) -> ParsedFile:
    tree = parse_tree(text)
    flavour = "ofx-xml" if text.lstrip("\ufeff \r\n\t").startswith("<?xml") else "ofx-sgml"
    parsed = ParsedFile(source_format=flavour)
    _raise_on_error_status(tree)
    position = 0
    for tag in _STATEMENT_TAGS:
        for stmt_node in tree.find_all(tag):
            statement = _statement(stmt_node, position)
            position += len(statement.lines)
            parsed.statements.append(statement)
    return parsed


def _raise_on_error_status(tree: Node) -> None:
    """An OFX error response (sign-on or statement request refused) is a file problem, not 0 rows."""
    for status in tree.find_all("STATUS"):
        code, severity = status.value("CODE"), status.value("SEVERITY")
        if code not in (None, "0") and severity == "ERROR":
            message = status.value("MESSAGE") or "no message"
            raise FileProblem(f"OFX error response: STATUS CODE {code} ({message})")


def _statement(node: Node, first_position: int) -> ParsedStatement:
    account = next((node.child(t) for t in _ACCOUNT_TAGS if node.child(t)), None)
    tranlist = node.child("BANKTRANLIST") or node.child("INVTRANLIST") or Node("NONE")
    currency = node.value("CURDEF")
    statement = ParsedStatement(
        account_id=account.value("ACCTID") if account else None,
        statement_ref=None,
        currency=currency,
        raw=_statement_raw(node),
    )
    statement.from_date = _optional_date(tranlist.value("DTSTART"))
    statement.to_date = _optional_date(tranlist.value("DTEND"))
    if node.name != "INVSTMTRS":
        statement.closing_balance, statement.problem = _ledger_balance(node)
    for offset, trn in enumerate(node.find_all("STMTTRN")):
        statement.lines.append(_line(trn, first_position + offset))
    if statement.currency is None:
        line_currencies = {line.currency for line in statement.lines if line.currency}
        statement.currency = line_currencies.pop() if len(line_currencies) == 1 else None
    return statement


def _statement_raw(node: Node) -> str:
    keep = Node(
        node.name, children=[c for c in node.children if c.name not in ("BANKTRANLIST", "INVTRANLIST")]
    )
    return keep.to_text()


def _ledger_balance(node: Node) -> tuple[Decimal | None, str | None]:
    bal = node.child("LEDGERBAL")
    if bal is None:
        return None, None
    text, as_of = bal.value("BALAMT"), bal.value("DTASOF")
    amount = to_decimal(text)
    if amount is not None:
        return amount, None
    if text:
        return None, f"LEDGERBAL/BALAMT '{text}' is not a number"
    if as_of:
        return None, f"LEDGERBAL has DTASOF {as_of} but an empty BALAMT"
    return None, None


def _optional_date(text: str | None) -> date | None:
    try:
        return ofx_date(text) if text else None
    except ValueError:
        return None


def _line(trn: Node, position: int) -> ParsedLine:
    line = ParsedLine(position=position, raw=trn.to_text())
    problems: list[str] = []
    posted = trn.value("DTPOSTED")
    if not posted:
        problems.append("STMTTRN has no DTPOSTED (booking date)")
    else:
        try:
            line.booking_date = ofx_date(posted)
        except ValueError:
            problems.append(f"DTPOSTED '{posted}' is not a valid date")
    line.value_date = _optional_date(trn.value("DTAVAIL") or trn.value("VALUEDATE"))
    amount_text = trn.value("TRNAMT")
    line.amount = to_decimal(amount_text)
    if line.amount is None:
        problems.append(f"TRNAMT '{amount_text}' is not a number" if amount_text else "STMTTRN has no TRNAMT")
    line.currency = trn.value("CURRENCY", "CURSYM")
    line.counterparty_name = trn.value("NAME") or trn.value("PAYEE", "NAME")
    line.counterparty_account = trn.value("BANKACCTTO", "ACCTID") or trn.value("CCACCTTO", "ACCTID")
    line.remittance_info = trn.value("MEMO")
    line.bank_reference = trn.value("FITID")
    line.end_to_end_ref = trn.value("REFNUM") or trn.value("CHECKNUM")
    line.transaction_code = trn.value("TRNTYPE")
    line.problem = "; ".join(problems) or None
    return line
