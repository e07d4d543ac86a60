"""The query and filter options `expowatch search` and `expowatch export` share.

A command decorated with @with_search_filters gets every option below and receives
them as one SearchRequest argument named `request`; run_query() resolves it against
the store (--new, --since-run, unknown sources) and remembers a --new run afterwards.
"""

from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone, tzinfo
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Callable, Iterator

import typer

from crawler.cli.app import EXIT_USAGE, MAX_STORE_INT, MAX_YEAR, fail, open_store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from storage.queries import SearchQuery


class SortOrder(str, Enum):
    published = "published"
    first_seen = "first-seen"
    relevance = "relevance"


class DateField(str, Enum):
    published = "published"
    first_seen = "first-seen"


class Role(str, Enum):
    primary = "primary"
    mentioned = "mentioned"


DATE_HELP = "2024-06-20, 2024-06-20T09:00+08:00, today, or an age: 30m, 12h, 7d, 2w."


def _filter_options(
    text: Annotated[str | None, typer.Argument(
        metavar="[QUERY]", show_default=False,
        help='Words that must all appear (in title or text), "quoted phrases", -excluded, a OR b. '
             "Words match inside longer words; Chinese works as typed.")] = None,
    event: Annotated[list[str] | None, typer.Option(
        "--event", "-e", help="Event slug, e.g. smart-china-expo (repeat for any of several).")] = None,
    year: Annotated[list[int] | None, typer.Option(
        min=1, max=MAX_YEAR, help="Year of the event edition (repeatable).")] = None,
    edition: Annotated[list[int] | None, typer.Option(
        min=1, max=MAX_STORE_INT, help="Edition number of the event, 5 for the 5th (repeatable).")] = None,
    role: Annotated[Role | None, typer.Option(
        help="Only articles about the event (primary) or only those merely mentioning it.")] = None,
    source: Annotated[list[str] | None, typer.Option(
        "--source", "-s", help="Source name (repeatable); a story matches if this source carried it or a copy.")] = None,
    lang: Annotated[list[str] | None, typer.Option(help="Language code such as en or zh (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help=f"From this date on: {DATE_HELP}")] = None,
    until: Annotated[str | None, typer.Option(help=f"Before this date (a bare date includes that day): {DATE_HELP}")] = None,
    date_field: Annotated[DateField, typer.Option(
        "--dates", help="Which date --since/--until test; an undated article counts by when it was first seen.")]
        = DateField.published,
    tz: Annotated[str, typer.Option(
        "--tz", help="Time zone of dates given without an offset, and of dates in the table (e.g. Asia/Shanghai).")]
        = "UTC",
    new: Annotated[bool, typer.Option(
        "--new", help="Only articles first seen since this query (its text and filters, or --name) last ran.")] = False,
    name: Annotated[str | None, typer.Option(help="The name --new remembers this query by.")] = None,
    since_run: Annotated[int | None, typer.Option(
        min=1, max=MAX_STORE_INT, help="Only articles first seen since crawl run ID started (ids: `expowatch runs`).")] = None,
    all_copies: Annotated[bool, typer.Option(
        "--all-copies", help="Show every copy of a story, not one row per story.")] = False,
    sort: Annotated[SortOrder, typer.Option(help="Newest published first, newest first seen first, or best match first.")]
        = SortOrder.published,
    limit: Annotated[int | None, typer.Option(
        min=0, max=MAX_STORE_INT, help="At most this many articles.", show_default=False)] = None,
    offset: Annotated[int, typer.Option(
        min=0, max=MAX_STORE_INT, help="Skip this many articles first (paging).")] = 0,
) -> None:
    """Template whose parameters with_search_filters adds to a command."""


FILTER_PARAMETERS = inspect.signature(_filter_options, eval_str=True).parameters


@dataclass(frozen=True)
class SearchRequest:
    """The shared options of one command line, validated."""

    query: SearchQuery
    tz: tzinfo
    new: bool = False
    name: str | None = None
    since_run: int | None = None
    limit_given: bool = False


def _zone(name: str) -> tzinfo:
    from storage.queries import time_zone

    try:
        return time_zone(name)
    except ValueError as exc:
        fail(f"--tz {exc}", EXIT_USAGE)


def _request(text, event, year, edition, role, source, lang, since, until, date_field, tz, new, name,
             since_run, all_copies, sort, limit, offset) -> SearchRequest:
    from storage.queries import BadSearchOption, query_from_options

    zone = _zone(tz)
    if new and since_run is not None:
        fail("--new and --since-run both say where to start: give one of them", EXIT_USAGE)
    if name is not None and not new:
        fail("--name names a --new query: add --new", EXIT_USAGE)
    try:
        query = query_from_options(
            text=text, events=event or (), years=year or (), editions=edition or (),
            roles=(role.value,) if role else (), sources=source or (), languages=lang or (),
            since=since, until=until, date_field=date_field.name, tz=zone, all_copies=all_copies,
            sort=sort.name, limit=limit, offset=offset)
    except BadSearchOption as exc:
        fail(exc.message if exc.option == "text" else f"--{exc.option.replace('_', '-')}: {exc.message}", EXIT_USAGE)
    return SearchRequest(query, zone, new, name, since_run, limit_given=limit is not None)


def with_search_filters(command: Callable) -> Callable:
    """Give command the shared query and filter options, passed to it as `request`."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "request"]
    parameters = [*FILTER_PARAMETERS.values(), *own]

    @functools.wraps(command)
    def run(**options):
        request = _request(**{name: options.pop(name) for name in FILTER_PARAMETERS})
        return command(request=request, **options)

    del run.__wrapped__  # Typer must see the combined signature, not the command's own
    run.__signature__ = inspect.Signature(parameters)
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    return run


def known_events(session: Session) -> list[str]:
    """Event slugs a filter may name: the taxonomy's (with EXPOWATCH_EVENTS) and any the store's tags use."""
    from crawler.events import EventsFileError, load_taxonomy
    from storage.events import stored_event_slugs

    try:
        taxonomy = [event.slug for event in load_taxonomy()]
    except (EventsFileError, OSError) as exc:
        fail(str(exc))
    return list(dict.fromkeys([*taxonomy, *stored_event_slugs(session)]))


@contextmanager
def run_query(db: str | None, request: SearchRequest, *, default_limit: int | None) -> Iterator[tuple[Session, SearchQuery]]:
    """A read-only session and the query to run, with --new / --since-run resolved.

    default_limit applies when --limit was not given (a --new query is never cut
    short: what it does not show would be marked as seen). After the caller has used
    the query without error, a --new run is remembered in saved_queries.
    """
    from sqlalchemy.exc import DatabaseError

    from storage.engine import session_factory
    from storage.queries import last_run_at, mark_run, run_started_at, saved_query_name, unknown_sources

    url = open_store(db, must_exist=True)
    started = datetime.now(timezone.utc)
    query = request.query
    if not request.limit_given and not request.new:
        query = replace(query, limit=default_limit)
    name = request.name or saved_query_name(query)
    with session_factory(url, for_writing=False)() as session:
        unknown = unknown_sources(session, query.sources)
        if unknown:
            from storage.queries import source_names

            fail(f"--source {unknown[0]!r}: no such source in the store "
                 f"(known: {', '.join(source_names(session)) or 'none yet'})")
        unknown_events = [e for e in query.events if e not in known_events(session)]
        if unknown_events:
            fail(f"--event {unknown_events[0]!r}: no such event (known: {', '.join(known_events(session))}; "
                 "`expowatch events list` shows them)")
        if request.since_run is not None:
            try:
                query = replace(query, first_seen_since=run_started_at(session, request.since_run))
            except LookupError as exc:
                fail(f"--since-run: {exc}")
        if request.new:
            query = replace(query, first_seen_since=last_run_at(session, name))
        try:
            yield session, query
        except DatabaseError as exc:  # a locked, unreachable or damaged store
            from storage.runs import STORE_ERROR_HINT

            fail(f"reading the store failed: {exc.orig}; {STORE_ERROR_HINT}")
    if request.new:
        with session_factory(url)() as session, session.begin():
            mark_run(session, name, started)
