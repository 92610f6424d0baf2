"""Detection from content, encodings, CSV layouts and amounts, fingerprints and the balance check."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ingestion.files import CsvLayout, layout_from_mapping, parse_batch, parse_file
from ingestion.files.csv_file import parse_amount
from ingestion.files.model import FileProblem
from ingestion.files.normalise import FILE, STATEMENTS, TRANSACTIONS
from ledgerlake.errors import LedgerlakeError

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "real"


@pytest.mark.parametrize(
    ("source", "disguise", "expected_format"),
    [
        ("bank_camt/genkgo_camt053.v8.xml", "export.csv", "camt.053.001.08"),
        ("bank_camt/genkgo_camt052.v2.xml", "report.txt", "camt.052.001.02"),
        ("bank_ofx/checking.ofx", "checking.xml", "ofx-sgml"),
        ("bank_ofx/anzcc.ofx", "card.sta", "ofx-xml"),
        ("bank_ofx/fail_date_missing.ofx", "noheader.csv", "ofx-sgml"),
        ("bank_mt940/jejik_abnamro.sta", "abn.ofx", "mt940"),
        ("bank_bai2/svb_us_example.bai2", "svb.csv", "bai2"),
        ("bank_csv/csv2ofx_schwab-checking.csv", "schwab.bai2", "csv:schwab"),
        ("bank_csv/csv2ofx_stripe-all.csv", "payments.xml", "csv:stripe-charges"),
    ],
)
def test_format_comes_from_content_not_extension(
    tmp_path: Path, source: str, disguise: str, expected_format: str
) -> None:
    target = tmp_path / disguise
    shutil.copy(REAL / source, target)
    assert parse_file(target).source_format == expected_format


SWIFT_WRAPPED = """{1:F01ABNANL2AXXXX0000000000}{2:O9401200110523ABNANL2AXXXX00000000001105231200N}{4:
:20:REF1
:25:NL91ABNA0417164300
:28C:1/1
:60F:C110522EUR100,00
:61:1105230523D25,00NTRFNONREF//B1
:86:Coffee supplier
:62F:C110523EUR75,00
-}{5:{CHK:123456789ABC}}"""


def test_mt940_inside_swift_blocks(tmp_path: Path) -> None:
    path = tmp_path / "swift.fin"
    path.write_text(SWIFT_WRAPPED, encoding="utf-8")
    batch = parse_batch([path])
    assert batch.counts[STATEMENTS].loaded == 1
    (row,) = batch.transactions
    assert (row["account_id"], row["amount"], row["bank_reference"]) == (
        "NL91ABNA0417164300",
        Decimal("-25.0000"),
        "B1",
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "file is empty"), (b"  \n\n", "file is empty"), (b"hello world\n", "unknown format")],
)
def test_unusable_files_are_quarantined(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "x.sta"
    path.write_bytes(content)
    batch = parse_batch([path])
    assert batch.counts[FILE].quarantined == 1
    assert batch.quarantine[0]["object"] == "file"
    assert batch.quarantine[0]["record_ref"] == "x.sta:0"
    assert batch.quarantine[0]["reason"].startswith(reason)


def test_truncated_camt_is_a_file_problem(tmp_path: Path) -> None:
    text = (REAL / "bank_camt" / "genkgo_camt053.v4.xml").read_text(encoding="utf-8")
    path = tmp_path / "cut.xml"
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    batch = parse_batch([path])
    assert "malformed XML" in batch.quarantine[0]["reason"]


GERMAN_ROWS = [
    ("02.01.2024", "Café Müller GmbH", "DE02120300000000202051", "Miete Januar", "-1.250,00"),
    ("03.01.2024", "Bäckerei Schön", "DE02120300000000202052", "Brötchen für Büro", "-12,50"),
    ("04.01.2024", "Kunde Größe AG", "DE02120300000000202053", "Rechnung 4711 Überweisung", "3.400,75"),
]
GERMAN_HEADER = "Auftragskonto;Buchungstag;Valutadatum;Beguenstigter/Zahlungspflichtiger;Kontonummer/IBAN;Verwendungszweck;Betrag;Waehrung"


def _german_csv() -> str:
    lines = [GERMAN_HEADER]
    for day, name, iban, purpose, amount in GERMAN_ROWS:
        lines.append(f"DE44500105175407324931;{day};{day};{name};{iban};{purpose};{amount};EUR")
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-16", "utf-16-le", "utf-8-sig", "utf-8"])
def test_csv_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / f"konto-{encoding}.csv"
    path.write_bytes(_german_csv().encode(encoding))
    parsed = parse_file(path)
    assert parsed.source_format == "csv:de-bank"
    lines = parsed.statements[0].lines
    assert [line.counterparty_name for line in lines] == [row[1] for row in GERMAN_ROWS]
    assert [line.amount for line in lines] == [Decimal("-1250.00"), Decimal("-12.50"), Decimal("3400.75")]
    assert lines[0].booking_date == date(2024, 1, 2)


@pytest.mark.parametrize(
    ("text", "decimal", "expected"),
    [
        ("$1,036.47", None, Decimal("1036.47")),
        ("1.234,56", None, Decimal("1234.56")),
        ("1 234,56", ",", Decimal("1234.56")),
        ("(12.00)", None, Decimal("-12.00")),
        ("12,00-", None, Decimal("-12.00")),
        ("\u2212328.00", None, Decimal("-328.00")),
        ("1,234", None, Decimal("1234")),
        ("1,5", None, Decimal("1.5")),
        ("+00000000000115.8331", None, Decimal("115.8331")),
        ("abc", None, None),
        ("", None, None),
    ],
)
def test_parse_amount(text: str, decimal: str | None, expected: Decimal | None) -> None:
    assert parse_amount(text, decimal) == expected


def test_custom_layout_with_debit_credit_columns(tmp_path: Path) -> None:
    layout = CsvLayout(
        name="my-bank",
        date="Datum",
        date_formats=("%d-%m-%Y",),
        debit="Af",
        credit="Bij",
        default_currency="EUR",
        default_account="NL91ABNA0417164300",
        remittance_info=("Omschrijving",),
        decimal=",",
    )
    path = tmp_path / "bank.txt"
    path.write_text(
        "Datum\tOmschrijving\tAf\tBij\n01-02-2024\tHuur\t1.000,00\t\n02-02-2024\tFactuur 7\t\t250,5\n"
    )
    batch = parse_batch([path], csv_layout=layout)
    assert [(t["booking_date"], t["amount"]) for t in batch.transactions] == [
        (date(2024, 2, 1), Decimal("-1000.0000")),
        (date(2024, 2, 2), Decimal("250.5000")),
    ]


def test_csv_line_problems_are_quarantined_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "generic.csv"
    path.write_text(
        "date,amount,currency,account_id,description\n"
        "2024-03-01,10.00,EUR,ACC1,ok\n"
        "2024-03-02,ten,EUR,ACC1,bad amount\n"
        ",5.00,EUR,ACC1,no date\n"
        "2024-03-04,5.00,XYZ,ACC1,bad currency\n"
    )
    batch = parse_batch([path])
    assert batch.counts[TRANSACTIONS].loaded == 1
    reasons = {q["record_ref"]: q["reason"] for q in batch.quarantine}
    assert reasons == {
        "generic.csv:1": "'ten' in column 'amount' is not an amount",
        "generic.csv:2": "column 'date' is empty (booking date)",
        "generic.csv:3": "currency 'XYZ' is not an ISO 4217 code",
    }


def test_default_currency_for_layouts_without_one() -> None:
    path = REAL / "bank_csv" / "csv2ofx_default.csv"
    assert parse_batch([path]).counts[TRANSACTIONS].quarantined == 8
    batch = parse_batch([path], default_currency="TZS")
    assert batch.counts[TRANSACTIONS].loaded == 8
    assert {t["currency"] for t in batch.transactions} == {"TZS"}


def _mt940(ref: str, opening: str, lines: list[tuple[str, str, str]], closing: str) -> str:
    body = [f":20:{ref}", ":25:NL91ABNA0417164300", ":28C:1/1", f":60F:C240301EUR{opening}"]
    for day, amount, text in lines:
        sign = "D" if amount.startswith("-") else "C"
        body += [f":61:2403{day}03{day}{sign}{amount.lstrip('-')}NTRFNONREF", f":86:{text}"]
    return "\n".join([*body, f":62F:C240331EUR{closing}", "-"]) + "\n"


def test_overlapping_statements_load_each_line_once(tmp_path: Path) -> None:
    a = _mt940(
        "A",
        "100,00",
        [("01", "-10,00", "rent"), ("02", "-5,00", "coffee"), ("02", "-5,00", "coffee")],
        "80,00",
    )
    b = _mt940("B", "85,00", [("02", "-5,00", "coffee"), ("03", "20,00", "refund")], "100,00")
    (tmp_path / "a.sta").write_text(a)
    (tmp_path / "b.sta").write_text(b)
    batch = parse_batch([tmp_path / "a.sta", tmp_path / "b.sta"])
    counts = batch.counts[TRANSACTIONS]
    # The two coffees within statement A are two purchases; B repeats the first of them.
    assert (counts.seen, counts.loaded, counts.duplicates) == (5, 4, 1)
    assert sorted(t["amount"] for t in batch.transactions) == [
        Decimal("-10.0000"),
        Decimal("-5.0000"),
        Decimal("-5.0000"),
        Decimal("20.0000"),
    ]
    assert batch.counts[STATEMENTS].loaded == 2


def test_same_file_twice_in_one_batch_is_all_duplicates(tmp_path: Path) -> None:
    source = REAL / "bank_camt" / "genkgo_camt053.v2.multi.statement.xml"
    shutil.copy(source, tmp_path / "copy.xml")
    batch = parse_batch([source, tmp_path / "copy.xml"])
    assert batch.counts[TRANSACTIONS].duplicates == 2
    assert batch.counts[STATEMENTS].duplicates == 2


def test_balance_check_failure_quarantines_the_statement(tmp_path: Path) -> None:
    path = tmp_path / "off.sta"
    path.write_text(_mt940("C", "100,00", [("01", "-10,00", "rent")], "95,00"))
    batch = parse_batch([path])
    (row,) = batch.quarantine
    assert (row["object"], row["record_ref"]) == ("statements", "off.sta:0")
    assert "difference 5.00" in row["reason"]
    assert batch.counts[TRANSACTIONS].loaded == 1
    assert batch.statements == []


def test_fingerprint_is_stable_across_file_names(tmp_path: Path) -> None:
    text = _mt940("D", "0,00", [("05", "42,00", "invoice 1")], "42,00")
    (tmp_path / "one.sta").write_text(text)
    (tmp_path / "two.mt940").write_text(text)
    first = parse_batch([tmp_path / "one.sta"]).transactions[0]
    second = parse_batch([tmp_path / "two.mt940"]).transactions[0]
    assert first["fingerprint"] == second["fingerprint"]
    assert first["statement_id"] == second["statement_id"]
    assert first["source_file"] != second["source_file"]


def test_unknown_currency_in_a_statement(tmp_path: Path) -> None:
    path = tmp_path / "xyz.sta"
    path.write_text(_mt940("E", "0,00", [("05", "1,00", "x")], "1,00").replace("EUR", "XYZ"))
    batch = parse_batch([path])
    assert [(q["object"], q["reason"]) for q in batch.quarantine] == [
        ("transactions", "currency 'XYZ' is not an ISO 4217 code"),
        ("statements", "statement currency 'XYZ' is not an ISO 4217 code"),
    ]


def test_parse_file_raises_file_problem_for_binary(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(FileProblem):
        parse_file(path)


SGML_EMPTY_NAME = """OFXHEADER:100
DATA:OFXSGML
VERSION:102

