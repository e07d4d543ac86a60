"""`expowatch runs` (crawl history) and `expowatch health` (is every source still working?)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from enum import Enum
from typing import Annotated

import typer

from crawler.cli.app import EXIT_FAILED, DbOption, SourcesFileOption, app, fail, open_store
from crawler.cli.sources import load_registry

STATUS_STYLES = {"ok": "green", "partial": "yellow", "running": "cyan", "failed": "red", "timeout": "red", "interrupted": "red",
                 "warning": "yellow", "unhealthy": "bold red", "new": "cyan"}
ERRORS_SHOWN = 5  # per run in the table; --format json has them all


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _styled(status: str) -> str:
    style = STATUS_STYLES.get(status)
    return f"[{style}]{status}[/]" if style else status


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")


@app.command()
def runs(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed and timed-out runs.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest runs shown.")] = 20,
    show_errors: Annotated[bool, typer.Option("--errors", help="List each run's first errors (URL: reason).")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """Crawl runs, newest first: status, counts, skip reasons, errors (times in UTC)."""
    from scheduler.records import list_runs
    from storage.engine import session_factory

    url = open_store(db)
    with session_factory(url, for_writing=False)() as session:
        records = list_runs(session, sources=source, failed_only=failed, limit=limit, with_stats=fmt is OutputFormat.json)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([asdict(r) for r in records], default=_json_default, ensure_ascii=False, indent=2))
        return
    if not records:
        typer.echo("no runs recorded" + (" for " + ", ".join(source) if source else "") + (" that failed" if failed else ""))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("run", "source", "started (UTC)", "secs", "status", "pages", "new", "dup", "skipped", "errors", "message")
    for r in records:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.skip_reasons.items()))
        secs = f"{r.duration_seconds:.0f}" if r.duration_seconds is not None else "-"
        table.add_row(str(r.id), r.source, _when(r.started_at), secs, _styled(r.status), str(r.pages_fetched),
                      str(r.articles_new), str(r.articles_duplicate),
                      f"{r.articles_skipped}" + (f" ({reasons})" if reasons else ""), str(len(r.errors)),
                      r.message or "")
    console = Console()
    console.print(table)
    if show_errors:
        for r in records:
            for error in r.errors[:ERRORS_SHOWN]:
                console.print(f"run {r.id} {r.source}: {error.get('url')}: {error.get('reason')}", markup=False)
            if len(r.errors) > ERRORS_SHOWN:
                console.print(f"run {r.id} {r.source}: ... and {len(r.errors) - ERRORS_SHOWN} more (--format json)")


def _ratio(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "-"


def _per_run(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


@app.command()
def health(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.table,
    failures: Annotated[int, typer.Option("--failures", min=1,
                                          help="Failed runs in a row that make a source unhealthy.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only problems (nothing when all is well): "
                                                              "for cron, which mails any output.")] = False,
    sources_file: SourcesFileOption = None,
    db: DbOption = None,
) -> None:
    """Per enabled source: last success, failures in a row, new articles per run and extraction
    yield against its own history, and what is wrong.

    Exits 1 when any enabled source is unhealthy (failing, its pages stopped yielding
    articles, silent for longer than its usual gap, or not crawled for several schedule
    intervals), so cron and monitoring can alert on it.
    """
    from scheduler.health import HealthPolicy, any_unhealthy
    from scheduler.monitor import health_report

    registry = load_registry(sources_file)
    unknown = [n for n in source or [] if n not in registry]
    if unknown:
        fail(f"unknown source {unknown[0]!r} (see `expowatch sources list`)")
    chosen = [registry[n] for n in source] if source else [s for s in registry.values() if s.enabled]
    if not chosen:
        fail("no enabled sources: declare some in a sources file (--sources-file)")
    url = open_store(db)
    report = health_report(url, chosen, policy=HealthPolicy(failures_unhealthy=failures))
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([h.to_json() for h in report], ensure_ascii=False, indent=2))
    elif quiet:
        for h in report:
            for problem in h.problems:
                typer.echo(f"{h.source}: unhealthy: {problem}")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("source", "health", "runs", "last run (UTC)", "last success (UTC)", "fails",
                      "new/run recent", "usual", "yield recent", "usual")
        for h in report:
            table.add_row(h.source, _styled(h.status), str(h.runs), _when(h.last_run_at), _when(h.last_success_at),
                          str(h.consecutive_failures), _per_run(h.new_per_run_recent), _per_run(h.new_per_run_usual),
                          _ratio(h.yield_recent), _ratio(h.yield_usual))
        console = Console()
        console.print(table)
        for h in report:
            for problem in h.problems:
                console.print(f"{h.source}: unhealthy: {problem}", markup=False)
            for warning in h.warnings:
                console.print(f"{h.source}: warning: {warning}", markup=False)
    if any_unhealthy(report):
        raise typer.Exit(EXIT_FAILED)
