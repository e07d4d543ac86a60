"""Health of the declared sources: the query layer around the pure judgement in scheduler/health.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy.orm import Session

from scheduler.health import HealthPolicy, SourceHealth, assess_source
from scheduler.triggers import interval_of, parse_schedule
from spiders.sources import Source
from storage.engine import session_factory
from storage.runs import runs_by_source

# Runs older than this do not count: enough history for a source's rhythm (a few months),
# without reading years of rows on every check.
HISTORY_DAYS = 90


def health_report(db_url: str, sources: Iterable[Source], *, now: datetime | None = None,
                  policy: HealthPolicy = HealthPolicy(), history_days: int = HISTORY_DAYS) -> list[SourceHealth]:
    """Judge each source from its recorded runs (and its schedule, for the overdue check)."""
    with session_factory(db_url, for_writing=False)() as session:
        return judge_sources(session, sources, now=now, policy=policy, history_days=history_days)


def judge_sources(session: Session, sources: Iterable[Source], *, now: datetime | None = None,
                  policy: HealthPolicy = HealthPolicy(), history_days: int = HISTORY_DAYS) -> list[SourceHealth]:
    """health_report over a session the caller opened (the web view's read-only one)."""
    now = now or datetime.now(timezone.utc)
    sources = list(sources)
    history = runs_by_source(session, [s.name for s in sources], since=now - timedelta(days=history_days))
    report = []
    for source in sources:
        try:
            interval = interval_of(parse_schedule(source.schedule, source.timezone), now)
        except ValueError:
            interval = None  # an unusable schedule is the scheduler's error to report, not health's
        report.append(assess_source(source.name, history[source.name], now, interval=interval,
                                    enabled=source.enabled, policy=policy))
    return report
