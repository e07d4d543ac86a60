"""Find every taxonomy term in a text in one pass of one compiled regex.

All names, acronyms, aliases and context words of all events are compiled into a
single pattern whose alternatives form a character trie, so the regex engine
branches on each next character (Aho-Corasick style) instead of trying every term
at every position. Three branches share the pattern:

- Latin names and context words: case-insensitive, whole words only, any run of
  spaces or hyphens between words;
- acronyms: case-sensitive, not inside a longer word ("WICKED" is not WIC, but
  "WIC2021" is);
- Chinese terms: no word boundaries (Chinese has none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.events.taxonomy import normalise_term

if TYPE_CHECKING:
    from crawler.events.taxonomy import Event

NAME, ACRONYM, ALIAS, CUE = "name", "acronym", "alias", "cue"

# How strongly a context word points to its event when an acronym is shared: a host
# city or venue is nearly decisive, a topic word ("internet") only leans.
PLACE_CUE_WEIGHT = 2.0
TOPIC_CUE_WEIGHT = 1.0

# Between the words of a Latin term: spaces, line breaks or hyphens ("Smart-China Expo").
_WORD_GAP = r"[\s\-]+"
_LATIN, _UPPER, _CJK = "latin", "upper", "cjk"


@dataclass(frozen=True)
class Term:
    """What a matched surface string means for one event."""

    slug: str
    kind: str  # NAME | ACRONYM | ALIAS | CUE
    weight: float = 1.0  # only used for CUE


@dataclass(frozen=True)
class Hit:
    """One matched span of the scanned text and every meaning of it."""

    start: int
    end: int
    text: str
    terms: tuple[Term, ...]


class TermMatcher:
    """The single compiled pattern for one taxonomy, plus surface -> meaning lookup."""

    def __init__(self, events: Iterable[Event]) -> None:
        tables: dict[str, dict[str, list[Term]]] = {_LATIN: {}, _UPPER: {}, _CJK: {}}
        for event in events:
            for surface, term in _event_terms(event):
                if term.kind == ACRONYM:
                    branch, key = _UPPER, surface
                else:
                    branch, key = (_LATIN if surface.isascii() else _CJK), normalise_term(surface)
                meanings = tables[branch].setdefault(key, [])
                if term not in meanings:
                    meanings.append(term)
        self._lookup = {b: {k: tuple(v) for k, v in t.items()} for b, t in tables.items()}
        branches = []
        if tables[_LATIN]:
            trie = _trie_pattern(tables[_LATIN], gap=_WORD_GAP)
            branches.append(rf"(?<![A-Za-z0-9])(?P<{_LATIN}>(?i:{trie}))(?![A-Za-z0-9])")
        if tables[_UPPER]:
            branches.append(rf"(?<![A-Za-z])(?P<{_UPPER}>{_trie_pattern(tables[_UPPER])})(?![A-Za-z])")
        if tables[_CJK]:
            branches.append(rf"(?P<{_CJK}>{_trie_pattern(tables[_CJK])})")
        self.pattern = re.compile("|".join(branches) or r"(?!x)x")

    def scan(self, text: str) -> list[Hit]:
        """Every non-overlapping term occurrence, left to right, longest term first."""
        hits = []
        for match in self.pattern.finditer(text):
            branch = match.lastgroup
            surface = match.group()
            key = surface if branch == _UPPER else normalise_term(surface)
            hits.append(Hit(match.start(), match.end(), surface, self._lookup[branch][key]))
        return hits


def _event_terms(event: Event) -> Iterable[tuple[str, Term]]:
    for name in event.names:
        yield name, Term(event.slug, NAME)
    for acronym in event.acronyms:
        yield acronym, Term(event.slug, ACRONYM)
    for alias in event.aliases:
        yield alias, Term(event.slug, ALIAS)
    for place in event.cities + event.venues:
        yield place, Term(event.slug, CUE, PLACE_CUE_WEIGHT)
    for word in event.context:
        yield word, Term(event.slug, CUE, TOPIC_CUE_WEIGHT)


def _trie_pattern(words: Iterable[str], gap: str | None = None) -> str:
    """A regex matching exactly `words`, factored as a trie, longest alternative first.

    With `gap`, a space in a word matches the `gap` pattern instead.
    """
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a word

    def emit(node: dict[str, dict]) -> str:
        branches = [
            (gap if gap is not None and char == " " else re.escape(char)) + emit(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy "?" tries the longer word first and falls back to the shorter one.
        return f"(?:{body})?" if "" in node else body

    return emit(trie)
