"""Running crawls in this process: one Scrapy CrawlerProcess for the chosen sources.

The Twisted reactor cannot restart, so one process runs one crawl (of one or more
sources at once); the scheduler starts each crawl as a subprocess.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from storage.engine import session_factory
from storage.runs import RunRecord, newest_runs
from storage.store import utcnow

RunSummary = RunRecord  # the recorded outcome of one source's crawl (one type for runs: storage/runs.py)


def crawl_settings(*, db_url: str, sources_file: str | None = None, events_file: str | None = None,
                   backfill: bool = False, log_level: str = "WARNING",
                   overrides: dict[str, Any] | None = None) -> Settings:
    """Project settings with the store, sources file and run options filled in.

    ValueError when an override would disable a safety mechanism (crawler.safety.unsafe_settings).
    """
    from crawler.safety import check_safety_settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.set("EXPOWATCH_DB_URL", db_url, priority="cmdline")
    settings.set("EXPOWATCH_SOURCES_FILE", sources_file, priority="cmdline")
    settings.set("EXPOWATCH_EVENTS_FILE", events_file, priority="cmdline")
    settings.set("EXPOWATCH_BACKFILL", backfill, priority="cmdline")
    settings.set("LOG_LEVEL", log_level, priority="cmdline")
    settings.set("EXPOWATCH_TRACEBACKS", log_level in ("DEBUG", "INFO"), priority="cmdline")
    for key, value in (overrides or {}).items():
        settings.set(key, value, priority="cmdline")
    check_safety_settings(settings)
    return settings


class OneLineRecords(logging.Filter):
    """Log records without their tracebacks: the run summary names URL and reason already."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def run_crawl(names: list[str], settings: Settings) -> list[RunSummary]:
    """Crawl the named sources at once, then read back what each run recorded."""
    started = utcnow()
    process = CrawlerProcess(settings)
    for name in names:
        process.crawl(name)
    if not settings.getbool("EXPOWATCH_TRACEBACKS"):
        for handler in logging.getLogger().handlers:  # installed by the crawlers just created
            handler.addFilter(OneLineRecords())
    process.start()
    return recorded_runs(settings.get("EXPOWATCH_DB_URL"), names, since=started)


def recorded_runs(db_url: str, names: list[str], *, since) -> list[RunSummary]:
    """The newest run of each named source started at or after `since`."""
    with session_factory(db_url)() as session:
        newest = newest_runs(session, names, since=since)
    return [newest.get(name) or RunRecord(id=0, source=name, started_at=since, finished_at=None, status="failed",
                                          message="the crawl ended without recording a run")
            for name in names]
