"""Relevance of a known set of matches, scored here as FTS5's bm25() scores them.

FTS5's bm25() evaluates the query twice: once to find the matches, and once more per
phrase to count the rows holding it (its IDF). A phrase of many trigrams costs tens of
milliseconds each time. When the matches are already known (storage.search_sql reads
them once), scoring them here needs that count only for a query of several phrases,
and reads nothing else of the index but its row and token totals.

The score is FTS5's own (k1 = 1.2, b = 0.75, title and text weighted): for each phrase,
IDF * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgD)), f the weighted count of the
phrase's occurrences in the row and D its length in tokens (a trigram index has a
token per character but the last two of a column). Occurrences are counted in the
lower-cased title and text, as the trigram tokenizer folds case; for the few letters
whose Python lower case differs from SQLite's, a score may differ slightly from FTS5's,
never which articles match.
"""

from __future__ import annotations

import math
from typing import Sequence

from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

K1 = 1.2
B = 0.75
MIN_IDF = 1e-6  # as FTS5: a phrase in more than half of the rows still counts a little
TRIGRAM = 3
FTS_DATA = table("articles_fts_data", column("id"), column("block"))
AVERAGES_ROW = 1  # FTS5 keeps its row count and per-column token totals (varints) in this %_data row


def _varints(data: bytes) -> list[int]:
    """SQLite varints (big-endian 7-bit groups; a ninth byte gives 8 bits) read one after another."""
    values, i = [], 0
    while i < len(data):
        value = 0
        for _ in range(8):
            byte = data[i]
            i += 1
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        else:
            value = (value << 8) | data[i]
            i += 1
        values.append(value)
    return values


def index_totals(session: Session) -> tuple[int, int]:
    """Rows in the FTS5 index and their tokens over every column."""
    block = session.execute(select(FTS_DATA.c.block).where(FTS_DATA.c.id == AVERAGES_ROW)).scalar()
    rows, *tokens = _varints(block or b"")
    return rows, sum(tokens)


def occurrences(text: str, phrase: str) -> int:
    """How many times phrase occurs in text, overlapping ones too (as FTS5 counts phrase instances)."""
    found, at = 0, text.find(phrase)
    while at >= 0:
        found += 1
        at = text.find(phrase, at + 1)
    return found


def tokens(text: str | None) -> int:
    """A column's length in trigram tokens."""
    return max(len(text or "") - (TRIGRAM - 1), 0)


def ranks(session: Session, phrases: Sequence[str], phrase_rows: Sequence[int], rows: Sequence,
          weights: tuple[float, float]) -> dict[int, float]:
    """FTS5's rank (bm25 negated: lower is better) of each (id, title, text) row.

    phrases: every positive phrase of the query; phrase_rows: how many rows of the index hold each.
    """
    total_rows, total_tokens = index_totals(session)
    average = total_tokens / total_rows if total_rows else 1.0
    idfs = [max(math.log((total_rows - hits + 0.5) / (hits + 0.5)), MIN_IDF) for hits in phrase_rows]
    folded = [p.lower() for p in phrases]
    title_weight, text_weight = weights
    scored = {}
    for article_id, title, text in rows:
        title_l, text_l = (title or "").lower(), (text or "").lower()
        length = tokens(title) + tokens(text)
        score = 0.0
        for idf, phrase in zip(idfs, folded):
            f = occurrences(title_l, phrase) * title_weight + occurrences(text_l, phrase) * text_weight
            score += idf * (f * (K1 + 1.0)) / (f + K1 * (1 - B + B * length / average))
        scored[article_id] = -score
    return scored

