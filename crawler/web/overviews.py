"""What the events and sources pages show, read from the store (plain data for pages and API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.web.charts import Bar, bar_chart
from scheduler.health import HealthPolicy, SourceHealth, assess_source
from scheduler.monitor import HISTORY_DAYS, schedule_interval
from storage.runs import RunRecord, runs_by_source
from storage.events import event_counts
from storage.models import SourceRow
from storage.queries import ArticleHit, SearchQuery, search_and_count

RUNS_SHOWN = 10  # last runs listed per source
CHART_RUNS = 30  # runs drawn in a source's chart
FAILURES_SHOWN = 10  # failed URLs listed per source (from its last runs)
EDITION_ARTICLES = 20  # articles listed per edition on an event's page (the rest: its search link)


@dataclass(frozen=True)
class EditionRow:
    """One edition (or year) of an event, with its article counts."""

    year: int | None
    ordinal: int | None
    city: str | None
    primary: int
    mentioned: int
    known: bool  # in the taxonomy (else only seen in tags)


@dataclass(frozen=True)
class EventRow:
    slug: str
    name: str
    name_zh: str | None
    editions: list[EditionRow]
    primary: int
    mentioned: int


def events_overview(session: Session, taxonomy) -> list[EventRow]:
    """Every event of the taxonomy (and any other event tagged in the store) with its editions and counts."""
    counts = event_counts(session)
    rows = []
    slugs = [e.slug for e in taxonomy] + sorted({s for s, _ in counts} - {e.slug for e in taxonomy})
    for slug in slugs:
        event = taxonomy.get(slug) if slug in taxonomy else None
        per_year = {year: c for (s, year), c in counts.items() if s == slug}
        editions = {}
        for edition in (event.editions if event else ()):
            c = per_year.get(edition.year, {})
            editions[edition.year] = EditionRow(edition.year, edition.ordinal, edition.city, c.get("primary", 0),
                                                c.get("mentioned", 0), True)
        for year, c in per_year.items():
            if year not in editions:
                editions[year] = EditionRow(year, None, None, c["primary"], c["mentioned"], False)
        ordered = sorted(editions.values(), key=lambda e: (e.year is None, e.year or 0))
        rows.append(EventRow(slug, (event.name_en or event.name_zh) if event else slug, event.name_zh if event else None,
                             ordered, sum(e.primary for e in ordered), sum(e.mentioned for e in ordered)))
    return rows


@dataclass(frozen=True)
class EditionArticles:
    edition: EditionRow
    articles: list[ArticleHit]
    total: int


def event_articles(session: Session, row: EventRow, *, per_edition: int = EDITION_ARTICLES) -> list[EditionArticles]:
    """An event's articles (primary and mentioning), grouped by edition year, newest edition first."""
    groups = []
    for edition in reversed([e for e in row.editions if e.year is not None and e.primary + e.mentioned]):
        query = SearchQuery(events=(row.slug,), years=(edition.year,), limit=per_edition)
        groups.append(EditionArticles(edition, *search_and_count(session, query)))
    return groups


@dataclass(frozen=True)
class SourceOverview:
    """A source's health (as `expowatch health` judges it), last runs, failures and chart."""

    name: str
    declared: bool
    health: SourceHealth
    runs: list[RunRecord]
    failures: list[dict[str, Any]]
    chart: dict = field(default_factory=dict)


def _failures(runs: list[RunRecord]) -> list[dict[str, Any]]:
    found = []
    for run in runs:
        for error in run.errors:
            found.append({"run": run.id, "at": run.started_at, "url": error.get("url"), "reason": error.get("reason")})
        if run.failed and not run.errors:
            found.append({"run": run.id, "at": run.started_at, "url": None, "reason": run.message or run.status})
    return found[:FAILURES_SHOWN]


def sources_overview(session: Session, registry: Mapping, *, now: datetime | None = None,
                     policy: HealthPolicy = HealthPolicy()) -> list[SourceOverview]:
    """Every source in the store or enabled in the registry, judged by the health rules."""
    now = now or datetime.now(timezone.utc)
    stored = list(session.execute(select(SourceRow.name).order_by(SourceRow.name)).scalars())
    names = list(dict.fromkeys([*stored, *sorted(n for n, s in registry.items() if s.enabled)]))
    history = runs_by_source(session, names, since=now - timedelta(days=HISTORY_DAYS))
    overview = []
    for name in names:
        declared = registry.get(name)
        interval = schedule_interval(declared, now) if declared is not None else None
        health = assess_source(name, history[name], now, interval=interval,
                               enabled=declared.enabled if declared is not None else True, policy=policy)
        last = list(reversed(history[name]))
        chart_runs = list(reversed(last[:CHART_RUNS]))
        chart = bar_chart([Bar(f"run {r.id} {r.started_at:%Y-%m-%d %H:%M} UTC: {r.status}, {r.articles_new} new",
                               r.articles_new, r.failed) for r in chart_runs],
                          title=f"new articles per run, last {len(chart_runs)} runs of {name}", slots=CHART_RUNS)
        overview.append(SourceOverview(name, declared is not None, health, last[:RUNS_SHOWN], _failures(last[:RUNS_SHOWN]),
                                       chart))
    overview.sort(key=lambda s: ({"unhealthy": 0, "warning": 1}.get(s.health.status, 2), s.name))
    return overview

