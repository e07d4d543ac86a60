"""Crawl runs in one place: the verdict on a crawl, its crawl_runs row, and reading runs back.

A crawl's recorder (crawler/runrecord.py) opens a row when the spider opens and closes
it with judge_run's verdict; the scheduler opens a row before it starts a crawl and
closes it when it had to end the crawl; a distributed worker closes the runs of a dead
worker. `expowatch runs` lists them, health (scheduler/health.py) judges them, a spider
asks whether its source's last crawl ended ok. Functions take a Session; the caller owns
the transaction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Row, Select, and_, insert, select, update
from sqlalchemy.orm import Session

from storage.models import CrawlRun, SourceRow
from storage.store import counts_from_store, this_host, utcnow

FAILED_STATUSES = ("failed", "timeout", "interrupted")  # the crawl did not do its job
COMPLETED_STATUSES = ("ok", "partial")  # the crawl ran and recorded what it found
RUNNING = "running"
INTERRUPTED = "interrupted: the crawl process ended before recording its result"
# How a 'running' row whose crawl process is gone (killed, out of memory, the machine rebooted) is
# shown, until the next crawl of its source closes it as failed (start_run).
INTERRUPTED_STATUS = "interrupted"


STORE_ERROR_HINT = ("check it with `sqlite3 FILE 'PRAGMA integrity_check'` (PostgreSQL: its server log) "
                    "and restore it from a backup if it is damaged")


# The scheduler opens the crawl_runs row itself before it starts `expowatch crawl SOURCE` and
# hands its id over in this environment variable (or the setting of the same name), so that it
# can still close the row when it has to end or kill the crawl.
RUN_ID_ENV = "EXPOWATCH_RUN_ID"
# ... and, in an engine, the source it opened that row for: the recorder then trusts the handed-over
# row without reading it when the spider opens, and writes started_at, pid and host with the result.
RUN_SOURCE_SETTING = "EXPOWATCH_RUN_SOURCE"
# ... and whether that source's previous crawl did not end ok (read when the row was opened), so that
# the spider need not read it (spiders.generic pages to the end of its lists to resume such a crawl).
RESUME_SETTING = "EXPOWATCH_RESUME"
# ... and its own pid in this one: a crawl whose scheduler died (SIGKILL, OOM) stops itself
# cleanly instead of running on unsupervised, past its timeout, beside the next crawl of its source.
SCHEDULER_PID_ENV = "EXPOWATCH_SCHEDULER_PID"


def is_store_error(error: BaseException) -> bool:
    """True for an error of the store itself (a malformed SQLite file, a lost database connection)."""
    import sqlite3

    from sqlalchemy.exc import DatabaseError

    return isinstance(error, (DatabaseError, sqlite3.DatabaseError))


def store_error_message(error: BaseException) -> str:
    """One line for a store error: what the database said (the run's message adds what to do about it)."""
    reason = getattr(error, "orig", None) or error
    first = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
    return f"store error: {first}"


def judge_run(*, close_reason: str, discovery_ok: int, discovery_failed: int,
              articles_done: int, article_errors: int, store_error: str | None = None) -> tuple[str, str | None]:
    """Status (ok / partial / failed) and a one-line message for a finished crawl."""
    if store_error:
        return "failed", f"{store_error}; {STORE_ERROR_HINT}"
    if discovery_ok == 0 and discovery_failed > 0:
        return "failed", "source unreachable: no feed, sitemap or list page could be fetched"
    if article_errors > 0 and articles_done == 0:
        return "failed", "every article request failed"
    if close_reason != "finished":
        return "partial", f"crawl stopped early ({close_reason})"
    return "ok", None


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


def _record(session: Session, run: CrawlRun | Row, name: str, *, with_stats: bool) -> RunRecord:
    status, message = run.status, run.message
    counts = {"articles_new": run.articles_new or 0, "articles_duplicate": run.articles_duplicate or 0,
              "articles_skipped": run.articles_skipped or 0}
    if status == RUNNING and process_gone(run.pid, run.host):  # its counts: what the store holds from it
        status, message = INTERRUPTED_STATUS, f"{INTERRUPTED} (pid {run.pid} on {run.host} is gone)"
        counts = counts_from_store(session, run.source_id, run.started_at)
    return RunRecord(
        id=run.id, source=name, started_at=run.started_at, finished_at=run.finished_at,
        status=status, pages_fetched=run.pages_fetched or 0, **counts,
        skip_reasons=dict(run.skip_reasons or {}), errors=list(run.errors or []), message=message,
        stats=dict(run.stats or {}) if with_stats else {},
    )


def _with_source(*columns) -> Select:
    """crawl_runs rows with their source's name: the one join every reader of runs uses."""
    return select(*columns).join(SourceRow, CrawlRun.source_id == SourceRow.id)


def list_runs(session: Session, *, sources: Iterable[str] | None = None, failed_only: bool = False,
              since: datetime | None = None, limit: int | None = None,
              with_stats: bool = False) -> list[RunRecord]:
    """Runs, newest first, optionally of some sources, only failed ones, since a time, at most limit."""
    query = _with_source(CrawlRun, SourceRow.name)
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
    # The table's row, not an ORM object: read once per crawl by the scheduler; _record reads the same names.
    row = session.execute(_with_source(CrawlRun.__table__, SourceRow.name).where(CrawlRun.id == run_id)).first()
    return _record(session, row, row.name, with_stats=True) if row else None


def start_run(session: Session, source_id: int) -> int:
    """Open a crawl_runs row for this process; runs of this source left 'running' by a killed process
    become failed, with the counts of what the store holds from them."""
    now = utcnow()
    left_running = session.execute(select(CrawlRun.id, CrawlRun.started_at)
                                   .where(CrawlRun.source_id == source_id, CrawlRun.status == RUNNING)).all()
    for run_id, started_at in left_running:
        counts = counts_from_store(session, source_id, started_at, now)
        session.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(
            status="failed", finished_at=now, message=INTERRUPTED, **counts))
    # A Core insert: the scheduler opens one row per crawl, and the ORM's unit of work costs more than the row.
    opened = session.execute(insert(CrawlRun).values(source_id=source_id, started_at=now, status=RUNNING,
                                                     skip_reasons={}, errors=[], stats={}, pid=os.getpid(),
                                                     host=this_host()))
    return opened.inserted_primary_key[0]


