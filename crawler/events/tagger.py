"""Decide which events an article is about, with edition, confidence and evidence.

`tag_article` is a pure function over plain strings: one regex pass finds every
taxonomy term (matcher.py), the words around each name give its year or ordinal
(mentions.py), and the weights below decide primary vs mentioned events.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from crawler.events.matcher import CONTEXT_KINDS, MENTION_KINDS, NOUN, Hit
from crawler.events.mentions import Attachment, Lines, read_attachment
from crawler.events.taxonomy import Event, Taxonomy, builtin_taxonomy, normalise_term

# Bump when rules, weights or the built-in taxonomy change the output, so that
# `expowatch retag` can tell which stored tags are stale.
TAGGER_VERSION = "1"

PRIMARY, MENTIONED = "primary", "mentioned"
TITLE, TEXT, URL, SOURCE, PUBLISHED, TAXONOMY = (
    "title", "text", "url", "source", "published", "taxonomy",
)

# A title names what the article is about: one title mention outweighs a few in the body.
TITLE_WEIGHT = 3.0
BODY_WEIGHT = 1.0
# Headings, captions, menus, footers and promo lines: often about another edition or
# event, or the site's own name on every page, so they are kept as evidence but
# count for nothing.
LABEL_WEIGHT = 0.0
# A source's default event or a URL token: enough to break a tie, never evidence alone,
# and only for an event the title or lead names (an organiser's site also publishes
# round-ups that name its own event in passing).
HINT_WEIGHT = 0.5
# News puts its topic in the first paragraph: naming an event there counts as one
# more mention, so the lead's event wins a tie with one named in passing later.
LEAD_WEIGHT = 1.0
# A shared acronym or alias with an ordinal or year that the taxonomy knows for one
# candidate ("第二届智博会": the Smart China Expo had a 2nd edition) leans that way,
# and so does one that was being held when the article was published.
KNOWN_EDITION_WEIGHT = 1.0
ACTIVE_WHEN_PUBLISHED_WEIGHT = 1.0
# A written year only one candidate was held in settles it like its full name nearby.
YEAR_FITS_ONE_WEIGHT = 3.0
# Other occurrences of the same shared word in the article lend half their evidence
# (one sense per article, unless the local context clearly says otherwise).
SAME_WORD_FACTOR = 0.5
# News is mostly about the coming or just-held edition: an event whose current edition
# (by the publication date) the article names, and that edition among several named,
# get this much extra (two body mentions' worth).
CURRENT_EDITION_BONUS = 2.0
# A title or lead mention without year or ordinal ("World Intelligence Expo opens") is
# read as naming the current edition, at this fraction of its weight: it is a vote,
# not a written year.
UNDATED_VOTE = 0.5
# Reports on an edition keep coming for about two months after it closes; after that
# "this year's" edition is already the next one.
AFTERMATH_DAYS = 60
# Context for a shared acronym: words within this many characters count fully
# (about a paragraph), words further away count FAR_CONTEXT_FACTOR as much.
CONTEXT_WINDOW = 300
FAR_CONTEXT_FACTOR = 0.2
# An unambiguous name of one candidate near a shared acronym is the strongest context.
NAME_CONTEXT_WEIGHT = 3.0
# The score (title + two body mentions) from which a tag is fully supported.
FULL_SUPPORT = 5.0
# Another edition of an event gets its own tag only if named at least once in prose.
MIN_EDITION_WEIGHT = BODY_WEIGHT
# The year came only from the publication date: less sure than a written year.
PUBLISHED_ONLY_FACTOR = 0.8
# Enough evidence to show why in `expowatch show`, without storing the article twice.
MAX_EVIDENCE = 6
SNIPPET_RADIUS = 40

@dataclass(frozen=True)
class Evidence:
    """Why a tag was given: a matched span of a field, or a non-text reason."""

    field: str  # title | text | url | source | published | taxonomy
    kind: str  # name | acronym | alias | edition-phrase | hint | published-date | known-edition
    match: str
    start: int | None = None
    end: int | None = None
    snippet: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "field": self.field, "kind": self.kind, "match": self.match,
            "start": self.start, "end": self.end, "snippet": self.snippet,
        }


@dataclass(frozen=True)
class EventTag:
    """One event an article is about (primary) or names (mentioned)."""

    event: str
    role: str  # PRIMARY | MENTIONED
    edition: int | None
    year: int | None
    confidence: float
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, as stored in article_events and printed by the CLI."""
        return {
            "event": self.event, "role": self.role, "edition": self.edition,
            "year": self.year, "confidence": self.confidence,
            "evidence": [e.to_dict() for e in self.evidence],
        }


