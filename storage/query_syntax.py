"""The search box language, parsed by hand so that any input is safe.

Syntax: words (all must appear), "quoted phrases", -exclusion (-word, -"phrase"),
and OR between two terms (`expo OR 博览会`). Terms match as substrings of the title or
text, case-insensitively: that is what the trigram index gives, and it is what makes
Chinese (written without spaces) searchable. Everything else is literal text: `C++`,
`who's`, `*`, a lone quote, SQL. Nothing the user types reaches FTS5's MATCH
unquoted, so no input can be a syntax error.
"""

from __future__ import annotations

from dataclasses import dataclass

TRIGRAM_LENGTH = 3  # the trigram index can only look up terms of at least 3 characters
MAX_CLAUSES = 64  # a person types a handful; the cap keeps the SQL far below SQLite's depth limits
OR_OPERATOR = "OR"  # upper case only, as in FTS5 and web search: lower-case "or" is a word
EXCLUDE_PREFIX = "-"
QUOTE = '"'


class QueryTooLong(ValueError):
    """A search query with more terms than MAX_CLAUSES."""


@dataclass(frozen=True)
class Clause:
    """One condition of a query: any of terms appears (or, when negated, none of them does)."""

    terms: tuple[str, ...]
    negated: bool = False

    @property
    def indexable(self) -> bool:
        """True when every term is long enough for the trigram index."""
        return all(len(t) >= TRIGRAM_LENGTH for t in self.terms)


@dataclass(frozen=True)
class _Token:
    text: str
    negated: bool = False
    quoted: bool = False

    @property
    def is_or(self) -> bool:
        return self.text == OR_OPERATOR and not self.quoted and not self.negated


def _tokens(query: str) -> list[_Token]:
    """Split query into words and phrases; an unclosed quote runs to the end of the input."""
    query = query.replace("\x00", " ")
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        if query[i].isspace():
            i += 1
            continue
        negated = query[i] == EXCLUDE_PREFIX and i + 1 < n and not query[i + 1].isspace()
        if negated:
            i += 1
        if query[i] == QUOTE:
            end = query.find(QUOTE, i + 1)
            end = n if end < 0 else end
            tokens.append(_Token(query[i + 1:end], negated, quoted=True))
            i = end + 1
            continue
        start = i
        while i < n and not query[i].isspace():
            i += 1
        tokens.append(_Token(query[start:i], negated))
    return [t for t in tokens if t.text.strip()]


def parse_query(query: str | None) -> tuple[Clause, ...]:
    """The clauses of a search query, all of which must hold; () for an empty query.

    OR joins the terms either side of it into one clause; an OR with no plain term on
    one side (at the start or end, doubled, next to an exclusion) is ignored.
    Repeated clauses are kept once. Raises QueryTooLong beyond MAX_CLAUSES clauses.
    """
    tokens = _tokens(query or "")
    clauses: list[Clause] = []
    join_next = False
    for pos, token in enumerate(tokens):
        if token.is_or:
            previous_ok = bool(clauses) and not clauses[-1].negated and not tokens[pos - 1].is_or
            following = tokens[pos + 1] if pos + 1 < len(tokens) else None
            join_next = previous_ok and following is not None and not following.negated and not following.is_or
            continue
        if join_next:
            clauses[-1] = Clause(tuple(dict.fromkeys((*clauses[-1].terms, token.text))))
            join_next = False
        else:
            clauses.append(Clause((token.text,), token.negated))
    unique = tuple(dict.fromkeys(clauses))
    if len(unique) > MAX_CLAUSES:
        raise QueryTooLong(f"search query has {len(unique)} terms; at most {MAX_CLAUSES} are allowed")
    return unique


def fts5_phrase(term: str) -> str:
    """term as an FTS5 string: double quotes around it, inner double quotes doubled."""
    return QUOTE + term.replace(QUOTE, QUOTE * 2) + QUOTE


def fts5_any(terms: tuple[str, ...]) -> str:
    """An FTS5 expression true when any of terms appears."""
    return "(" + " OR ".join(fts5_phrase(t) for t in terms) + ")"


def fts5_expression(clauses: tuple[Clause, ...]) -> str | None:
    """One FTS5 MATCH expression for indexable clauses, or None without a positive one.

    Positive clauses are ANDed; negated ones are subtracted with NOT (FTS5's NOT is
    binary, so it needs something positive on its left).
    """
    positive = [fts5_any(c.terms) for c in clauses if not c.negated]
    if not positive:
        return None
    expression = " AND ".join(positive)
    for clause in clauses:
        if clause.negated:
            expression = f"({expression}) NOT {fts5_any(clause.terms)}"
    return expression
