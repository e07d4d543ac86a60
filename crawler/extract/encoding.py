"""Decide how to decode a page's bytes: BOM, then meta charset, then HTTP header, then detection.

The order follows what holds on the real web: a byte-order mark is never wrong;
the page's own ``<meta charset>`` is written by the people who wrote the page and
beats a server header that is often a default (Apache's ``iso-8859-1``, a CDN's
``utf-8``); detection is the last resort. Every declared charset is checked
against the bytes before it is believed, and legacy labels are widened to the
superset that browsers actually use (gb2312/gbk → gb18030, big5 → big5hkscs,
iso-8859-1 → cp1252).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

import charset_normalizer

# How far into the document to look for <meta charset>. The HTML standard scans
# 1024 bytes, but Chinese CMS pages often put long comments, scripts and
# keyword lists before the meta tag; 8 KB covers them and stays cheap.
META_SNIFF_BYTES = 8192

# Share of non-ASCII bytes allowed to fail decoding under a declared charset
# before the declaration is judged a lie. Real pages carry the odd truncated or
# private-use character; a wrong charset fails on nearly every character.
DECODE_ERROR_TOLERANCE = 0.01

# Labels seen on the web mapped to the Python codec that decodes them the way
# browsers do (WHATWG Encoding Standard: the legacy labels name supersets).
_LABEL_ALIASES: dict[str, str] = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "chinese": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "gb_2312-80": "gb18030",
    "iso-ir-58": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "cn-big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "csbig5": "big5hkscs",
    "cp950": "big5hkscs",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "cp819": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1252": "cp1252",
    "iso-8859-9": "cp1254",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}

# Multi-byte encodings a detector can be trusted on: their byte patterns are
# distinctive. Single-byte guesses for Latin text are unreliable (a detector
# happily reports cp775 for French), so those fall back to cp1252.
_TRUSTED_DETECTIONS = frozenset(
    {
        "utf-8",
        "gb18030",
        "big5hkscs",
        "cp932",
        "euc_jp",
        "cp949",
        "cp1251",
        "koi8_r",
        "koi8_u",
        "cp1253",
        "cp1255",
        "cp1256",
        "cp874",
    }
)
_MULTIBYTE = frozenset({"gb18030", "big5hkscs", "cp932", "euc_jp", "cp949"})

# WHATWG default for unlabelled pages in the Western locale.
FALLBACK_ENCODING = "cp1252"

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_META_CHARSET = re.compile(
    rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
_HIGH_BYTES = bytes(range(0x80, 0x100))


@dataclass(frozen=True)
class DecodedPage:
    """A page's text and how its encoding was decided."""

    text: str
    encoding: str  # Python codec name actually used
    source: str  # "bom", "meta", "http", "utf-8-valid", "detected", "fallback"
    warnings: tuple[str, ...] = field(default=())


def normalize_charset(label: str | None) -> str | None:
    """The Python codec for a charset label as found in a page or header, or None if unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    if name in _LABEL_ALIASES:
        return _LABEL_ALIASES[name]
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    # codecs.lookup canonicalises aliases ("gbk" → "gbk", "utf8" → "utf-8", "latin_1" → "iso8859-1").
    return _LABEL_ALIASES.get(codec.replace("_", "-"), _LABEL_ALIASES.get(codec, codec))


def sniff_meta_charset(raw: bytes) -> str | None:
    """The charset label declared by <meta> or an XML declaration near the top, as written."""
    head = raw[:META_SNIFF_BYTES]
    body_at = head.lower().find(b"<body")
    if body_at >= 0:
        head = head[:body_at]
    xml = _XML_ENCODING.match(head)
    if xml:
        return xml.group(1).decode("ascii")
    match = _META_CHARSET.search(head)
    return match.group(1).decode("ascii") if match else None


def detect_encoding(raw: bytes) -> str | None:
    """A detector's guess, kept only when it is an encoding detection is reliable for."""
    best = charset_normalizer.from_bytes(raw).best()
    if best is None:
        return None
    codec = normalize_charset(best.encoding)
    return codec if codec in _TRUSTED_DETECTIONS else None


def decode_html(raw: bytes, http_charset: str | None = None) -> DecodedPage:
    """Decode page bytes, deciding the encoding in the documented order."""
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return DecodedPage(raw.decode(codec, errors="replace"), codec.removesuffix("-sig"), "bom")

    warnings: list[str] = []
    if not _HIGH_BYTE.search(raw):
        # Pure ASCII decodes the same under every ASCII-compatible label.
        return DecodedPage(raw.decode("ascii"), "ascii", "ascii")

    meta_label = sniff_meta_charset(raw)
    meta = _declared(meta_label, "meta", warnings)
    if meta in ("utf-16", "utf-32"):
        meta = "utf-8"  # a meta tag readable as ASCII cannot be in UTF-16 (HTML standard)
    http = _declared(http_charset, "HTTP", warnings)
    utf8 = _try_utf8(raw)

    if utf8 is not None:
        for label, codec in ((meta_label, meta), (http_charset, http)):
            if codec and codec != "utf-8":
                warnings.append(f"declared charset {label!r} but the bytes are valid UTF-8")
        source = "meta" if meta == "utf-8" else "http" if http == "utf-8" else "utf-8-valid"
        return DecodedPage(utf8, "utf-8", source, tuple(warnings))

    if meta and meta != "utf-8" and _fits(raw, meta):
        if http and http != meta:
            warnings.append(f"HTTP charset {http_charset!r} overruled by meta charset {meta_label!r}")
        return DecodedPage(raw.decode(meta, errors="replace"), meta, "meta", tuple(warnings))
    if meta:
        warnings.append(f"meta charset {meta_label!r} does not fit the bytes")

    detected: str | None = None
    if http and http != "utf-8" and _fits(raw, http):
        if http not in _MULTIBYTE:
            # Servers default to a Western charset; CJK bytes under such a header are common.
            detected = detect_encoding(raw)
            if detected in _MULTIBYTE and _fits(raw, detected):
                warnings.append(f"HTTP charset {http_charset!r} overruled by detected {detected}")
                return DecodedPage(raw.decode(detected, errors="replace"), detected, "detected", tuple(warnings))
        return DecodedPage(raw.decode(http, errors="replace"), http, "http", tuple(warnings))
    if http:
        warnings.append(f"HTTP charset {http_charset!r} does not fit the bytes")

    detected = detected or detect_encoding(raw)
    if detected and _fits(raw, detected):
        return DecodedPage(raw.decode(detected, errors="replace"), detected, "detected", tuple(warnings))
    return DecodedPage(
        raw.decode(FALLBACK_ENCODING, errors="replace"), FALLBACK_ENCODING, "fallback", tuple(warnings)
    )


def _declared(label: str | None, where: str, warnings: list[str]) -> str | None:
    codec = normalize_charset(label)
    if label and codec is None:
        warnings.append(f"unknown {where} charset {label!r} ignored")
    return codec


def _try_utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _fits(raw: bytes, codec: str) -> bool:
    """True when decoding under codec fails on no more than the tolerated share of bytes."""
    try:
        raw.decode(codec)
        return True
    except UnicodeDecodeError:
        pass
    except LookupError:
        return False
    errors = raw.decode(codec, errors="replace").count("\ufffd")
    high = len(raw) - len(raw.translate(None, _HIGH_BYTES))
    return errors <= DECODE_ERROR_TOLERANCE * high