Key = tuple[int | None, int | None]  # (ordinal, year) of an edition


@dataclass
class _Mention:
    """One occurrence of an event in the title or text, with what is attached to it."""

    slug: str
    field: str
    start: int
    end: int
    kind: str
    weight: float
    label: bool
    year: int | None = None
    ordinal: int | None = None
    certainty: float = 1.0  # below 1 when a shared acronym was resolved by context
    snippet: str = ""
    topical: bool = False  # in the title or the lead paragraph


@dataclass
class _EventAccount:
    """Everything found for one event in one article."""

    event: Event
    current: int | None  # the year of the edition news of this day is about
    mentions: list[_Mention] = field(default_factory=list)
    hints: list[Evidence] = field(default_factory=list)

    def editions(self) -> tuple[dict[Key, list[_Mention]], list[_Mention]]:
        """Prose mentions grouped by the edition they name, and those naming none."""
        groups: dict[Key, list[_Mention]] = defaultdict(list)
        undated = []
        for mention in self.mentions:
            key = _edition_key(self.event, mention)
            if key == (None, None) or mention.label:  # footers and promos name no edition
                undated.append(mention)
            else:
                groups[key].append(mention)
        return groups, undated

    @property
    def score(self) -> float:
        """How much the article is about this event."""
        score = sum(m.weight * m.certainty for m in self.mentions)
        if any(m.topical for m in self.mentions):
            score += HINT_WEIGHT if self.hints else 0.0
        score += LEAD_WEIGHT if any(m.topical and m.field == TEXT for m in self.mentions) else 0.0
        groups, _ = self.editions()
        if self.current is not None and any(year == self.current for _, year in groups):
            score += CURRENT_EDITION_BONUS
        return score

    @property
    def certainty(self) -> float:
        total = sum(m.weight for m in self.mentions)
        return sum(m.weight * m.certainty for m in self.mentions) / total if total else 0.0


def tag_article(
    title: str,
    text: str,
    url: str = "",
    *,
    source_event: str | None = None,
    published: datetime | date | None = None,
    taxonomy: Taxonomy | None = None,
) -> list[EventTag]:
    """The events an article is about: at most one primary, any number mentioned.

    `source_event` (the source's default event) and event words in `url` are weak
    hints: they break ties but never tag an event the title and text do not name.
    `published` resolves "this year's", favours the current edition and, failing a
    written edition, gives the primary event the known edition of that year.
    `taxonomy` None means the built-in taxonomy. Tags come primary first.
    """
    taxonomy = taxonomy or builtin_taxonomy()
    if source_event is not None:
        taxonomy[source_event]  # an unknown slug is a configuration error: KeyError
    day = published.date() if isinstance(published, datetime) else published
    fields = {TITLE: title or "", TEXT: text or ""}
    hits = {name: taxonomy.matcher.scan(value) for name, value in fields.items()}
    hints = _hints(taxonomy, url, source_event)
    lines = Lines(fields[TEXT])
    lead = lines.lead()
    attached = {
        (name, hit.start): read_attachment(value, hit.start, hit.end)
        for name, value in fields.items()
        for hit in hits[name]
        if _named_slugs(hit)
    }
    senses = _resolve_shared(hits, attached, hints, taxonomy, day)
    accounts: dict[str, _EventAccount] = {}
    for name, value in fields.items():
        for mention in _mentions(name, value, lines, hits, attached, senses, taxonomy, day):
            mention.topical = name == TITLE or lead[0] <= mention.start < lead[1]
            event = taxonomy[mention.slug]
            account = accounts.setdefault(event.slug, _EventAccount(event, _current_year(event, day)))
            account.mentions.append(mention)
    # An event named only in headings, footers or promo lines is not tagged.
    ranked = [a for a in accounts.values() if any(not m.label for m in a.mentions)]
    for account in ranked:
        account.hints = hints.get(account.event.slug, [])
    ranked.sort(key=lambda a: -a.score)
    primary = None
    if ranked and (len(ranked) == 1 or ranked[0].score > ranked[1].score):
        primary = ranked[0]
        primary.mentions.extend(_edition_phrases(fields, lines, hits, primary, day))
    runner_up = ranked[1].score if len(ranked) > 1 else 0.0
    tags: list[EventTag] = []
    for account in ranked:
        tags.extend(_tags_for(account, account is primary, runner_up, fields, day))
    return tags


