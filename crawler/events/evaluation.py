"""Compare an article's tags with hand-written expectations (the replica's gold).

Used by the replica test and benchmarks/tagging.py, so both score the same way.
Expectations are a dict with primary_event, edition, year and mentioned_events.
Also the worst-case input for those checks: a page's whole text, boilerplate and all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crawler.extract.encoding import decode_html
from crawler.events.taxonomy import Taxonomy
from crawler.events.tagger import MENTIONED, PRIMARY, EventTag, tag_article
from crawler.extract.htmltree import parse_html

# Elements whose text starts a new line when a page is read whole: the line
# structure the tagger's heading / footer detection relies on.
BLOCK_TAGS = ("p", "div", "li", "h1", "h2", "h3", "h4", "br", "tr", "td", "ul", "ol", "span", "a")


@dataclass(frozen=True)
class TagCheck:
    """How one article's tags compare with its expectations, aspect by aspect."""

    primary_ok: bool
    edition_ok: bool
    mentioned_ok: bool
    got: dict[str, Any]
    want: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.primary_ok and self.edition_ok and self.mentioned_ok


def check_tags(tags: Iterable[EventTag], expected: Mapping[str, Any], taxonomy: Taxonomy) -> TagCheck:
    """Score tags against expectations.

    Primary: same event, or both none. Mentioned: the same set of other events, and
    a mentioned tag for each of the optional `mentioned_editions` ({event, year}).
    Edition/year: the expected year, and the expected ordinal when one is given;
    where the expectation leaves the ordinal out (the article does not state it), an
    ordinal the taxonomy's known editions give for that year also counts as right.
    Without an expected primary, any year on a tag must be the expected year.
    """
    tags = list(tags)
    primary = next((t for t in tags if t.role == PRIMARY), None)
    mentioned = {t.event for t in tags if t.role == MENTIONED} - {primary.event if primary else None}
    got = {
        "primary_event": primary.event if primary else None,
        "edition": primary.edition if primary else None,
        "year": primary.year if primary else None,
        "mentioned_events": sorted(mentioned),
    }
    want = {key: expected[key] for key in ("primary_event", "edition", "year")}
    want["mentioned_events"] = sorted(expected["mentioned_events"])
    editions = {(e["event"], e["year"]) for e in expected.get("mentioned_editions", [])}
    if editions:
        want["mentioned_editions"] = sorted(editions)
        got["mentioned_editions"] = sorted(
            {(t.event, t.year) for t in tags if t.role == MENTIONED} & editions
        )
    if primary is None:
        edition_ok = want["year"] is None or all(t.year in (None, want["year"]) for t in tags)
    else:
        edition_ok = primary.year == want["year"] and primary.edition in _acceptable_editions(
            taxonomy, primary.event, want["edition"], want["year"]
        )
    return TagCheck(
        primary_ok=got["primary_event"] == want["primary_event"],
        edition_ok=edition_ok,
        mentioned_ok=got["mentioned_events"] == want["mentioned_events"]
        and got.get("mentioned_editions") == want.get("mentioned_editions"),
        got=got,
        want=want,
    )


def _acceptable_editions(
    taxonomy: Taxonomy, slug: str, edition: int | None, year: int | None
) -> set[int | None]:
    if edition is not None:
        return {edition}
    event = taxonomy.get(slug)
    known = event.edition_for_year(year) if event is not None and year is not None else None
    return {None, known.ordinal if known else None}


def check_article(
    title: str,
    text: str,
    url: str,
    expected: Mapping[str, Any],
    *,
    source_event: str | None,
    published: datetime | None,
    taxonomy: Taxonomy,
) -> TagCheck:
    """Tag one article as the pipeline does and score the tags."""
    tags = tag_article(
        title, text, url, source_event=source_event, published=published, taxonomy=taxonomy
    )
    return check_tags(tags, expected, taxonomy)


def whole_page_text(raw: bytes) -> str:
    """All text of a page's body, one line per block: what a failed extraction leaves."""
    tree = parse_html(decode_html(raw).text)
    for element in tree.xpath("//script|//style"):
        element.drop_tree()
    for element in tree.iter(*BLOCK_TAGS):
        element.tail = "\n" + (element.tail or "")
    body = tree.find("body")
    return (body if body is not None else tree).text_content()
