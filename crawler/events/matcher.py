"""Find every taxonomy term in a text in one pass of one compiled regex.

All names, acronyms, aliases, context words and edition nouns of all events are
compiled into a single pattern whose alternatives form a character trie, so the
regex engine branches on each next character (Aho-Corasick style) instead of
trying every term at every position. The pattern runs over a copy of the text with
ASCII letters lower-cased (same length, so offsets hold), which is faster than a
case-insensitive pattern; the few checks a regex would need look-behinds for are
done on each hit instead:

- Latin names and context words: any case, whole words only, any run of spaces or
  hyphens between words;
- acronyms: exactly as written (upper case), not inside a longer word ("WICKED" is
  not WIC, but "WIC2021" is);
- Chinese terms: no word boundaries (Chinese has none).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crawler.events.taxonomy import normalise_term

if TYPE_CHECKING:
    from crawler.events.taxonomy import Event

NAME, ACRONYM, ALIAS, PLACE, TOPIC, NOUN = "name", "acronym", "alias", "place", "topic", "noun"
# Kinds that name an event; context words (host places, topics) that point to one;
# generic nouns are neither.
MENTION_KINDS = frozenset((NAME, ACRONYM, ALIAS))
CONTEXT_KINDS = frozenset((PLACE, TOPIC))

# Generic nouns that, with "next year's", "the sixth", "第六届" before them, refer to an
# edition of the article's own event without naming it. Matched in the same pass.
EDITION_NOUNS = (
    "edition", "session", "event", "congress", "conference", "expo", "summit",
    "大会", "博览会", "峰会", "会议",
)

# How strongly a context word points to its event when an acronym is shared: a host
# city or venue is nearly decisive, a topic word ("internet") only leans.
PLACE_CUE_WEIGHT = 2.0
TOPIC_CUE_WEIGHT = 1.0

# Between the words of a Latin term: spaces, line breaks or hyphens ("Smart-China Expo").
_WORD_GAP = r"[\s\-]+"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_ASCII_ALNUM = frozenset(string.ascii_lowercase + string.digits)
_ASCII_ALPHA = frozenset(string.ascii_lowercase)
_URL_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Term:
    """What a matched surface string means for one event ("" for a generic noun)."""

    slug: str
    kind: str  # NAME | ACRONYM | ALIAS | PLACE | TOPIC | NOUN
    weight: float = 1.0  # how strongly a context word points to its event


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
        words: dict[str, list[Term]] = {}  # normalised Latin words -> meanings
        acronyms: dict[str, list[Term]] = {}  # exact upper-case acronym -> meanings
        cjk: dict[str, list[Term]] = {}
        nouns = [(noun, Term("", NOUN)) for noun in EDITION_NOUNS]
        for surface, term in [pair for event in events for pair in _event_terms(event)] + nouns:
            if term.kind == ACRONYM:
                table, key = acronyms, surface
            else:
                table, key = (words if surface.isascii() else cjk), normalise_term(surface)
            meanings = table.setdefault(key, [])
            if term not in meanings:
                meanings.append(term)
        self._words = {k: tuple(v) for k, v in words.items()}
        self._acronyms = {k: tuple(v) for k, v in acronyms.items()}
        self._cjk = {k: tuple(v) for k, v in cjk.items()}
        # One-word acronyms and places as they appear in URLs ("/wimc/", "wuzhen.gov").
        url_words: dict[str, list[str]] = {}
        for key, meanings in list(words.items()) + [(a.lower(), m) for a, m in acronyms.items()]:
            for term in meanings:
                if term.kind in (ACRONYM, PLACE) and key.isalnum():
                    if term.slug not in url_words.setdefault(key, []):
                        url_words[key].append(term.slug)
        self._url_words = {k: tuple(v) for k, v in url_words.items()}
        latin = set(words) | {a.lower() for a in acronyms}
        branches = []
        if latin:
            branches.append(rf"(?P<latin>{_trie_pattern(latin, gap=_WORD_GAP)})(?![a-z])")
        if cjk:
            branches.append(rf"(?P<cjk>{_trie_pattern(cjk)})")
        self.pattern = re.compile("|".join(branches) or r"(?!x)x")

    def url_events(self, url: str) -> dict[str, list[str]]:
        """Events whose acronym or host place is a word of the URL: {slug: [words]}."""
        found: dict[str, list[str]] = {}
        for word in sorted(set(_URL_WORD.findall(url.lower()))):
            for slug in self._url_words.get(word, ()):
                found.setdefault(slug, []).append(word)
        return found

    def scan(self, text: str) -> list[Hit]:
        """Every non-overlapping term occurrence, left to right, longest term first."""
        lowered = text.translate(_ASCII_LOWER)
        hits = []
        for match in self.pattern.finditer(lowered):
            start, end = match.span()
            surface = text[start:end]
            if match.lastgroup == "cjk":
                meanings = self._cjk.get(normalise_term(surface), ())
                if meanings:
                    hits.append(Hit(start, end, surface, meanings))
                continue
            before = lowered[start - 1] if start else " "
            after = lowered[end] if end < len(text) else " "
            meanings: tuple[Term, ...] = ()
            if before not in _ASCII_ALNUM and after not in _ASCII_ALNUM:
                meanings += self._words.get(normalise_term(surface), ())
            if before not in _ASCII_ALPHA:
                meanings += self._acronyms.get(surface, ())  # only as written: "WIC", not "wic"
            if meanings:
                hits.append(Hit(start, end, surface, meanings))
        return hits


def _event_terms(event: Event) -> Iterable[tuple[str, Term]]:
    for name in event.names:
        yield name, Term(event.slug, NAME)
    for acronym in event.acronyms:
        yield acronym, Term(event.slug, ACRONYM)
    for alias in event.aliases:
        yield alias, Term(event.slug, ALIAS)
    for place in event.cities + event.venues:
        yield place, Term(event.slug, PLACE, PLACE_CUE_WEIGHT)
    for word in event.context:
        yield word, Term(event.slug, TOPIC, TOPIC_CUE_WEIGHT)


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
