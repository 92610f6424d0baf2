"""Bank files in UTF-16/UTF-32 with or without a byte-order mark decode to exactly their text and parse
to the same transactions as the UTF-8 original; binary files and UTF-8 with stray NULs are not taken
for UTF-16."""

from __future__ import annotations

import codecs
import random
from dataclasses import asdict
from pathlib import Path

import pytest

from ingestion.files import parse_file
from ingestion.files.model import FileProblem, ParsedFile
from ingestion.files.text import read_text, sniff_encoding

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "real"

SAMPLES = [
    "bank_csv/csv2ofx_default.csv",  # non-ASCII names (Ằdøłƥh, Ómary, Tchênzema)
    "bank_csv/csv2ofx_n26-fr.csv",  # plain ASCII: valid UTF-8 once in UTF-16, the reported case
    "bank_mt940/cmxl_mt940.sta",  # German bank MT940, 3 statements, one Polish "ą"
    "bank_camt/genkgo_camt053.v2.minimal.xml",  # camt.053 with an encoding="UTF-8" declaration
]

# (label, BOM written before the text, codec the text is encoded with, encoding read_text reports)
ENCODINGS = [
    ("utf-16-le", b"", "utf-16-le", "utf-16-le"),
    ("utf-16-be", b"", "utf-16-be", "utf-16-be"),
    ("utf-16-le-bom", codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    ("utf-16-be-bom", codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
    ("utf-32-le", b"", "utf-32-le", "utf-32-le"),
    ("utf-32-be", b"", "utf-32-be", "utf-32-be"),
    ("utf-32-le-bom", codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"),
    ("utf-32-be-bom", codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
    ("utf-8-bom", codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
]
ENCODING_IDS = [label for label, *_ in ENCODINGS]


def _transactions(parsed: ParsedFile) -> list[dict[str, object]]:
    """Every parsed line with its statement's account and reference, as plain values."""
    return [
        {"account_id": st.account_id, "statement_ref": st.statement_ref, **asdict(line)}
        for st in parsed.statements
        for line in st.lines
    ]


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize(("label", "bom", "codec", "reported"), ENCODINGS, ids=ENCODING_IDS)
def test_real_statement_reencoded_reads_and_parses_like_the_utf8_original(
    tmp_path: Path, sample: str, label: str, bom: bytes, codec: str, reported: str
) -> None:
    original_path = REAL / sample
    original = original_path.read_bytes().decode("utf-8")
    path = tmp_path / f"{label}-{original_path.name}"
    path.write_bytes(bom + original.encode(codec))

    text, encoding = read_text(path)
    assert text == original
    assert encoding == reported

    expected = parse_file(original_path)
    parsed = parse_file(path)
    assert _transactions(expected), "the sample must have transactions to compare"
    assert _transactions(parsed) == _transactions(expected)
    assert parsed == expected


GERMAN_FRENCH_CSV = (
    "Auftragskonto;Buchungstag;Valutadatum;Beguenstigter/Zahlungspflichtiger;Kontonummer/IBAN;"
    "Verwendungszweck;Betrag;Waehrung\r\n"
    "DE44500105175407324931;02.01.2024;02.01.2024;Café Müller GmbH;DE02120300000000202051;"
    "Miete Januar Überweisung;-1.250,00;EUR\r\n"
    "DE44500105175407324931;03.01.2024;03.01.2024;Bäckerei Schön;DE02120300000000202052;"
    "Brötchen für Büro, Größe ß;-12,50;EUR\r\n"
    "DE44500105175407324931;04.01.2024;04.01.2024;Société Générale Crédit Agricole;"
    "FR7630006000011234567890189;Facture élève à Noël, garçon, œuvre, déjà;3.400,75;EUR\r\n"
)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_umlauts_and_accents_without_bom_decode_exactly(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "konto.csv"
    path.write_bytes(GERMAN_FRENCH_CSV.encode(codec))
    assert read_text(path) == (GERMAN_FRENCH_CSV, codec)
    lines = parse_file(path).statements[0].lines
    assert [line.counterparty_name for line in lines] == [
        "Café Müller GmbH",
        "Bäckerei Schön",
        "Société Générale Crédit Agricole",
    ]
    assert lines[2].remittance_info == "Facture élève à Noël, garçon, œuvre, déjà"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_longer_than_the_sample_and_a_pair_cut_at_its_end(tmp_path: Path, codec: str) -> None:
    """Detection looks at the first 4 KiB; a surrogate pair straddling that boundary is fine."""
    body = "".join(f"2024-01-{i % 28 + 1:02d},Zahlung {i} Müller,{i}.50\n" for i in range(400))
    head = "Date,Description,Amount\n"
    filler = "x" * ((4096 // 2 - 1) - len(head))  # the emoji's surrogate pair spans bytes 4094-4097
    text = head + filler + "\U0001f4b6\n" + body
    path = tmp_path / "long.csv"
    path.write_bytes(text.encode(codec))
    assert read_text(path) == (text, codec)


def test_a_trailing_stray_newline_byte_is_tolerated(tmp_path: Path) -> None:
    original = (REAL / "bank_mt940/cmxl_mt940.sta").read_text(encoding="utf-8")
    path = tmp_path / "odd.sta"
    path.write_bytes(original.encode("utf-16-le") + b"\n")
    assert read_text(path) == (original, "utf-16-le")


def test_a_truncated_utf16_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "cut.sta"
    path.write_bytes(":20:STARTUMS\r\n:25:12345678/0000\r\n".encode("utf-16-le") + b"X")
    with pytest.raises(FileProblem, match="cannot decode as utf-16-le"):
        read_text(path)


def _binary_samples() -> dict[str, bytes]:
    rng = random.Random(20240101)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00"
    return {
        "random": rng.randbytes(4096),
        # a PNG whose pixel data is mostly NUL (NULs at both parities, as in real images)
        "png-with-nuls": png + bytes(rng.choice((0, 0, 0, rng.randrange(256))) for _ in range(4000)),
        # little-endian 16-bit integers < 256: NUL at every odd offset, like UTF-16LE, but no text
        "uint16-le-array": b"".join(rng.randrange(1, 256).to_bytes(2, "little") for _ in range(2000)),
        "uint16-be-array": b"".join(rng.randrange(1, 256).to_bytes(2, "big") for _ in range(2000)),
        "uint32-le-array": b"".join(rng.randrange(1, 256).to_bytes(4, "little") for _ in range(1000)),
    }


BINARY = _binary_samples()


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_files_are_not_taken_for_utf16(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.bin"
    path.write_bytes(BINARY[name])
    # as for any binary file: no encoding fits, the file is quarantined with that reason
    with pytest.raises(FileProblem, match="cannot detect the text encoding"):
        read_text(path)
    with pytest.raises(FileProblem, match="cannot detect the text encoding"):
        parse_file(path)


@pytest.mark.parametrize(
    "text",
    [
        "Datum;Betrag;Verwendungszweck\n02.01.2024;-12,50;Brötchen\x00\n03.01.2024;1,00;Büro\n",
        "Date,Amount\n2024-01-02,1.00\n" + "\x00" * 1500,  # NUL padding up to a block size
        "a\x00b,c\x00\n" * 3 + "Date,Amount\n2024-01-02,1.00\n" * 20,  # a few NULs, some at odd offsets
    ],
    ids=["one-nul", "nul-padding", "scattered-nuls"],
)
def test_utf8_with_embedded_nuls_stays_utf8(tmp_path: Path, text: str) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(text.encode("utf-8"))
    assert sniff_encoding(path.read_bytes()) == "utf-8"
    assert read_text(path) == (text, "utf-8")


def test_real_utf8_csv_with_a_nul_still_parses(tmp_path: Path) -> None:
    original_path = REAL / "bank_csv/csv2ofx_default.csv"
    original = original_path.read_text(encoding="utf-8")
    path = tmp_path / "nul.csv"
    path.write_bytes((original.rstrip("\n") + "\x00\n").encode("utf-8"))
    assert read_text(path)[1] == "utf-8"
    parsed = parse_file(path)
    assert len(_transactions(parsed)) == len(_transactions(parse_file(original_path)))
