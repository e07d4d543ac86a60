"""`expowatch sources ...`: the source registry."""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from typing import Annotated

import typer

from crawler.cli.app import SourcesFileOption, app, fail

sources_app = typer.Typer(help="Sources: list the registry.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


class ListFormat(str, Enum):
    table = "table"
    json = "json"


def load_registry(sources_file: str | None):
    """Built-in plus user sources, or one clear error line and exit 1."""
    from spiders.sources import SourceError, load_sources

    try:
        return load_sources(sources_file)
    except SourceError as exc:
        fail(str(exc))


@sources_app.command("list")
def list_sources(
    sources_file: SourcesFileOption = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """List every known source (built-in and from the sources file)."""
    registry = load_registry(sources_file)
    if fmt is ListFormat.json:
        typer.echo(json.dumps([dataclasses.asdict(s) for s in registry.values()], indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "enabled", "lang", "schedule", "discovery", "homepage")
    for s in registry.values():
        discovery = f"{len(s.feeds)} feed, {len(s.sitemaps)} sitemap, {len(s.list_pages)} list"
        table.add_row(s.name, "yes" if s.enabled else "no", s.language or "", s.schedule, discovery, s.homepage or "")
    Console().print(table)