def _hints(taxonomy: Taxonomy, url: str, source_event: str | None) -> dict[str, list[Evidence]]:
    """Weak hints per event: the source's default event and event words in the URL."""
    hints: dict[str, list[Evidence]] = defaultdict(list)
    if source_event is not None:
        hints[source_event].append(Evidence(SOURCE, "hint", source_event))
    if url:
        for slug, words in taxonomy.matcher.url_events(url).items():
            hints[slug].extend(Evidence(URL, "hint", word, snippet=url) for word in words)
    return hints


def _mentions(
    field_name: str,
    value: str,
    lines: Lines,
    hits: dict[str, list[Hit]],
    attachments: dict[tuple[str, int], Attachment],
    senses: dict[tuple[str, int], tuple[str, float] | None],
    taxonomy: Taxonomy,
    day: date | None,
) -> list[_Mention]:
    """Each name, acronym or alias hit of one field as a mention of one event."""
    out = []
    consumed = -1
    for hit in hits[field_name]:
        if hit.start < consumed:
            continue  # "(WIC)" right after "World Internet Conference": same mention
        slugs = _named_slugs(hit)
        if not slugs:
            continue
        attached = attachments[field_name, hit.start]
        consumed = attached.consumed
        certainty = 1.0
        if len(slugs) > 1:
            sense = senses[field_name, hit.start]
            if sense is None:
                continue  # context does not tell which event: no guess
            slug, certainty = sense
        else:
            slug = slugs[0]
        year = _written_year(taxonomy[slug], attached, day)
        label = field_name == TEXT and lines.is_label(hit.start)
        weight = TITLE_WEIGHT if field_name == TITLE else LABEL_WEIGHT if label else BODY_WEIGHT
        kind = next(t.kind for t in hit.terms if t.slug == slug and t.kind in MENTION_KINDS)
        out.append(_Mention(
            slug, field_name, attached.start, attached.end, kind, weight, label,
            year, attached.ordinal, certainty, _snippet(value, attached.start, attached.end),
        ))
    return out


def _named_slugs(hit: Hit) -> list[str]:
    """The events a hit may name (several for a shared acronym or alias)."""
    return list(dict.fromkeys(t.slug for t in hit.terms if t.kind in MENTION_KINDS))


def _written_year(event: Event, attached: Attachment, day: date | None) -> int | None:
    """The year written with a name or edition noun ("2020 WIMC", "next year's"), if plausible."""
    year = attached.year
    if attached.relative is not None and day is not None:
        year = day.year + attached.relative
    if year is not None and event.first_year is not None and year < event.first_year:
        return None  # "2016 World Intelligence Congress" cannot be: drop the year
    return year


def _resolve_shared(
    hits: dict[str, list[Hit]],
    attachments: dict[tuple[str, int], Attachment],
    hints: dict[str, list[Evidence]],
    taxonomy: Taxonomy,
    day: date | None,
) -> dict[tuple[str, int], tuple[str, float] | None]:
    """Which event each shared acronym or alias means, and how surely (None: unclear).

    Each occurrence is first scored on its own (year, context, hints); then, one
    sense per article, occurrences of the same word lend each other part of their
    evidence, so "2023智博会" in the title settles a bare "智博会" in the body.
    """
    local: dict[tuple[str, int], dict[str, float]] = {}
    surfaces: dict[tuple[str, int], str] = {}
    context: _Context | None = None
    for field_name, field_hits in hits.items():
        for hit in field_hits:
            slugs = _named_slugs(hit)
            if len(slugs) < 2:
                continue
            key = (field_name, hit.start)
            attached = attachments[key]
            surfaces[key] = normalise_term(hit.text)
            fitting = [s for s in slugs if attached.year is None or taxonomy[s].active_in(attached.year)]
            if len(fitting) == 1:
                local[key] = {fitting[0]: YEAR_FITS_ONE_WEIGHT}
                continue
            context = context or _Context(hits)
            local[key] = {
                slug: _prior(taxonomy[slug], attached, hints, day) + context.score(slug, field_name, hit.start)
                for slug in fitting or slugs
            }
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for key, scores in local.items():
        for slug, score in scores.items():
            totals[surfaces[key]][slug] += score
    senses: dict[tuple[str, int], tuple[str, float] | None] = {}
    for key, scores in local.items():
        total = totals[surfaces[key]]
        combined = {
            slug: scores.get(slug, 0.0) + SAME_WORD_FACTOR * (total[slug] - scores.get(slug, 0.0))
            for slug in set(scores) | set(total)
        }
        ranked = sorted(combined.items(), key=lambda item: -item[1])
        best = ranked[0][1]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        senses[key] = (ranked[0][0], 0.5 + 0.5 * (best - second) / best) if best > second else None
    return senses


