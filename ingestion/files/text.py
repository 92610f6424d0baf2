"""Reading a file's bytes as text: BOM sniffing, strict UTF-8, then charset-normalizer. Never assumed."""

from __future__ import annotations

import codecs
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


def sniff_encoding(data: bytes) -> str:
    """The encoding of `data`: a BOM wins, then strict UTF-8, then BOM-less UTF-16, then charset-normalizer."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    sample = data[:4000]
    if len(sample) >= 4 and sample.count(b"\x00") * 3 > len(sample):
        # BOM-less UTF-16: every other byte of ASCII text is NUL; its parity gives the byte order.
        return "utf-16-le" if sample[1::2].count(0) > sample[0::2].count(0) else "utf-16-be"
    best = from_bytes(data).best()
    if best is None:
        raise FileProblem("cannot detect the text encoding (not UTF-8/UTF-16/a single-byte code page)")
    return best.encoding


def read_text(path: Path) -> tuple[str, str]:
    """The file's text and the encoding it was read with."""
    data = path.read_bytes()
    if not data.strip():
        raise FileProblem("file is empty")
    encoding = sniff_encoding(data)
    try:
        text = data.decode(encoding)
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
