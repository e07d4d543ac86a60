"""`expowatch schedule`: the scheduler service (foreground), or one pass for system cron."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from crawler.alerts.rules import alerts_path
from crawler.cli.alerts import AlertsFileOption, alert_service
from crawler.cli.app import DbOption, SourcesFileOption, app, fail, open_store, redact
from crawler.cli.sources import load_registry

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def parse_overrides(values: list[str] | None) -> dict[str, str]:
    """NAME=CRON pairs from --schedule-override."""
    overrides: dict[str, str] = {}
    for value in values or []:
        name, sep, cron = value.partition("=")
        if not sep or not name.strip() or not cron.strip():
            fail(f"--schedule-override {value!r}: expected NAME=CRON, e.g. wic-tianjin='*/10 * * * *'")
        overrides[name.strip()] = cron.strip()
    return overrides


# APScheduler messages the service reports itself, in its own words (see SchedulerService._on_job_event).
REPORTED_BY_THE_SERVICE = ('Execution of job "%s" skipped', 'Run time of job "%s" was missed', 'Job "%s" raised')


class _ReportedElsewhere(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(REPORTED_BY_THE_SERVICE)


def configure_logging(verbose: bool, *, once: bool) -> None:
    """Log lines on stderr: the service logs every crawl; a pass (--once) only problems unless it
    runs on a terminal or with --verbose, so cron mails only what needs reading. APScheduler's own
    warnings and errors always, its chatter only with --verbose."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if once and not verbose and not sys.stderr.isatty() else logging.INFO)
    aps = logging.getLogger("apscheduler")
    aps.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        handler.addFilter(_ReportedElsewhere())


@app.command()
def schedule(
    once: Annotated[bool, typer.Option("--once", help="Crawl every due source once and exit (for system cron).")] = False,
    sources_file: SourcesFileOption = None,
    db: DbOption = None,
    max_concurrent: Annotated[int | None, typer.Option(
        "--max-concurrent", min=1, envvar="EXPOWATCH_MAX_CONCURRENT",
        help="Crawls running at once, across all sources (default: 32 in the engine, 2 with --process-per-crawl).")] = None,
    max_requests: Annotated[int | None, typer.Option(
        "--max-requests", min=1, envvar="EXPOWATCH_ENGINE_MAX_REQUESTS",
        help="Requests in flight at once across all crawls of the engine (default: 64).")] = None,
    recycle_after: Annotated[int, typer.Option(
        "--recycle-after", min=1, help="Crawls an engine runs before a fresh engine takes over.")] = 1000,
    engine_rss_limit: Annotated[float, typer.Option(
        "--engine-rss-limit", min=1, metavar="MB",
        help="An engine whose resident memory passes this many MB is replaced between crawls.")] = 1024,
    process_per_crawl: Annotated[bool, typer.Option(
        "--process-per-crawl", help="Run each crawl as an `expowatch crawl` process of its own instead of in "
                                    "the warm crawl engine (slower start, full isolation).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds one crawl may take before it is ended.")] = 3600,
    grace: Annotated[float, typer.Option("--grace", min=0, help="Seconds running crawls get to finish after SIGTERM / SIGINT.")] = 60,
    misfire_grace: Annotated[int, typer.Option("--misfire-grace", min=1,
                                               help="A run missed while the service was down is caught up (once) "
                                                    "if it is at most this many seconds late.")] = 24 * 3600,
    kill_grace: Annotated[float, typer.Option("--kill-grace", min=0, hidden=True,
                                              help="Seconds between SIGTERM and SIGKILL when ending a crawl.")] = 10,
    schedule_override: Annotated[list[str] | None, typer.Option(
        "--schedule-override", metavar="NAME=CRON",
        help="Run a source on this schedule instead of its declared one (5 fields, or 6 with seconds first).")] = None,
    redis: Annotated[str | None, typer.Option(
        "--redis", envvar="EXPOWATCH_REDIS_URL", show_envvar=True,
        help="Distributed mode: queue each due source in this Redis for `expowatch worker`s instead of "
             "crawling it here (see docs/scaling.md).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                          help="Log every crawl of a pass even in cron, and APScheduler's own messages.")] = False,
    alerts_file: AlertsFileOption = None,
) -> None:
    """Run every enabled source on its cron schedule, crawled in a warm, supervised crawl engine.

    Stops cleanly on SIGTERM / SIGINT. A second scheduler on the same store refuses to
    start. With --once: crawl the sources that are due, then exit (1 if a crawl failed).
    """
    from sqlalchemy.exc import OperationalError

    from scheduler.lock import SchedulerLockError
    from scheduler.runner import RunnerConfig
    from scheduler.service import ScheduleError, SchedulerService, ServiceConfig
    from scheduler.supervisor import DEFAULT_CRAWLS_AT_ONCE, EngineSettings

    registry = load_registry(sources_file)
    url = open_store(db)
    if max_concurrent is None:
        max_concurrent = 2 if process_per_crawl else DEFAULT_CRAWLS_AT_ONCE
    engine = None if process_per_crawl else EngineSettings(
        recycle_after=recycle_after, rss_limit_mb=engine_rss_limit, max_requests=max_requests,
    )
    config = ServiceConfig(
        runner=RunnerConfig(db_url=url, sources_file=sources_file, timeout=timeout,
                            kill_grace=kill_grace, max_concurrent=max_concurrent),
        engine=engine,
        misfire_grace=misfire_grace, shutdown_grace=grace,
        schedule_overrides=parse_overrides(schedule_override),
        redis_url=redis,
        alerts=alert_service(url, alerts_file, sources_file) if alerts_path(alerts_file) else None,
    )
    if config.alerts is not None:
        config.alerts.register()  # a new rule starts from now: before this pass's crawls store anything
    try:
        service = SchedulerService(config, registry)
    except ScheduleError as exc:
        fail(str(exc))
    if not service.plan:
        fail("no enabled sources to schedule: declare some in a sources file (--sources-file)")
    configure_logging(verbose, once=once)
    try:
        if not once:
            service.serve()
            return
        outcomes = service.run_once()
    except SchedulerLockError as exc:
        fail(str(exc))
    except OperationalError as exc:
        fail(f"the store {redact(url)} failed: {exc.orig}")
    failed = [o for o in outcomes if o.status in ("failed", "timeout")]
    for outcome in failed:
        print(f"expowatch: error: source {outcome.source}: {outcome.status}: {outcome.summary}", file=sys.stderr)
    cut_short = [o.source for o in outcomes if not o.completed]
    if service.stop_requested:
        print(f"expowatch: error: interrupted; due again at the next pass: {', '.join(cut_short) or 'none'}",
              file=sys.stderr)
    if failed or service.stop_requested:
        raise typer.Exit(1)
