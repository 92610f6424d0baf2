"""Reading a file's bytes as text: BOM sniffing, BOM-less UTF-16/32, strict UTF-8, then charset-normalizer.

Never assumed: a file that is none of these is a `FileProblem`.
"""

from __future__ import annotations

import codecs
import unicodedata
from decimal import Decimal, InvalidOperation
from pathlib import Path

from charset_normalizer import from_bytes

from ingestion.files.model import FileProblem

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SAMPLE = 4096  # bytes looked at for BOM-less UTF-16/32 (a multiple of 4)
_MOSTLY_NUL = 0.5  # share of code units whose NUL-ish byte must be NUL (ASCII/Latin-1 text)
_RARELY_NUL = 0.05  # share of code units whose other byte may be NUL (U+0000, U+0100, U+2000, ...)
_MAX_CONTROL = 0.02  # share of the decoded sample that may be control/unassigned characters
_TEXT_CONTROLS = frozenset("\t\n\r\f\v\x1a")  # \x1a: the DOS end-of-file mark some exports end with
_STRAY_TAIL = frozenset(b"\x00\r\n ")  # a trailing partial code unit made of these is padding, dropped


def sniff_encoding(data: bytes) -> str:
    """The encoding of `data`: a BOM wins, then BOM-less UTF-32/16, then strict UTF-8, then charset-normalizer.

    BOM-less UTF-16/32 comes before UTF-8 because ASCII text in UTF-16 is also valid UTF-8 (NUL is
    a valid UTF-8 character): it would be read as text with a NUL after every letter.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    bomless = _bomless_utf16_32(data[:_SAMPLE])
    if bomless is not None:
        return bomless
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise FileProblem("cannot detect the text encoding (not UTF-8/UTF-16/a single-byte code page)")
    return best.encoding


def _bomless_utf16_32(sample: bytes) -> str | None:
    """utf-32-le/be or utf-16-le/be when `sample` is mostly-Latin text in it without a BOM, else None.

    In ASCII/Latin-1 text each code unit's high bytes are NUL and its low byte is not: UTF-16LE has
    NULs at odd offsets, UTF-16BE at even ones, UTF-32LE at offsets 1-3 (mod 4), UTF-32BE at 0-2.
    Binary data and UTF-8 with a few NULs lack that pattern (NULs at both parities or hardly any);
    a candidate must also decode strictly to text that is not full of control characters.
    """
    for encoding, width, always, mostly, rarely in (
        ("utf-32-le", 4, (3, 2), 1, 0),
        ("utf-32-be", 4, (0, 1), 2, 3),
        ("utf-16-le", 2, (), 1, 0),
        ("utf-16-be", 2, (), 0, 1),
    ):
        units = len(sample) // width
        if units < 2:
            continue
        cut = sample[: units * width]  # a trailing partial code unit is not counted
        nuls = [cut[offset::width].count(0) for offset in range(width)]
        # UTF-32: the top byte of a code point (<= U+10FFFF) is NUL, the next one too outside the BMP.
        if any(nuls[offset] < units * (1 - _RARELY_NUL) for offset in always):
            continue
        if nuls[mostly] < units * _MOSTLY_NUL or nuls[rarely] > units * _RARELY_NUL:
            continue
        if _looks_like_text(cut, encoding):
            return encoding
    return None


def _looks_like_text(sample: bytes, encoding: str) -> bool:
    # final=False: a surrogate pair cut at the sample's end is not an error.
    try:
        text = codecs.getincrementaldecoder(encoding)("strict").decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    if not text:
        return False
    bad = sum(
        1 for ch in text if unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs") and ch not in _TEXT_CONTROLS
    )
    return bad <= len(text) * _MAX_CONTROL


def _whole_code_units(data: bytes, encoding: str) -> bytes:
    """`data` without a trailing partial UTF-16/32 code unit when that is only NUL/newline padding."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return data  # the decode below reports it
    width = 4 if name.startswith("utf-32") else 2 if name.startswith("utf-16") else 1
    stray = len(data) % width
    if stray and all(b in _STRAY_TAIL for b in data[-stray:]):
        return data[:-stray]
    return data  # a real truncation: the strict decode below reports it


def read_text(path: Path) -> tuple[str, str]:
    """The file's text and the encoding it was read with."""
    data = path.read_bytes()
    if not data.strip():
        raise FileProblem("file is empty")
    encoding = sniff_encoding(data)
    try:
        text = _whole_code_units(data, encoding).decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise FileProblem(f"cannot decode as {encoding}: {exc}") from exc
    if not text.strip(" \t\r\n\x00\ufeff"):
        raise FileProblem("file is empty")
    return text.lstrip("\ufeff"), encoding


def clean(value: str | None) -> str | None:
    """Collapse whitespace; empty becomes None."""
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


def to_decimal(text: str | None) -> Decimal | None:
    """A plain decimal number ("-12.50", "+0000115.8331"); None when blank; FileProblem-free."""
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None
