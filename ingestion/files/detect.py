"""Format detection from a file's content; the file name's extension is never consulted."""

from __future__ import annotations

import re

CAMT_NS = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.05[234]\.001\.\d{2})")
_OFX_SGML_HEADER = re.compile(r"^\s*OFXHEADER\s*:\s*\d+", re.IGNORECASE)
_OFX_TAG = re.compile(r"<OFX>", re.IGNORECASE)
_MT940_TAGS = (re.compile(r"^:20:", re.M), re.compile(r"^:25:", re.M), re.compile(r"^:6[02][FM]?:", re.M))
_SWIFT_BLOCK4 = re.compile(r"\{4:\s*[\r\n]+:20:")
_BAI2_HEADER = re.compile(r"^01,[^,\n]*,[^,\n]*,\d{6},")
_BAI2_ACCOUNT = re.compile(r"^03,", re.M)

CAMT = "camt"
OFX = "ofx"
MT940 = "mt940"
BAI2 = "bai2"
CSV = "csv"


def detect_format(text: str) -> str | None:
    """One of camt/ofx/mt940/bai2/csv, or None when the content matches none of them."""
    head = text[:8000].lstrip("\ufeff \t\r\n\x00")
    if head.startswith("<"):
        if CAMT_NS.search(head):
            return CAMT
        if _OFX_TAG.search(head) or "OFXHEADER" in head[:500]:
            return OFX
        return None
    if _OFX_SGML_HEADER.match(head) or _OFX_TAG.search(head[:3000]):
        return OFX
    if _SWIFT_BLOCK4.search(head) or all(tag.search(text) for tag in _MT940_TAGS):
        return MT940
    if _BAI2_HEADER.match(head) and _BAI2_ACCOUNT.search(text):
        return BAI2
    if _looks_like_csv(head):
        return CSV
    return None


def _looks_like_csv(head: str) -> bool:
    lines = [line for line in head.splitlines() if line.strip()][:5]
    if len(lines) < 2:
        return False
    for sep in (",", ";", "\t", "|"):
        counts = {line.count(sep) for line in lines[:2]}
        if min(counts) >= 1:
            return True
    return False
