"""Duplicate detection over plain text: exact content hashes (near duplicates to come)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_text(text: str) -> str:
    """Text reduced to what makes two copies the same story: NFKC, case, punctuation, spacing."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", text).strip()


def content_hash(text: str) -> str:
    """SHA-256 of the normalised text: equal for copies that differ only in spacing or punctuation."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()
