"""Statement writers in the real files' shapes: ISO 20022 camt.053 (.001.02 and .001.08), OFX 2.x XML
and 1.x SGML, SWIFT MT940 (with and without the FIN block envelope), BAI2, an N26-style CSV, and the
Stripe payments CSV export. Each takes a `Statement` (see `exports.py`) and returns the file's bytes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import polars as pl

from sandbox.company.stripe import StripeData

if TYPE_CHECKING:
    from sandbox.company.exports import Statement

CAMT02, CAMT08 = "camt.053.001.02", "camt.053.001.08"
OFX2, OFX1 = "ofx2", "ofx1"
MT940_PLAIN, MT940_SWIFT = "mt940", "mt940_swift"
BAI2 = "bai2"
N26_CSV = "n26_csv"
STRIPE_CSV = "stripe_payments_csv"
EXTENSIONS = {CAMT02: ".xml", CAMT08: ".xml", OFX2: ".ofx", OFX1: ".ofx", MT940_PLAIN: ".sta",
              MT940_SWIFT: ".sta", BAI2: ".bai2", N26_CSV: ".csv"}  # fmt: skip
OWNER = "LEDGERLAKE DEMO INC"


def dec(cents: int, sep: str = ".") -> str:
    """|cents| as major units with two decimals, no float rounding."""
    whole, minor = divmod(abs(int(cents)), 100)
    return f"{whole}{sep}{minor:02d}"


def signed(cents: int) -> str:
    return ("-" if cents < 0 else "") + dec(cents)


def render(st: Statement, as_of: date) -> bytes:
    writers = {
        CAMT02: lambda: camt(st, 2, as_of),
        CAMT08: lambda: camt(st, 8, as_of),
        OFX2: lambda: ofx2(st, as_of),
        OFX1: lambda: ofx1(st, as_of),
        MT940_PLAIN: lambda: mt940(st, swift=False),
        MT940_SWIFT: lambda: mt940(st, swift=True),
        BAI2: lambda: bai2(st, as_of),
        N26_CSV: lambda: n26_csv(st),
    }
    return writers[st.format]().encode("utf-8")


# --- ISO 20022 camt.053 ---------------------------------------------------------------------------


def _camt_balance(code: str, cents: int, currency: str, day: date) -> str:
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{currency}">{dec(cents)}</Amt><CdtDbtInd>{"DBIT" if cents < 0 else "CRDT"}</CdtDbtInd>'
        f"<Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>"
    )


def _camt_entry(line: dict[str, Any], currency: str, version: int) -> str:
    credit = line["amount_cents"] > 0
    party, account_tag = ("Dbtr", "DbtrAcct") if credit else ("Cdtr", "CdtrAcct")
    name = escape(line["counterparty"])
    party_xml = (
        f"<{party}><Pty><Nm>{name}</Nm></Pty></{party}>"
        if version >= 8
        else f"<{party}><Nm>{name}</Nm></{party}>"
    )
    status = "<Sts><Cd>BOOK</Cd></Sts>" if version >= 8 else "<Sts>BOOK</Sts>"
    day = line["date"].isoformat()
    family = "RCDT" if credit else "ICDT"
    return (
        f'<Ntry><Amt Ccy="{currency}">{dec(line["amount_cents"])}</Amt>'
        f"<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd>{status}"
        f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
        f"<AcctSvcrRef>{line['ref']}</AcctSvcrRef>"
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{line['end_to_end']}</EndToEndId></Refs>"
        f'<Amt Ccy="{currency}">{dec(line["amount_cents"])}</Amt>'
        f"<RltdPties>{party_xml}<{account_tag}><Id><Othr><Id>{line['ref'][:3]}-{name[:10]}</Id></Othr></Id>"
        f"</{account_tag}></RltdPties>"
        f"<RmtInf><Ustrd>{escape(line['remittance'])}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
    )


def camt(st: Statement, version: int, as_of: date) -> str:
    acc = st.account
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version:02d}"
    created = f"{min(st.to_date + timedelta(days=1), as_of + timedelta(days=1)).isoformat()}T06:00:00+00:00"
    msg_id = f"CAMT053{acc.bic[:4]}{st.from_date:%Y%m%d}{st.seq:04d}"
    entries = "".join(_camt_entry(line, acc.currency, version) for line in st.lines)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{created}</CreDtTm>"
        "<MsgPgntn><PgNb>1</PgNb><LastPgInd>true</LastPgInd></MsgPgntn></GrpHdr>"
        f"<Stmt><Id>{msg_id}-{acc.currency}</Id><ElctrncSeqNb>{st.seq}</ElctrncSeqNb><CreDtTm>{created}</CreDtTm>"
        f"<FrToDt><FrDtTm>{st.from_date.isoformat()}T00:00:00</FrDtTm><ToDtTm>{st.to_date.isoformat()}T23:59:59</ToDtTm></FrToDt>"
        f"<Acct><Id><IBAN>{acc.account_id}</IBAN></Id><Ccy>{acc.currency}</Ccy><Ownr><Nm>{OWNER}</Nm></Ownr>"
        f"<Svcr><FinInstnId><{'BICFI' if version >= 8 else 'BIC'}>{acc.bic}</{'BICFI' if version >= 8 else 'BIC'}>"
        f"<Nm>{escape(acc.bank)}</Nm></FinInstnId></Svcr></Acct>"
        f"{_camt_balance('OPBD', st.opening_cents, acc.currency, st.from_date)}"
        f"{_camt_balance('CLBD', st.closing_cents, acc.currency, st.to_date)}"
        f"<TxsSummry><TtlNtries><NbOfNtries>{len(st.lines)}</NbOfNtries></TtlNtries></TxsSummry>"
        f"{entries}</Stmt></BkToCstmrStmt></Document>\n"
    )


# --- OFX ------------------------------------------------------------------------------------------


def _ofx_type(line: dict[str, Any]) -> str:
    if line["kind"] == "interest":
        return "INT"
    if line["kind"] == "bank_fees":
        return "FEE"
    return "CREDIT" if line["amount_cents"] > 0 else "DEBIT"


def _ofx_fields(st: Statement, as_of: date) -> list[tuple[str, Any]]:
    """The statement as a (tag, value-or-children) tree, shared by the XML and SGML writers."""
    acc = st.account
    server = f"{min(st.to_date + timedelta(days=1), as_of + timedelta(days=1)):%Y%m%d}060000.000"
    trns = [
        ("STMTTRN", [
            ("TRNTYPE", _ofx_type(line)), ("DTPOSTED", f"{line['date']:%Y%m%d}120000.000"),
            ("TRNAMT", signed(line["amount_cents"])), ("FITID", line["ref"]), ("REFNUM", line["end_to_end"]),
            ("NAME", line["counterparty"][:32]), ("MEMO", line["remittance"]),
        ])
        for line in st.lines
    ]  # fmt: skip
    return [
        ("SIGNONMSGSRSV1", [("SONRS", [
            ("STATUS", [("CODE", "0"), ("SEVERITY", "INFO")]), ("DTSERVER", server), ("LANGUAGE", "ENG"),
            ("FI", [("ORG", acc.bank.split()[0].upper()), ("FID", acc.routing[:4])]),
        ])]),
        ("BANKMSGSRSV1", [("STMTTRNRS", [
            ("TRNUID", f"{st.from_date:%Y%m}{st.seq:03d}"), ("STATUS", [("CODE", "0"), ("SEVERITY", "INFO")]),
            ("STMTRS", [
                ("CURDEF", acc.currency),
                ("BANKACCTFROM", [("BANKID", acc.routing), ("ACCTID", acc.account_id), ("ACCTTYPE", "SAVINGS")]),
                ("BANKTRANLIST", [("DTSTART", f"{st.from_date:%Y%m%d}"), ("DTEND", f"{st.to_date:%Y%m%d}"), *trns]),
                ("LEDGERBAL", [("BALAMT", signed(st.closing_cents)), ("DTASOF", f"{st.to_date:%Y%m%d}235959.000")]),
                ("AVAILBAL", [("BALAMT", signed(st.closing_cents)), ("DTASOF", f"{st.to_date:%Y%m%d}235959.000")]),
            ]),
        ])]),
    ]  # fmt: skip


def _ofx_tree(nodes: list[tuple[str, Any]], depth: int, sgml: bool) -> list[str]:
    out = []
    pad = ("\t" if sgml else "  ") * depth
    for tag, value in nodes:
        if isinstance(value, list):
            out += [f"{pad}<{tag}>", *_ofx_tree(value, depth + 1, sgml), f"{pad}</{tag}>"]
        else:
            text = escape(str(value))
            out.append(f"{pad}<{tag}>{text}" if sgml else f"{pad}<{tag}>{text}</{tag}>")
    return out


def ofx2(st: Statement, as_of: date) -> str:
    head = (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n'
    )
    return head + "\n".join(_ofx_tree([("OFX", _ofx_fields(st, as_of))], 0, sgml=False)) + "\n"


def ofx1(st: Statement, as_of: date) -> str:
    head = (
        "OFXHEADER:100\r\nDATA:OFXSGML\r\nVERSION:102\r\nSECURITY:NONE\r\nENCODING:USASCII\r\nCHARSET:1252\r\n"
        "COMPRESSION:NONE\r\nOLDFILEUID:NONE\r\nNEWFILEUID:NONE\r\n\r\n"
    )
    return head + "\r\n".join(_ofx_tree([("OFX", _ofx_fields(st, as_of))], 0, sgml=True)) + "\r\n"


# --- SWIFT MT940 ----------------------------------------------------------------------------------


def _text(line: dict[str, Any]) -> str:
    """Counterparty and remittance as one bank text (the counterparty once)."""
    remittance = line["remittance"]
    if remittance.upper().startswith(line["counterparty"].upper()):
        return remittance.upper()
    return f"{line['counterparty']} {remittance}".upper()


def _mt_balance(tag: str, cents: int, day: date, currency: str) -> str:
    return f":{tag}:{'D' if cents < 0 else 'C'}{day:%y%m%d}{currency}{dec(cents, ',')}"


def _mt_details(line: dict[str, Any], structured: bool) -> list[str]:
    if not structured:
        text = _text(line)
        return [f":86:{text[:65]}", *[text[i : i + 65] for i in range(65, min(len(text), 390), 65)]]
    gvc = "166" if line["amount_cents"] > 0 else "177"
    posting = "GUTSCHRIFT" if line["amount_cents"] > 0 else "UEBERWEISUNG"
    return [
        f":86:{gvc}?00{posting}?20EREF+{line['end_to_end']}",
        f"?21SVWZ+{line['remittance'][:22]}?32{line['counterparty'][:27]}",
    ]


def mt940(st: Statement, swift: bool) -> str:
    acc = st.account
    code = {"interest": "NINT", "bank_fees": "NCHG"}
    rows = [
        f":20:STMT{st.from_date:%y%m%d}{st.seq:03d}",
        f":25:{acc.account_id}",
        f":28C:{st.seq:05d}/1",
        _mt_balance("60F", st.opening_cents, st.from_date, acc.currency),
    ]
    for line in st.lines:
        mark = "C" if line["amount_cents"] > 0 else "D"
        kind = code.get(line["kind"], "NTRF")
        rows.append(f":61:{line['date']:%y%m%d%m%d}{mark}{dec(line['amount_cents'], ',')}{kind}"
                    f"{line['end_to_end']}//{line['ref']}")  # fmt: skip
        rows += _mt_details(line, structured=swift)
    rows.append(_mt_balance("62F", st.closing_cents, st.to_date, acc.currency))
    body = "\r\n".join(rows)
    if not swift:
        return body + "\r\n-\r\n"
    sent = f"{st.to_date + timedelta(days=1):%y%m%d}"
    header = (
        f"{{1:F01{acc.bic[:8]}AXXX0000000000}}{{2:O9400600{sent}{acc.bic[:8]}AXXX00000000000{sent}0600N}}"
    )
    return f"{header}{{4:\r\n{body}\r\n-}}{{5:{{CHK:{st.seq:012d}}}}}\r\n"


# --- BAI2 -----------------------------------------------------------------------------------------

_BAI_CODES = {"interest": "354", "marketplace_settlement": "165", "tax": "455", "insurance": "455",
              "payroll_fees": "455", "bank_fees": "698"}  # fmt: skip


def bai2(st: Statement, as_of: date) -> str:
    """One BAI2 file per statement: one 02 group per day with activity, balances per day."""
    acc = st.account
    by_day: dict[date, list[dict[str, Any]]] = {}
    for line in st.lines:
        by_day.setdefault(line["date"], []).append(line)
    created = min(st.to_date + timedelta(days=1), as_of + timedelta(days=1))
    records = [f"01,{acc.routing},LEDGERLAKE,{created:%y%m%d},0600,{st.seq},,,2/"]
    balance, file_total, n_groups = st.opening_cents, 0, 0
    for day in sorted(by_day):
        opening = balance
        balance += sum(line["amount_cents"] for line in by_day[day])
        details = [
            f"16,{_BAI_CODES.get(line['kind'], '165' if line['amount_cents'] > 0 else '455')},"
            f"{abs(line['amount_cents'])},0,{line['ref']},{line['end_to_end']},"
            f"{_text(line)}"
            for line in by_day[day]
        ]
        account_total = opening + balance + sum(abs(line["amount_cents"]) for line in by_day[day])
        account = [f"03,{acc.account_id},{acc.currency},010,{opening},,,015,{balance},,/", *details]
        account.append(f"49,{account_total},{len(account) + 1}/")
        group = [f"02,LEDGERLAKE,{acc.routing},1,{day:%y%m%d},2359,{acc.currency},2/", *account]
        group.append(f"98,{account_total},1,{len(group) + 1}/")
        records += group
        file_total += account_total
        n_groups += 1
    records.append(f"99,{file_total},{n_groups},{len(records) + 1}/")
    return "\n".join(records) + "\n"


# --- CSV ------------------------------------------------------------------------------------------


def n26_csv(st: Statement) -> str:
    """N26's CSV export (header as the real file; `Account Name` carries the IBAN)."""
    buf = io.StringIO()
    buf.write('"Booking Date","Value Date","Partner Name","Partner Iban",Type,"Payment Reference",'
              '"Account Name","Amount (EUR)","Original Amount","Original Currency","Exchange Rate"\n')  # fmt: skip
    writer = csv.writer(buf, lineterminator="\n")
    for line in st.lines:
        kind = "Credit Transfer" if line["amount_cents"] > 0 else "Debit Transfer"
        writer.writerow([line["date"].isoformat(), "", line["counterparty"], "", kind, line["remittance"],
                         st.account.account_id, signed(line["amount_cents"]), "", "", ""])  # fmt: skip
    return buf.getvalue()