def _prior(event: Event, attached: Attachment, hints: dict[str, list[Evidence]], day: date | None) -> float:
    """What favours one reading of a shared word before its context is read."""
    score = HINT_WEIGHT if hints.get(event.slug) else 0.0
    if (attached.year is not None and event.edition_for_year(attached.year)) or (
        attached.ordinal is not None and event.edition_for_ordinal(attached.ordinal)
    ):
        score += KNOWN_EDITION_WEIGHT
    if day is not None and event.active_in(day.year):
        score += ACTIVE_WHEN_PUBLISHED_WEIGHT
    return score


class _Context:
    """Where each event's context words and unambiguous names occur, for window look-ups.

    Each distinct word counts once per event, at its nearest occurrence: a common word
    repeated all over the article ("智能") must not outweigh one host city.
    """

    def __init__(self, hits: dict[str, list[Hit]]) -> None:
        self.places: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self.weights: dict[tuple[str, str], float] = {}
        for field_name, field_hits in hits.items():
            for hit in field_hits:
                named = _named_slugs(hit)
                for term in hit.terms:
                    if term.kind in CONTEXT_KINDS:
                        weight = term.weight
                    elif named == [term.slug]:  # an unambiguous name of this event
                        weight = NAME_CONTEXT_WEIGHT
                    else:
                        continue
                    key = (term.slug, normalise_term(hit.text))
                    self.places[key][field_name].append(hit.start)
                    self.weights[key] = max(self.weights.get(key, 0.0), weight)
        self.words: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key in self.weights:
            self.words[key[0]].append(key)

    def score(self, slug: str, field_name: str, pos: int) -> float:
        """The context for `slug` around text position `pos` of a field."""
        total = 0.0
        for key in self.words.get(slug, ()):
            starts = self.places[key].get(field_name, [])
            index = bisect_left(starts, pos - CONTEXT_WINDOW)
            near = index < len(starts) and starts[index] <= pos + CONTEXT_WINDOW
            total += self.weights[key] * (1.0 if near else FAR_CONTEXT_FACTOR)
        return total


def _edition_phrases(
    fields: dict[str, str],
    lines: Lines,
    hits: dict[str, list[Hit]],
    account: _EventAccount,
    day: date | None,
) -> list[_Mention]:
    """"next year's edition", "the sixth edition", "第六届大会": the article's own event."""
    event = account.event
    out = []
    for field_name, value in fields.items():
        # Nouns inside a name's own phrase ("next year's edition of the WIC") are that mention.
        starts = sorted(m.start for m in account.mentions if m.field == field_name)
        ends = {m.start: m.end for m in account.mentions if m.field == field_name}
        for hit in hits[field_name]:
            if hit.terms[0].kind != NOUN:
                continue
            index = bisect_right(starts, hit.start) - 1
            if index >= 0 and hit.start < ends[starts[index]]:
                continue
            attached = read_attachment(value, hit.start, hit.end)
            # Ordinals and years only with "edition" or a Chinese noun ("第六届大会"):
            # "the second session" or "the 2019 conference" may be about anything.
            if hit.text.isascii() and hit.text.lower() != "edition":
                attached = replace(attached, year=None, ordinal=None)
            year = _written_year(event, attached, day)
            if year is None and attached.ordinal is None:
                continue
            if field_name == TEXT and lines.is_label(hit.start):
                continue
            out.append(_Mention(
                event.slug, field_name, attached.start, attached.end, "edition-phrase",
                TITLE_WEIGHT if field_name == TITLE else BODY_WEIGHT, False, year, attached.ordinal,
                snippet=_snippet(value, attached.start, attached.end),
            ))
    return out


