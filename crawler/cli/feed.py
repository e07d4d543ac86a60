"""`expowatch feed`: an Atom feed of the newest articles of an event or a search."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crawler.cli.app import EXIT_USAGE, DbOption, app, fail, open_store
from crawler.cli.events import EventsFileOption, load_events


@app.command()
def feed(
    event: Annotated[str | None, typer.Option("--event", "-e", help="Event slug (see `expowatch events list`).")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Search text, in `expowatch search` syntax.")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only stories carried by this source (repeatable).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the feed to this file (default: stdout).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, max=1000, show_default=False,
                                              help="Newest articles in the feed (default: 50).")] = None,
    events_file: EventsFileOption = None,
    db: DbOption = None,
) -> None:
    """Write an Atom feed of the newest articles about an event or matching a search.

    Entry ids are stable (tag: URIs from each article's canonical URL), so a feed reader
    subscribed to the file or to `expowatch serve`'s /feed shows each story once.
    Examples: expowatch feed --event smart-china-expo -o sce.xml;
    expowatch feed --query '机器人 OR robot' --source prwire.
    """
    from storage.engine import session_factory
    from storage.query_syntax import QueryTooLong, parse_query
    from storage.queries import source_names, unknown_sources

    from crawler.feeds import FeedRequest, render_feed

    if not event and not (query or "").strip():
        fail("give --event SLUG or --query TEXT (or both): what the feed follows", EXIT_USAGE)
    if event and event.lower() not in load_events(events_file):
        fail(f"--event {event!r}: no such event (see `expowatch events list`)")
    try:
        parse_query(query)
    except QueryTooLong as exc:
        fail(f"--query: {exc}")
    request = FeedRequest(text=query or "", event=event.lower() if event else None, sources=tuple(source or ()),
                          **({"limit": limit} if limit is not None else {}))  # default: crawler.feeds.FEED_LIMIT
    url = open_store(db)
    with session_factory(url, for_writing=False)() as session:
        unknown = unknown_sources(session, request.sources)
        if unknown:
            fail(f"--source {unknown[0]!r}: no such source in the store "
                 f"(known: {', '.join(source_names(session)) or 'none yet'})")
        document = render_feed(session, request.query(), title=request.title(), limit=request.limit)
    if output is None:
        typer.echo(document.decode("utf-8"), nl=False)
        return
    try:
        output.write_bytes(document)
    except OSError as exc:
        fail(f"cannot write the feed to {output}: {exc.strerror or exc}")