STRIPE_HEADER = (
    "id", "description", "seller_message", "created", "amount", "amount_refunded", "currency",
    "converted_amount", "converted_amount_refunded", "fee", "tax", "converted_currency", "status",
    "statement_descriptor", "customer_id", "customer_description", "customer_email", "captured", "card_id",
    "invoice_id", "transfer",
)  # fmt: skip


def _stripe_rows(charges: pl.DataFrame) -> list[list[str]]:
    rows = []
    for c in charges.iter_rows(named=True):
        created = datetime.fromtimestamp(c["created"], UTC).strftime("%Y-%m-%d %H:%M")
        refunded = c["amount_refunded"]
        status = "Refunded" if refunded >= c["amount"] else "Partially Refunded" if refunded else "Paid"
        rows.append([c["id"], f"Order for {c['billing_name']}", "Payment complete.", created, dec(c["amount"]),
                     dec(refunded), "usd", dec(c["amount"]), dec(refunded), dec(c["fee"]), "0.00", "usd", status,
                     "", c["customer"], c["billing_name"], c["email"], "true",
                     "card_" + c["balance_transaction"][4:], "", ""])  # fmt: skip
    return rows


def write_stripe_csv(stripe: StripeData, folder: Path) -> list[tuple[str, int]]:
    """Stripe Dashboard payments exports (`unified_payments` default columns), one file per month."""
    charges = stripe.charges.with_columns(
        month=pl.from_epoch("created", time_unit="s").dt.strftime("%Y-%m")
    ).sort("created", descending=True)
    written = []
    for (month,), group in charges.group_by("month", maintain_order=True):
        buf = io.StringIO()
        buf.write(",".join(f'"{h}"' for h in STRIPE_HEADER) + "\n")
        csv.writer(buf, lineterminator="\n").writerows(_stripe_rows(group))
        name = f"stripe_payments_{month}.csv"
        (folder / name).write_text(buf.getvalue(), encoding="utf-8")
        written.append((name, group.height))
    return sorted(written)
