"""The stored form of a page's raw HTML (raw_pages.html_zlib): zlib, no ORM.

Pure, so an extraction worker process compresses pages without loading SQLAlchemy,
and `reextract` reads them back with the same module.
"""

from __future__ import annotations

import zlib

RAW_HTML_COMPRESSION = 6  # zlib level: most of level 9's saving at a fraction of its CPU


def compress_html(html: bytes) -> bytes:
    """The stored form of a page's raw HTML (raw_pages.html_zlib)."""
    return zlib.compress(html, RAW_HTML_COMPRESSION)


def decompress_html(stored: bytes) -> bytes:
    """A page's raw HTML back from its stored form."""
    return zlib.decompress(stored)
