"""The messages of deliveries: a subject, a text body, an HTML body and a JSON document.

Every message carries its delivery id. What a story shows: title, source, the
published date in the source's time zone and in UTC, its events with edition or
year, the URL, a snippet around the words the rule matched, and how many copies
of the story the store holds. The JSON document is described in docs/alerts.md.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from crawler.alerts.rules import AlertRule

SCHEMA_VERSION = 1  # of the JSON document; raised when a field changes meaning
SNIPPET_CHARS = 240  # about two lines of a mail: enough to see why the story matched
SUBJECT_PREFIX = "[expowatch]"
DATE_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class Message:
    """One delivery's message in every form a channel may want."""

    delivery_id: str
    subject: str
    text: str
    html: str
    document: dict[str, Any]

    def json(self) -> str:
        return json.dumps(self.document, ensure_ascii=False, sort_keys=True)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def match_terms(rule: AlertRule) -> list[str]:
    """The words a story had to contain (the positive terms of the rule's query)."""
    from storage.query_syntax import parse_query

    return [t for c in parse_query(rule.match.query) if not c.negated for t in c.terms]


def snippet(text: str, terms: Sequence[str], width: int = SNIPPET_CHARS) -> str:
    """About width characters of text around the first matched term (the start when none matches)."""
    flat = " ".join(text.split())
    lowered = flat.lower()
    hits = [i for i in (lowered.find(t.lower()) for t in terms) if i >= 0]
    start = max(0, min(hits) - width // 3) if hits else 0
    piece = flat[start:start + width]
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(flat) else "")


def _marked_html(text: str, terms: Sequence[str]) -> str:
    """text escaped for HTML with every matched term in <mark>."""
    if not terms:
        return html.escape(text)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    out, last = [], 0
    for found in pattern.finditer(text):
        out.append(html.escape(text[last:found.start()]))
        out.append(f"<mark>{html.escape(found.group())}</mark>")
        last = found.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def _zone(name: str | None):
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def story(session: Session, article_id: int, terms: Sequence[str]) -> dict[str, Any] | None:
    """The JSON-ready description of one stored story (None if it is no longer stored)."""
    from sqlalchemy import select

    from storage.models import SourceRow
    from storage.queries import get_article

    detail = get_article(session, article_id)
    if detail is None:
        return None
    article = detail.article
    zone_name = session.execute(select(SourceRow.timezone).where(SourceRow.name == article.source)).scalar() or "UTC"
    published = article.published_at
    local = published.astimezone(_zone(zone_name)) if published else None
    exact_copies = [u for u in article.urls if u.relation == "exact_copy"]
    return {
        "id": article.id,
        "title": article.title or "",
        "url": article.url,
        "source": article.source,
        "language": article.language,
        "published_utc": published.astimezone(timezone.utc).isoformat() if published else None,
        "published_local": local.isoformat() if local else None,
        "timezone": zone_name,
        "first_seen_utc": article.first_seen_at.astimezone(timezone.utc).isoformat(),
        "events": [{"event": e.event, "role": e.role, "edition": e.edition, "year": e.year} for e in article.events],
        "copies": len(detail.copies) + len(exact_copies),
        "copy_sources": sorted({c.source for c in detail.copies} | {u.source for u in exact_copies}),
        "snippet": snippet(article.text, terms),
        "matched": [t for t in terms if t.lower() in (article.title or "").lower() + " " + article.text.lower()],
    }


def _event_line(events: list[dict]) -> str:
    parts = []
    for e in events:
        label = e["event"]
        if e["edition"]:
            label += f" ({_ordinal(e['edition'])} edition)"
        if e["year"]:
            label += f" {e['year']}"
        parts.append(label + ("" if e["role"] == "primary" else " [mentioned]"))
    return ", ".join(parts) or "no event recognised"


def _dates(item: dict) -> str:
    if not item["published_utc"]:
        return "date unknown (first seen " + datetime.fromisoformat(item["first_seen_utc"]).strftime(DATE_FORMAT) + " UTC)"
    local = datetime.fromisoformat(item["published_local"]).strftime(DATE_FORMAT)
    utc = datetime.fromisoformat(item["published_utc"]).strftime(DATE_FORMAT)
    return f"{local} {item['timezone']} ({utc} UTC)"


def _story_text(item: dict) -> str:
    copies = f"{item['copies']} cop{'y' if item['copies'] == 1 else 'ies'}"
    if item["copy_sources"]:
        copies += " (" + ", ".join(item["copy_sources"]) + ")"
    return "\n".join([
        item["title"] or "(no title)",
        f"  Source:    {item['source']}",
        f"  Published: {_dates(item)}",
        f"  Events:    {_event_line(item['events'])}",
        f"  Copies:    {copies}",
        f"  URL:       {item['url']}",
        f"  {item['snippet']}",
    ])


def _story_html(item: dict, terms: Sequence[str]) -> str:
    e = html.escape
    return (f'<h3><a href="{e(item["url"], quote=True)}">{e(item["title"] or "(no title)")}</a></h3>'
            f"<p>{e(item['source'])} · {e(_dates(item))}<br>{e(_event_line(item['events']))} · "
            f"{item['copies']} cop{'y' if item['copies'] == 1 else 'ies'}<br>"
            f'<a href="{e(item["url"], quote=True)}">{e(item["url"])}</a></p>'
            f"<blockquote>{_marked_html(item['snippet'], terms)}</blockquote>")


def _footer(delivery_id: str, rule: AlertRule) -> tuple[str, str]:
    text = f"-- \nexpowatch alert rule {rule.name!r}, delivery {delivery_id}"
    return text, f"<hr><p><small>{html.escape(text[4:])}</small></p>"


def render(session: Session, *, delivery_id: str, rule: AlertRule, kind: str, article_id: int | None,
           payload: dict[str, Any]) -> Message | None:
    """The message of one outbox row (None when its article is gone from the store)."""
    document: dict[str, Any] = {"version": SCHEMA_VERSION, "delivery_id": delivery_id, "rule": rule.name,
                                "kind": kind, "articles": [], "health": None}
    footer_text, footer_html = _footer(delivery_id, rule)
    if kind == "health":
        return _health_message(document, payload, footer_text, footer_html)
    terms = match_terms(rule)
    ids = [article_id] if kind == "article" else list(payload.get("articles", []))
    items = [item for item in (story(session, i, terms) for i in ids) if item is not None]
    if not items:
        return None
    document["articles"] = items
    if kind == "article":
        item = items[0]
        subject = f"{SUBJECT_PREFIX} {rule.name}: {item['title'] or item['url']}"
        intro = f"A new article matches {rule.match.describe()}:"
    else:
        document["period"] = {"since": payload.get("since"), "until": payload.get("until")}
        n = len(items)
        subject = f"{SUBJECT_PREFIX} {rule.name}: {n} new article{'s' if n != 1 else ''}"
        intro = f"{n} new article{'s' if n != 1 else ''} matching {rule.match.describe()} since {payload.get('since')}:"
    text = "\n\n".join([intro, *(_story_text(i) for i in items), footer_text])
    body_html = (f"<p>{html.escape(intro)}</p>" + "".join(_story_html(i, terms) for i in items) + footer_html)
    return Message(delivery_id, subject, text, body_html, document)


def _health_message(document: dict, payload: dict, footer_text: str, footer_html: str) -> Message:
    document["health"] = payload
    source = payload["source"]
    if payload["change"] == "unhealthy":
        subject = f"{SUBJECT_PREFIX} source {source} is unhealthy"
        lines = [f"Source {source} is unhealthy:", *(f"  - {p}" for p in payload["problems"])]
    else:
        subject = f"{SUBJECT_PREFIX} source {source} recovered"
        lines = [f"Source {source} recovered: its health is now {payload['status']}.",
                 *(f"  - warning: {w}" for w in payload["warnings"])]
    if payload.get("last_success_at"):
        lines.append(f"Last successful run: {payload['last_success_at']}")
    text = "\n".join(lines) + "\n\n" + footer_text
    body_html = ("<p>" + html.escape(lines[0]) + "</p><ul>"
                 + "".join(f"<li>{html.escape(line.strip(' -'))}</li>" for line in lines[1:]) + "</ul>" + footer_html)
    return Message(document["delivery_id"], subject, text, body_html, document)