def _tags_for(
    account: _EventAccount,
    is_primary: bool,
    runner_up: float,
    fields: dict[str, str],
    day: date | None,
) -> list[EventTag]:
    """The tag of one event's main edition, plus a mentioned tag per other edition named."""
    event, current = account.event, account.current
    groups, undated = account.editions()
    weights = {key: sum(m.weight for m in ms) for key, ms in groups.items()}
    implied: Key | None = None  # the current edition, named without year or ordinal
    if is_primary and current is not None:
        vote = UNDATED_VOTE * sum(m.weight for m in undated if m.topical and not m.label)
        named = next((key for key in groups if key[1] == current), None)
        if named is not None:
            weights[named] += CURRENT_EDITION_BONUS + vote
        elif vote or not groups:
            known = event.edition_for_year(current)
            # Only an edition the taxonomy knows of is given a year: no invented editions.
            implied = (known.ordinal, current) if known else (None, None)
            weights[implied] = CURRENT_EDITION_BONUS + vote
    order = sorted(weights, key=lambda k: (-weights[k], k not in groups or groups[k][0].field != TITLE))
    main = order[0] if order else (None, None)
    ordinal, year = main
    extra: list[Evidence] = []
    if main in groups:
        extra.extend(_inferred_from_taxonomy(groups[main], main))
    dated_by_publication = main == implied and year is not None
    if is_primary and ordinal is not None and year is None and current is not None:
        # "Ninth World Internet Conference" with no year, and the taxonomy does not know
        # the ninth: the publication year, unless its known edition has another ordinal.
        known = event.edition_for_year(current)
        if event.active_in(current) and (known is None or known.ordinal in (None, ordinal)):
            year, dated_by_publication = current, True
    if dated_by_publication:
        extra.append(Evidence(PUBLISHED, "published-date", str(day)))
    score = account.score
    confidence = _support(score) * account.certainty
    if is_primary:
        confidence *= score / (score + runner_up)  # how clearly it beats the next event
    if dated_by_publication:
        confidence *= PUBLISHED_ONLY_FACTOR
    tags = [EventTag(
        event.slug, PRIMARY if is_primary else MENTIONED, ordinal, year,
        round(min(1.0, confidence), 3),
        _evidence(groups.get(main, []) + undated, fields) + tuple(account.hints) + tuple(extra),
    )]
    for key in order[1:]:
        weight = sum(m.weight for m in groups.get(key, []))
        if weight < MIN_EDITION_WEIGHT:
            continue
        tags.append(EventTag(
            event.slug, MENTIONED, key[0], key[1], round(_support(weight) * account.certainty, 3),
            _evidence(groups[key], fields) + _inferred_from_taxonomy(groups[key], key),
        ))
    return tags


def _edition_key(event: Event, mention: _Mention) -> Key:
    """(ordinal, year) of the edition a mention names, completed from known editions."""
    ordinal, year = mention.ordinal, mention.year
    if year is not None:
        known = event.edition_for_year(year)
        if known is not None:
            ordinal = known.ordinal  # the written year wins over a conflicting ordinal
    elif ordinal is not None:
        known = event.edition_for_ordinal(ordinal)
        if known is not None:
            year = known.year
        elif ordinal == 1:
            year = event.first_year  # the first edition is held in the first year
    return ordinal, year


def _inferred_from_taxonomy(mentions: list[_Mention], key: Key) -> tuple[Evidence, ...]:
    """Evidence that the ordinal or the year came from the taxonomy's known editions."""
    ordinal, year = key
    if ordinal is None or year is None:
        return ()
    if all(m.year is None for m in mentions):
        return (Evidence(TAXONOMY, "known-edition", f"edition {ordinal} was held in {year}"),)
    if all(m.ordinal is None for m in mentions):
        return (Evidence(TAXONOMY, "known-edition", f"the {year} edition is edition {ordinal}"),)
    return ()


def _support(score: float) -> float:
    """0.5 for a single passing mention, rising to 1 at FULL_SUPPORT."""
    return 0.5 + 0.5 * min(1.0, score / FULL_SUPPORT)


def _current_year(event: Event, day: date | None) -> int | None:
    """The year of the edition news published on `day` is most likely about."""
    if day is None:
        return None
    known = event.edition_for_year(day.year)
    if known and known.end and (day - known.end).days > AFTERMATH_DAYS:
        return day.year + 1
    return day.year


def _evidence(mentions: list[_Mention], fields: dict[str, str]) -> tuple[Evidence, ...]:
    """The strongest mentions as evidence: title first, then those naming an edition."""
    chosen = sorted(
        mentions,
        key=lambda m: (m.field != TITLE, m.label, m.year is None and m.ordinal is None, m.start),
    )[:MAX_EVIDENCE]
    return tuple(
        Evidence(m.field, m.kind, fields[m.field][m.start:m.end], m.start, m.end, m.snippet)
        for m in chosen
    )


def _snippet(value: str, start: int, end: int) -> str:
    """The words around a span, on one line."""
    around = value[max(0, start - SNIPPET_RADIUS): end + SNIPPET_RADIUS]
    return " ".join(around.split())
