"""`expowatch runs` (crawl history) and `expowatch health` (is every source still working?)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

import typer

from crawler.cli.app import EXIT_FAILED, MAX_STORE_INT, DbOption, SourcesFileOption, app, fail, open_store
from crawler.cli.output import Column, ListFormat, print_table, write_records
from crawler.cli.sources import load_registry

STATUS_STYLES = {"ok": "green", "partial": "yellow", "running": "cyan", "failed": "red", "timeout": "red", "interrupted": "red",
                 "warning": "yellow", "unhealthy": "bold red", "new": "cyan"}
ERRORS_SHOWN = 5  # per run in the table; --format json has them all


# The CSV columns of `runs --format csv`, in the order of RunRecord (stats: --format json).
RUN_COLUMNS = ["id", "source", "started_at", "finished_at", "duration_seconds", "status", "pages_fetched",
               "articles_new", "articles_duplicate", "articles_skipped", "skip_reasons", "errors", "message"]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@app.command()
def runs(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed and timed-out runs.")] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_STORE_INT, help="Newest runs shown.")] = 20,
    show_errors: Annotated[bool, typer.Option("--errors", help="List each run's first errors (URL: reason).")] = False,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="table for people (plain aligned text in a pipe); json, jsonl, csv for programs.")] = ListFormat.table,
    db: DbOption = None,
) -> None:
    """Crawl runs, newest first: status, counts, skip reasons, errors (times in UTC)."""
    from storage.runs import list_runs
    from storage.engine import session_factory

    url = open_store(db, must_exist=True)
    with session_factory(url, for_writing=False)() as session:
        records = list_runs(session, sources=source, failed_only=failed, limit=limit,
                            with_stats=fmt is not ListFormat.table)
    if fmt is not ListFormat.table:
        rows = [{**asdict(r), "duration_seconds": r.duration_seconds} for r in records]
        write_records(rows, fmt, RUN_COLUMNS)
        return
    if not records:
        typer.echo("no runs recorded" + (" for " + ", ".join(source) if source else "") + (" that failed" if failed else ""))
        return
    columns = [Column("run", justify="right"), Column("source"), Column("started (UTC)"),
               Column("secs", justify="right"), Column("status"), Column("pages", justify="right"),
               Column("new", justify="right"), Column("dup", justify="right"), Column("skipped"),
               Column("errors", justify="right"), Column("message", wrap=True)]
    rows = []
    for r in records:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.skip_reasons.items()))
        rows.append([str(r.id), r.source, _when(r.started_at), _seconds(r.duration_seconds), r.status,
                     str(r.pages_fetched), str(r.articles_new), str(r.articles_duplicate),
                     f"{r.articles_skipped}" + (f" ({reasons})" if reasons else ""), str(len(r.errors)),
                     r.message or ""])
    print_table(columns, rows, styles=[STATUS_STYLES.get(r.status, "") for r in records])
    if show_errors:
        for r in records:
            for error in r.errors[:ERRORS_SHOWN]:
                typer.echo(f"run {r.id} {r.source}: {error.get('url')}: {error.get('reason')}")
            if len(r.errors) > ERRORS_SHOWN:
                typer.echo(f"run {r.id} {r.source}: ... and {len(r.errors) - ERRORS_SHOWN} more (--format json)")


def _seconds(value: float | None) -> str:
    """A run's duration: tenths under ten seconds (a quick crawl is not "0"), whole seconds above."""
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _ratio(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "-"


def _per_run(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


@app.command()
def health(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f", help="table for people (plain aligned text in a pipe); json, jsonl, csv for programs.")] = ListFormat.table,
    failures: Annotated[int, typer.Option("--failures", min=1, max=MAX_STORE_INT,
                                          help="Failed runs in a row that make a source unhealthy.")] = 2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only problems (nothing when all is well): "
                                                              "for cron, which mails any output.")] = False,
    sources_file: SourcesFileOption = None,
    db: DbOption = None,
) -> None:
    """Is every enabled source still working? Exits 1 when one is failing or silent.

    Per enabled source: last success, failures in a row, new articles per run and
    extraction yield against its own history, and what is wrong.

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
    url = open_store(db, must_exist=True)
    report = health_report(url, chosen, policy=HealthPolicy(failures_unhealthy=failures))
    if fmt is not ListFormat.table:
        records = [h.to_json() for h in report]
        write_records(records, fmt, list(records[0]) if records else [])
    elif quiet:
        for h in report:
            for problem in h.problems:
                typer.echo(f"{h.source}: unhealthy: {problem}")
    else:
        columns = [Column("source"), Column("health"), Column("runs", justify="right"), Column("last run (UTC)"),
                   Column("last success (UTC)"), Column("fails", justify="right"),
                   Column("new/run recent", justify="right"), Column("usual", justify="right"),
                   Column("yield recent", justify="right"), Column("usual", justify="right")]
        print_table(columns, [[h.source, h.status, str(h.runs), _when(h.last_run_at), _when(h.last_success_at),
                               str(h.consecutive_failures), _per_run(h.new_per_run_recent),
                               _per_run(h.new_per_run_usual), _ratio(h.yield_recent), _ratio(h.yield_usual)]
                              for h in report],
                    styles=[STATUS_STYLES.get(h.status, "") for h in report])
        for h in report:
            for problem in h.problems:
                typer.echo(f"{h.source}: unhealthy: {problem}")
            for warning in h.warnings:
                typer.echo(f"{h.source}: warning: {warning}")
    if any_unhealthy(report):
        raise typer.Exit(EXIT_FAILED)