def finish_run(session: Session, run_id: int, **fields: Any) -> None:
    """Close a crawl_runs row with its status, counts, errors and stats."""
    # On the table, not the ORM class: an ORM-enabled update costs more than the row (one per crawl).
    runs = CrawlRun.__table__
    session.execute(update(runs).where(runs.c.id == run_id).values(finished_at=utcnow(), **fields))


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


def fail_running_runs(session: Session, run_ids: Iterable[int], message: str) -> None:
    """Close as failed those of these runs still running (a distributed worker reaping a dead one's runs)."""
    session.execute(update(CrawlRun).where(and_(CrawlRun.id.in_(list(run_ids)), CrawlRun.status == RUNNING))
                    .values(status="failed", finished_at=utcnow(), message=message))


def newest_runs(session: Session, names: Iterable[str], *, since: datetime) -> dict[str, RunRecord]:
    """The newest run of each named source started at or after `since` (sources without one left out)."""
    rows = session.execute(_with_source(CrawlRun, SourceRow.name)
                           .where(SourceRow.name.in_(list(names)), CrawlRun.started_at >= since).order_by(CrawlRun.id))
    return {name: _record(session, run, name, with_stats=False) for run, name in rows}


def previous_run_unfinished(session: Session, source: str, *, exclude_run_id: int | None = None) -> bool:
    """True when the source's last crawl did not end ok: killed (still 'running'), cut short or failed.

    A crawl after such a run pages to the end of its list pages, so articles the
    interrupted run never reached are found even though the first pages look known.
    """
    stmt = _with_source(CrawlRun.status).where(SourceRow.name == source)
    if exclude_run_id is not None:
        stmt = stmt.where(CrawlRun.id != exclude_run_id)
    status = session.scalar(stmt.order_by(CrawlRun.id.desc()).limit(1))
    return status is not None and status != "ok"
