"""`expowatch search`: query the article store."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from crawler.cli.app import DbOption, app, open_store


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="Words that must all appear in title or text.")] = None,
    db: DbOption = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many results.")] = 20,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
) -> None:
    """Search stored articles, newest first."""
    from storage.engine import session_factory
    from storage.queries import search_articles

    url = open_store(db)
    with session_factory(url, for_writing=False)() as session:
        hits = search_articles(session, query, limit=limit)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "published", "source", "title", "url")
    for h in hits:
        table.add_row(str(h.id), h.published_at.strftime("%Y-%m-%d %H:%M") if h.published_at else "",
                      h.source, h.title or "", h.url)
    Console().print(table)
    if not hits:
        typer.echo("no articles match", err=True)
