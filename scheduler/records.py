"""Run records as plain data, and the thin query layer over the crawl_runs table.

`expowatch runs` lists them; health (scheduler/health.py) judges them; the service
opens a row before it starts a crawl and closes it when it had to end the crawl.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import CrawlRun, SourceRow
from storage.store import INTERRUPTED as STORE_INTERRUPTED
from storage.store import counts_from_store, this_host, utcnow

FAILED_STATUSES = ("failed", "timeout", "interrupted")  # the crawl did not do its job
COMPLETED_STATUSES = ("ok", "partial")  # the crawl ran and recorded what it found
RUNNING = "running"
# How a 'running' row whose crawl process is gone (killed, out of memory, the machine rebooted) is
# shown, until the next crawl of its source closes it as failed (storage.store.start_run).
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class RunRecord:
    """One crawl of one source, as recorded."""

    id: int
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | ok | partial | failed | timeout
    pages_fetched: int = 0
    articles_new: int = 0
    articles_duplicate: int = 0
    articles_skipped: int = 0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    message: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def article_pages(self) -> int:
        """Article pages this run fetched and judged (stored, duplicate or skipped)."""
        return self.articles_new + self.articles_duplicate + self.articles_skipped

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def process_gone(pid: int | None, host: str | None) -> bool:
    """True when a run's crawl process (pid on host) has ended; False when alive or not knowable here."""
    if pid is None or host != this_host():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:  # a killed child its parent has not reaped yet is a zombie: gone all the same
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _record(session: Session, run: CrawlRun, name: str, *, with_stats: bool) -> RunRecord:
    status, message = run.status, run.message
    counts = {"articles_new": run.articles_new or 0, "articles_duplicate": run.articles_duplicate or 0,
              "articles_skipped": run.articles_skipped or 0}
    if status == RUNNING and process_gone(run.pid, run.host):  # its counts: what the store holds from it
        status, message = INTERRUPTED, f"{STORE_INTERRUPTED} (pid {run.pid} on {run.host} is gone)"
        counts = counts_from_store(session, run.source_id, run.started_at)
    return RunRecord(
        id=run.id, source=name, started_at=run.started_at, finished_at=run.finished_at,
        status=status, pages_fetched=run.pages_fetched or 0, **counts,
        skip_reasons=dict(run.skip_reasons or {}), errors=list(run.errors or []), message=message,
        stats=dict(run.stats or {}) if with_stats else {},
    )


def list_runs(session: Session, *, sources: Iterable[str] | None = None, failed_only: bool = False,
              since: datetime | None = None, limit: int | None = None,
              with_stats: bool = False) -> list[RunRecord]:
    """Runs, newest first, optionally of some sources, only failed ones, since a time, at most limit."""
    query = select(CrawlRun, SourceRow.name).join(SourceRow, CrawlRun.source_id == SourceRow.id)
    if sources is not None:
        query = query.where(SourceRow.name.in_(list(sources)))
    if failed_only:
        query = query.where(CrawlRun.status.in_(FAILED_STATUSES))
    if since is not None:
        query = query.where(CrawlRun.started_at >= since)
    query = query.order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_record(session, run, name, with_stats=with_stats) for run, name in session.execute(query).all()]


def runs_by_source(session: Session, names: Iterable[str], *, since: datetime | None = None) -> dict[str, list[RunRecord]]:
    """Every run of each named source, oldest first (what health judges)."""
    grouped: dict[str, list[RunRecord]] = {name: [] for name in names}
    for run in reversed(list_runs(session, sources=list(grouped), since=since)):
        grouped[run.source].append(run)
    return grouped


def get_run(session: Session, run_id: int) -> RunRecord | None:
    """One run by id, with its stats."""
    row = session.execute(
        select(CrawlRun, SourceRow.name).join(SourceRow, CrawlRun.source_id == SourceRow.id)
        .where(CrawlRun.id == run_id)
    ).first()
    return _record(session, row[0], row[1], with_stats=True) if row else None


def end_run(session: Session, run_id: int, status: str, message: str, *, only_if_running: bool = False) -> bool:
    """Set a run's final status and message (the service: timeouts, crashes, shutdowns).

    Counts and errors the crawl recorded are kept; finished_at is set if the crawl
    never got to set it. With only_if_running, a run the crawl already closed is left
    alone. Returns whether the row changed.
    """
    query = update(CrawlRun).where(CrawlRun.id == run_id)
    if only_if_running:
        query = query.where(CrawlRun.status == RUNNING)
    changed = session.execute(query.values(status=status, message=message)).rowcount
    session.execute(update(CrawlRun).where(CrawlRun.id == run_id, CrawlRun.finished_at.is_(None))
                    .values(finished_at=utcnow()))
    return bool(changed)
