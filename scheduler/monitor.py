"""Health of the declared sources: the query layer around the pure judgement in scheduler/health.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable

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
    now = now or datetime.now(timezone.utc)
    sources = list(sources)
    with session_factory(db_url, for_writing=False)() as session:
        history = runs_by_source(session, [s.name for s in sources], since=now - timedelta(days=history_days))
    report = []
    for source in sources:
        report.append(assess_source(source.name, history[source.name], now, interval=schedule_interval(source, now),
                                    enabled=source.enabled, policy=policy))
    return report


def schedule_interval(source: Source, now: datetime) -> timedelta | None:
    """How often source's schedule runs it around now (None for an unusable schedule: that is
    the scheduler's error to report, not health's)."""
    try:
        return interval_of(parse_schedule(source.schedule, source.timezone), now)
    except ValueError:
        return None