<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR
<BANKACCTFROM><BANKID>1<ACCTID>ACC9<ACCTTYPE>CHECKING</BANKACCTFROM>
<BANKTRANLIST><DTSTART>20240101<DTEND>20240131
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105<TRNAMT>-9.99<FITID><NAME><MEMO>Coffee beans</STMTTRN>
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>
"""


def test_ofx_empty_sgml_leaves_do_not_swallow_their_siblings(tmp_path: Path) -> None:
    path = tmp_path / "empty.ofx"
    path.write_text(SGML_EMPTY_NAME)
    (line,) = parse_file(path).statements[0].lines
    assert (line.amount, line.remittance_info, line.bank_reference, line.counterparty_name) == (
        Decimal("-9.99"),
        "Coffee beans",
        None,
        None,
    )


def test_camt_pending_entries_are_not_loaded_as_booked(tmp_path: Path) -> None:
    text = (REAL / "bank_camt" / "genkgo_camt053.v2.multi.statement.xml").read_text(encoding="utf-8")
    path = tmp_path / "pending.xml"
    path.write_text(text.replace("<RvslInd>false</RvslInd>", "<Sts>PDNG</Sts>", 1), encoding="utf-8")
    batch = parse_batch([path])
    reasons = [q["reason"] for q in batch.quarantine if q["object"] == "transactions"]
    assert reasons == ["Ntry status PDNG is not booked (BOOK); it loads from the statement that books it"]


def test_bai2_control_total_mismatch_quarantines_the_file(tmp_path: Path) -> None:
    text = (REAL / "bank_bai2" / "citi_example.bai2").read_text(encoding="utf-8")
    path = tmp_path / "tampered.bai2"
    path.write_text(text.replace("49,20001,10/", "49,20002,10/"), encoding="utf-8")
    batch = parse_batch([path])
    assert batch.counts[FILE].quarantined == 1
    assert batch.quarantine[0]["reason"].startswith("BAI2 control totals or record counts do not match")


def test_layout_from_config_mapping(tmp_path: Path) -> None:
    layout = layout_from_mapping(
        {
            "name": "my-bank",
            "date": "Booked",
            "date_formats": "%d/%m/%Y",
            "amount": "Value",
            "default_currency": "GBP",
            "default_account": "GB29NWBK60161331926819",
            "remittance_info": ["Details"],
        }
    )
    path = tmp_path / "mine.csv"
    path.write_text("Booked,Details,Value\n31/01/2024,Salary,2500.00\n")
    (row,) = parse_batch([path], csv_layout=layout).transactions
    assert (row["booking_date"], row["amount"], row["currency"], row["account_id"]) == (
        date(2024, 1, 31),
        Decimal("2500.0000"),
        "GBP",
        "GB29NWBK60161331926819",
    )


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"name": "x", "date": "d", "amount": "a", "colour": "red"}, "unknown key"),
        ({"name": "x", "amount": "a"}, "'date'"),
        ({"name": "x", "date": "d", "debit": "out"}, "both 'debit' and 'credit'"),
    ],
)
def test_layout_mapping_errors_name_the_problem(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(LedgerlakeError, match=message):
        layout_from_mapping(mapping, where="ledgerlake.toml [bank_csv.x]")


SHOPIFY_EXPORT = (
    "Transaction Date,Type,Order,Card Brand,Card Source,Payout Status,Payout Date,Payout ID,Available On,"
    "Amount,Fee,Net,Checkout,Payment Method Name,Presentment Amount,Presentment Currency,Currency\n"
    "2024-05-02 10:15:00 -0400,charge,#1001,visa,online,paid,2024-05-04,88001,2024-05-04,"
    "120.00,3.78,116.22,c1,card,120.00,USD,USD\n"
    "2024-05-03 09:00:00 -0400,refund,#0998,visa,online,paid,2024-05-04,88001,2024-05-04,"
    "-20.00,0.00,-20.00,c2,card,-20.00,USD,USD\n"
)


def test_shopify_payments_export_preset(tmp_path: Path) -> None:
    path = tmp_path / "payment_transactions_export_1.csv"
    path.write_text(SHOPIFY_EXPORT)
    batch = parse_batch([path])
    assert [
        (t["account_id"], t["booking_date"], t["amount"], t["transaction_code"]) for t in batch.transactions
    ] == [
        ("shopify_payments", date(2024, 5, 2), Decimal("120.0000"), "charge"),
        ("shopify_payments", date(2024, 5, 3), Decimal("-20.0000"), "refund"),
    ]


def test_failed_stripe_charge_is_quarantined(tmp_path: Path) -> None:
    text = (REAL / "bank_csv" / "csv2ofx_stripe-default.csv").read_text(encoding="utf-8")
    path = tmp_path / "stripe.csv"
    path.write_text(text.replace(",cad,Paid,", ",cad,Failed,", 1))
    batch = parse_batch([path])
    (row,) = batch.quarantine
    assert row["record_ref"] == "stripe.csv:0"
    assert row["reason"].startswith("status 'Failed' is not a settled state")
    assert batch.counts[TRANSACTIONS].loaded == 4


OFX_ERROR = """OFXHEADER:100
DATA:OFXSGML
VERSION:102

