"""`expowatch extract`: what the extractor makes of one page; nothing is stored."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from crawler.cli.app import SourcesFileOption, app, fail
from crawler.cli.events import EventsFileOption, load_events
from crawler.cli.sources import load_registry


def read_page(target: str, *, allow_private: bool = False) -> tuple[bytes, str | None, str]:
    """Bytes, HTTP charset and URL of a file path or an http(s) URL.

    A URL is fetched as a crawl fetches (crawler.guarded_fetch): through the SSRF guard on
    every redirect hop, and within the crawl's size, time and redirect caps.
    """
    if target.startswith(("http://", "https://")):
        from crawler.guarded_fetch import FetchFailed, fetch_page
        from crawler.safety import AddressRefused, AllowList

        try:
            fetched = fetch_page(target, allow_private=allow_private, allow=AllowList.from_settings(None))
        except (AddressRefused, FetchFailed, ValueError) as exc:
            fail(f"cannot fetch {target}: {exc}")
        return fetched.body, fetched.http_charset, fetched.url
    path = Path(target)
    try:
        return path.read_bytes(), None, path.resolve().as_uri()
    except OSError as exc:
        fail(f"cannot read {target}: {exc.strerror or exc}")


class ExtractFormat(str, Enum):
    text = "text"
    json = "json"


@app.command()
def extract(
    target: Annotated[str, typer.Argument(help="An HTML file or an http(s) URL.")],
    url: Annotated[str | None, typer.Option("--url", help="The page's URL, when TARGET is a file.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Use this source's hints (time zone, selectors) and event.")] = None,
    charset: Annotated[str | None, typer.Option("--charset", help="The charset an HTTP header would have claimed.")] = None,
    fmt: Annotated[ExtractFormat, typer.Option("--format", "-f", help="text for people, json for programs.")]
        = ExtractFormat.text,
    as_json: Annotated[bool, typer.Option("--json", hidden=True, help="The same as --format json.")] = False,
    allow_private_addresses: Annotated[bool, typer.Option(
        "--allow-private-addresses", help="Fetch from loopback and private addresses too (as a --source that allows them does).")] = False,
    sources_file: SourcesFileOption = None,
    events_file: EventsFileOption = None,
) -> None:
    """Extract one page and tag its events as a crawl would, and print it; stores nothing."""
    from crawler.events import EVENTS_ENV_VAR
    from crawler.extract.extraction import ExtractionHints
    from crawler.hints import hints_for
    from crawler.page_work import PageTask, process_page

    hints, source_event = ExtractionHints(), None
    load_events(events_file)  # a bad events file fails before the page is read
    if source:
        registry = load_registry(sources_file)
        if source not in registry:
            fail(f"unknown source {source!r} (known: {', '.join(registry) or 'none'}; --sources-file adds yours)")
        hints, source_event = hints_for(registry[source]), registry[source].event
        allow_private_addresses = allow_private_addresses or registry[source].allow_private_addresses
    body, http_charset, found_url = read_page(target, allow_private=allow_private_addresses)
    task = PageTask(body, url or found_url, http_charset=charset or http_charset, hints=hints,
                    source_event=source_event, events_file=events_file or os.environ.get(EVENTS_ENV_VAR) or None)
    try:
        page = process_page(task)
    except ValueError as exc:  # a source's bad hints (time zone, selector)
        fail(str(exc))
    data = {**page.article.to_json_dict(), "events": [t.to_dict() for t in page.tags]}
    if as_json or fmt is ExtractFormat.json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        from crawler.cli.sources import describe_tag

        typer.echo(f"{data['title']}\n{data['published_at'] or 'no date'} · {data['language'] or '?'} · {data['url']}")
        for tag in data["events"]:
            typer.echo(f"event: {describe_tag(tag)}")
        typer.echo("")
        typer.echo(data["text"])
    if page.article.skip_reason:
        raise typer.Exit(1)
