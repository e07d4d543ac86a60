"""`expowatch extract`: what the extractor makes of one page; nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from crawler.cli.app import SourcesFileOption, app, fail
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


@app.command()
def extract(
    target: Annotated[str, typer.Argument(help="An HTML file or an http(s) URL.")],
    url: Annotated[str | None, typer.Option("--url", help="The page's URL, when TARGET is a file.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Use this source's hints (time zone, selectors).")] = None,
    charset: Annotated[str | None, typer.Option("--charset", help="The charset an HTTP header would have claimed.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    allow_private_addresses: Annotated[bool, typer.Option(
        "--allow-private-addresses", help="Fetch from loopback and private addresses too (as a source may).")] = False,
    sources_file: SourcesFileOption = None,
) -> None:
    """Extract one page (title, text, dates, language) and print it; stores nothing."""
    from crawler.extract.extraction import ExtractionHints, extract_article
    from crawler.hints import hints_for

    body, http_charset, found_url = read_page(target, allow_private=allow_private_addresses)
    hints = ExtractionHints()
    if source:
        registry = load_registry(sources_file)
        if source not in registry:
            fail(f"unknown source {source!r}")
        hints = hints_for(registry[source])
    doc = extract_article(body, url or found_url, http_charset=charset or http_charset, hints=hints)
    data = doc.to_json_dict()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{data['title']}\n{data['published_at'] or 'no date'} · {data['language'] or '?'} · {data['url']}\n")
        typer.echo(data["text"])
    if doc.skip_reason:
        raise typer.Exit(1)
