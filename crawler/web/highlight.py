"""Evidence spans of event tags, marked in an article's title and text."""

from __future__ import annotations

from typing import Iterable, Sequence


def evidence_spans(tags: Iterable, field: str, text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of text that tags' evidence points at in field (title or text).

    A span whose offsets no longer fit the stored text (extraction changed since the
    tagging) is looked up by its matched words instead; one that cannot be found is left out.
    """
    spans = []
    for tag in tags:
        for item in tag.evidence:
            if not isinstance(item, dict) or item.get("field") != field or not item.get("match"):
                continue
            start, end, match = item.get("start"), item.get("end"), str(item["match"])
            if not (isinstance(start, int) and isinstance(end, int) and text[start:end].lower() == match.lower()):
                start = text.lower().find(match.lower())
                end = start + len(match)
            if start >= 0:
                spans.append((start, end))
    return sorted(set(spans))


def segments(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[str, bool]]:
    """text cut into (piece, highlighted) pairs; overlapping spans are merged."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, at = [], 0
    for start, end in merged:
        if start > at:
            pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces
