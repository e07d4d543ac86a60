"""`expowatch show ID|URL`: one article with its text, events (with evidence) and copies."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from crawler.cli.app import DbOption, app, fail, open_store


class ShowFormat(str, Enum):
    text = "text"
    json = "json"


def _evidence_line(item) -> str:
    if isinstance(item, dict) and "match" in item:
        where = "/".join(str(item[k]) for k in ("field", "kind") if item.get(k))
        snippet = f"  …{item['snippet']}…" if item.get("snippet") else ""
        return f"{where}: {item['match']!r}{snippet}"
    return json.dumps(item, ensure_ascii=False)


def _ref(ref) -> str:
    similarity = f", similarity {ref.similarity:.2f}" if ref.similarity is not None else ""
    return f"#{ref.id} {ref.url} ({ref.source}{similarity})"


def render_detail(detail) -> str:
    """The article as plain text for a person: fields, events with evidence, URLs, copies, text."""
    a = detail.article
    lines = [f"#{a.id}  {a.title or '(no title)'}"]

    def field(label: str, value) -> None:
        if value not in (None, ""):
            lines.append(f"{label + ':':<14}{value}")

    field("url", a.url)
    field("source", a.source)
    published = a.published_at.isoformat() if a.published_at else None
    field("published", f"{published} (page said {a.published_raw!r})" if published and a.published_raw else published)
    field("updated", a.updated_at.isoformat() if a.updated_at else None)
    field("date note", a.date_flag)
    field("author", a.author)
    field("language", a.language)
    field("first seen", a.first_seen_at.isoformat())
    field("last seen", a.last_seen_at.isoformat())
    if detail.original:
        field("copy of", _ref(detail.original))
    lines.append("events:" if a.events else "events:       none tagged")
    for tag in a.events:
        edition = ", ".join(p for p in (f"edition {tag.edition}" if tag.edition else "",
                                         str(tag.year) if tag.year else "") if p)
        lines.append(f"  {tag.event}  {tag.role}{'  ' + edition if edition else ''}  "
                     f"confidence {tag.confidence:.2f}")
        lines.extend(f"      {_evidence_line(item)}" for item in tag.evidence)
    lines.append("seen at:")
    lines.extend(f"  {u.url}  ({u.source}, {u.relation})" for u in a.urls)
    lines.append("copies:" if detail.copies else "copies:       none")
    lines.extend(f"  {_ref(c)}" for c in detail.copies)
    lines += ["", a.text]
    return "\n".join(lines)


@app.command()
def show(
    article: Annotated[str, typer.Argument(metavar="ID|URL", help="Article id (from search) or any URL it was seen at.")],
    db: DbOption = None,
    fmt: Annotated[ShowFormat, typer.Option("--format", "-f", help="text for people, json for programs.")]
        = ShowFormat.text,
) -> None:
    """Print one article: its fields, events with evidence, the URLs and copies of it, and its text."""
    from storage.engine import session_factory
    from storage.queries import get_article

    url = open_store(db, must_exist=True)
    with session_factory(url, for_writing=False)() as session:
        detail = get_article(session, article)
    if detail is None:
        fail(f"no article {article!r} in the store (give an id from `expowatch search` or a URL)")
    if fmt is ShowFormat.json:
        typer.echo(json.dumps(detail.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(render_detail(detail))
