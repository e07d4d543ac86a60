"""`expowatch events list` and `expowatch retag`: the event taxonomy and re-applying it."""

from __future__ import annotations

from typing import Annotated

import typer

from crawler.cli.app import DbOption, SourcesFileOption, app, fail, open_store
from crawler.cli.output import Column, ListFormat, print_table, write_records

EventsFileOption = Annotated[
    str | None,
    typer.Option("--events-file", envvar="EXPOWATCH_EVENTS", show_envvar=True,
                 help="TOML file of \\[\\[event]] tables that add to or extend the built-in events."),
]

events_app = typer.Typer(help="The event taxonomy: events, editions, article counts.", no_args_is_help=True)
app.add_typer(events_app, name="events")


def load_events(events_file: str | None):
    """The taxonomy (built-in plus the user's file), or one clear error line and exit 1."""
    from crawler.events import EventsFileError, load_taxonomy

    try:
        return load_taxonomy(events_file)
    except (EventsFileError, OSError) as exc:
        fail(str(exc))


@events_app.command("list")
def list_events(
    events_file: EventsFileOption = None,
    db: DbOption = None,
    fmt: Annotated[ListFormat, typer.Option(
        "--format", "-f", help="table for people (plain aligned text in a pipe); json, jsonl, csv for programs.")]
        = ListFormat.table,
) -> None:
    """List events with their editions and how many stored articles are about each."""
    from storage.engine import session_factory
    from storage.events import event_counts

    taxonomy = load_events(events_file)
    url = open_store(db, must_exist=True)
    with session_factory(url, for_writing=False)() as session:
        counts = event_counts(session)
    rows = []
    for event in taxonomy:
        per_year = {year: c for (slug, year), c in counts.items() if slug == event.slug}
        rows.append({
            "slug": event.slug, "name": event.name_en or event.name_zh, "name_zh": event.name_zh,
            "editions": [{"ordinal": e.ordinal, "year": e.year, "city": e.city,
                          "articles": per_year.get(e.year, {}).get("primary", 0)} for e in event.editions],
            "articles_primary": sum(c["primary"] for c in per_year.values()),
            "articles_mentioning": sum(c["mentioned"] for c in per_year.values()),
        })
    if fmt is not ListFormat.table:
        write_records(rows, fmt, list(rows[0]) if rows else [])
        return
    columns = [Column("slug"), Column("name", wrap=True), Column("editions (ordinal/year: articles)", wrap=True),
               Column("about", justify="right"), Column("mentioning", justify="right")]
    print_table(columns, [[row["slug"], f"{row['name']} {row['name_zh'] or ''}".strip(),
                           ", ".join(f"{e['ordinal'] or '?'}/{e['year']}: {e['articles']}" for e in row["editions"]),
                           str(row["articles_primary"]), str(row["articles_mentioning"])] for row in rows])


@app.command()
def retag(
    event: Annotated[str | None, typer.Option("--event", help="Only articles currently tagged with this event.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only articles of this source.")] = None,
    events_file: EventsFileOption = None,
    sources_file: SourcesFileOption = None,
    db: DbOption = None,
) -> None:
    """Re-apply the event taxonomy to stored articles (after adding or changing events); no refetching."""
    from crawler.events import TAGGER_VERSION, tag_article
    from storage.engine import session_factory
    from storage.events import articles_for_tagging, replace_article_tags, stored_event_slugs

    from crawler.cli.sources import check_source_events, load_registry

    taxonomy = load_events(events_file)
    registry = load_registry(sources_file)
    check_source_events(registry, taxonomy, sources_file)
    url = open_store(db, writable=True)
    make_session = session_factory(url)
    with session_factory(url, for_writing=False)() as reader:
        if event is not None:
            known = list(dict.fromkeys([*(e.slug for e in taxonomy), *stored_event_slugs(reader)]))
            if event not in known:
                fail(f"--event {event!r}: no such event (known: {', '.join(known)})")
        articles = list(articles_for_tagging(reader, source=source, event=event))
    changed = 0
    with make_session.begin() as session:
        for article in articles:
            declared = registry.get(article.source)
            hint = declared.event if declared is not None and declared.event in taxonomy else None
            tags = tag_article(article.title, article.text, article.url, source_event=hint,
                               published=article.published_at, taxonomy=taxonomy)
            replace_article_tags(session, article.id, tags, TAGGER_VERSION)
            changed += bool(tags)
    typer.echo(f"retagged {len(articles)} articles ({changed} with at least one event)", err=True)