<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>15500<SEVERITY>ERROR<MESSAGE>Signon invalid</STATUS>
<DTSERVER>20240101<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1></OFX>
"""


def test_ofx_error_response_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "error_signon.ofx"
    path.write_text(OFX_ERROR)
    batch = parse_batch([path])
    assert [q["reason"] for q in batch.quarantine] == [
        "OFX error response: STATUS CODE 15500 (Signon invalid)"
    ]


def test_truncated_bai2_is_a_file_problem_not_a_hang(tmp_path: Path) -> None:
    text = (REAL / "bank_bai2" / "nwb_example.bai2").read_text(encoding="utf-8")
    path = tmp_path / "cut.bai2"
    path.write_text(text[: text.index("49,")], encoding="utf-8")
    batch = parse_batch([path])
    assert [q["reason"] for q in batch.quarantine] == [
        "BAI2 file is truncated: it ends with a 16 record, not the 99 trailer"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "bank_bai2/moov_sample2.bai2",
        "bank_mt940/cmxl_mt940.sta",
        "bank_camt/genkgo_camt054.v4.xml",
        "bank_ofx/bank_medium.ofx",
        "bank_csv/csv2ofx_payoneer.csv",
    ],
)
def test_every_truncation_ends_in_rows_or_quarantine(tmp_path: Path, source: str) -> None:
    data = (REAL / source).read_bytes()
    path = tmp_path / Path(source).name
    for cut in range(0, len(data), max(1, len(data) // 40)):
        path.write_bytes(data[:cut])
        batch = parse_batch([path])
        for name, counts in batch.counts.items():
            assert counts.seen == counts.loaded + counts.quarantined + counts.duplicates, (cut, name)
        assert not [q for q in batch.quarantine if q["reason"].startswith("parser error")], cut
