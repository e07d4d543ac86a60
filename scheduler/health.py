"""Source health: a pure judgement over a source's run records (no store, no clock of its own).

A source is unhealthy when something is wrong that a crawl's own exit status does
not say loudly enough:

- it keeps failing (FAILURES_UNHEALTHY runs in a row, or more);
- its article pages stopped yielding articles (JS shells, consent walls, soft 404s)
  although they used to;
- it used to publish, its pages still answer, but nothing new has come for much
  longer than its usual gap between new articles;
- it has not been crawled for several times its schedule's interval (is the
  scheduler running?).

Every threshold is a field of HealthPolicy, with the reason for its default.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

from storage.runs import RUNNING, RunRecord

OK, WARNING, UNHEALTHY, NEW = "ok", "warning", "unhealthy", "new"
# Skip reasons a whole site produces when its pages change (client-side rendering, a consent
# or bot wall serving an empty page), unlike one odd page (a stub, a deleted story, a PDF).
SITE_CHANGE_REASONS = frozenset({"js_shell", "no_content"})


@dataclass(frozen=True)
class HealthPolicy:
    """Thresholds of the health rules."""

    # One failed run is often a blip (a site restarting, a deploy); two in a row is an outage.
    failures_unhealthy: int = 2
    # A source needs this many runs that found new articles before its publishing gap means anything.
    min_publishing_runs: int = 3
    # Silent when the time since the last new article exceeds this many median gaps between runs
    # that found new ones, and the longest such gap seen before (a source that once went quiet for
    # two weeks is not flagged after ten days).
    silence_factor: float = 3.0
    # Article pages judged before a yield is compared: one odd page must not turn a source red.
    yield_sample: int = 3
    # A source "used to yield articles" when at least this share of its article pages were articles.
    yield_usual_min: float = 0.5
    # Its pages "stopped yielding" when the recent share falls below this fraction of the usual one.
    yield_drop: float = 0.5
    # Overdue when the last crawl started this many schedule intervals ago (slack for slow crawls
    # and a restart or two, but a dead scheduler shows within a few periods).
    overdue_factor: float = 3.0
    # Runs counted as "recent" for the new-articles-per-run comparison.
    recent_runs: int = 5


@dataclass(frozen=True)
class SourceHealth:
    """What health found for one source."""

    source: str
    status: str  # ok | warning | unhealthy | new
    enabled: bool = True
    runs: int = 0
    last_run_at: datetime | None = None
    last_status: str | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    last_new_at: datetime | None = None
    usual_gap: timedelta | None = None
    new_per_run_recent: float | None = None
    new_per_run_usual: float | None = None
    yield_recent: float | None = None
    yield_usual: float | None = None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def unhealthy(self) -> bool:
        return self.status == UNHEALTHY

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO 8601, gaps in seconds)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
            elif isinstance(value, timedelta):
                out[key] = value.total_seconds()
            elif isinstance(value, tuple):
                out[key] = list(value)
        return out


@dataclass
class _Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def human_duration(delta: timedelta) -> str:
    """A short duration: 45 s, 12 min, 5.5 h, 3.2 d."""
    seconds = delta.total_seconds()
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _mean(values: Sequence[int]) -> float | None:
    return sum(values) / len(values) if values else None


def _consecutive_failures(done: Sequence[RunRecord], policy: HealthPolicy, found: _Findings) -> int:
    streak = 0
    for run in reversed(done):
        if not run.failed:
            break
        streak += 1
    if streak:
        last = done[-1]
        since = done[-streak].started_at
        detail = f"{last.status}: {last.message or 'no message'}"
        if streak >= policy.failures_unhealthy:
            found.problems.append(f"{streak} failed run{'s' if streak > 1 else ''} in a row since {since:%Y-%m-%d %H:%M} UTC (last {detail})")
        else:
            found.warnings.append(f"last run {detail}")
    return streak


def _share(runs: Sequence[RunRecord]) -> tuple[float | None, int]:
    """Share of the runs' article pages that were articles, and how many pages that is."""
    pages = sum(r.article_pages for r in runs)
    extracted = sum(r.articles_new + r.articles_duplicate for r in runs)
    return (extracted / pages if pages else None), pages


def _reasons(runs: Sequence[RunRecord]) -> Counter:
    reasons: Counter = Counter()
    for run in runs:
        reasons.update(run.skip_reasons)
    return reasons


def _yields(done: Sequence[RunRecord], policy: HealthPolicy, found: _Findings) -> tuple[float | None, float | None]:
    """Recent and usual share of article pages that were articles; flags pages that stopped yielding.

    Two ways to be flagged, both against a source that used to yield (at least
    yield_usual_min of yield_sample pages or more): the last yield_sample pages yield
    less than yield_drop of the usual share; or the latest runs extracted nothing and
    skipped their pages for a site-wide reason this source's pages never showed before
    (its first JS shell is news; a source that always had one JS-only page is not).
    """
    judged = [r for r in done if not r.failed and r.article_pages > 0]
    recent: list[RunRecord] = []
    for run in reversed(judged):
        if sum(r.article_pages for r in recent) >= policy.yield_sample:
            break
        recent.insert(0, run)
    streak: list[RunRecord] = []
    for run in reversed(judged):
        if run.articles_new + run.articles_duplicate:
            break
        streak.insert(0, run)
    recent_yield, recent_pages = _share(recent)
    usual_yield, usual_pages = _share(judged[:len(judged) - len(recent)])
    streak_usual, streak_usual_pages = _share(judged[:len(judged) - len(streak)])

    def used_to_yield(share: float | None, pages: int) -> bool:
        return share is not None and pages >= policy.yield_sample and share >= policy.yield_usual_min

    reasons = _reasons(streak)
    earlier_reasons = set(_reasons(judged[:len(judged) - len(streak)]))
    new_site_reason = bool(streak) and set(reasons) <= SITE_CHANGE_REASONS and not set(reasons) & earlier_reasons
    if (used_to_yield(usual_yield, usual_pages) and recent_pages >= policy.yield_sample
            and recent_yield < usual_yield * policy.yield_drop):
        extracted = round(recent_yield * recent_pages)
        why = ", ".join(f"{reason} {n}" for reason, n in _reasons(recent).most_common()) or "no reason recorded"
        found.problems.append(
            f"article pages stopped yielding articles: {extracted} of {recent_pages} extracted in the last "
            f"{len(recent)} run(s) (skipped: {why}); it used to be {usual_yield:.0%}"
        )
    elif new_site_reason and used_to_yield(streak_usual, streak_usual_pages):
        pages = sum(r.article_pages for r in streak)
        why = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common())
        found.problems.append(
            f"article pages stopped yielding articles: none of {pages} extracted in the last {len(streak)} run(s), "
            f"skipped for a reason its pages never showed before ({why}); it used to be {streak_usual:.0%}"
        )
    return recent_yield, usual_yield


def _silence(done: Sequence[RunRecord], now: datetime, policy: HealthPolicy,
             found: _Findings) -> tuple[datetime | None, timedelta | None]:
    """When the last new article came, the usual gap between new articles; flags a long silence."""
    publishing = [r for r in done if not r.failed and r.articles_new > 0]
    if not publishing:
        return None, None
    last_new_at = publishing[-1].started_at
    if len(publishing) < policy.min_publishing_runs:
        return last_new_at, None
    gaps = [b.started_at - a.started_at for a, b in zip(publishing, publishing[1:])]
    usual = statistics.median(gaps)
    allowed = max(usual * policy.silence_factor, max(gaps))
    silent_for = now - last_new_at
    answered_since = [r for r in done if r.started_at > last_new_at and not r.failed and r.pages_fetched > 0]
    if silent_for > allowed and answered_since and not done[-1].failed:  # a failing source is reported as such
        found.problems.append(
            f"no new articles for {human_duration(silent_for)} although its pages still answer "
            f"({len(answered_since)} run(s) since); it usually publishes every {human_duration(usual)} "
            f"(longest gap before: {human_duration(max(gaps))})"
        )
    return last_new_at, usual


def _overdue(runs: Sequence[RunRecord], now: datetime, interval: timedelta | None,
             policy: HealthPolicy, found: _Findings) -> None:
    if interval is None or not runs:
        return
    last = runs[-1].started_at
    if now - last > interval * policy.overdue_factor:
        found.problems.append(
            f"not crawled for {human_duration(now - last)} although scheduled every {human_duration(interval)}: "
            f"is the scheduler running?"
        )


def _new_per_run(done: Sequence[RunRecord], policy: HealthPolicy) -> tuple[float | None, float | None]:
    """Mean new articles per successful run: the recent runs, and the ones before (not the first harvest)."""
    counts = [r.articles_new for r in done if not r.failed]
    recent, earlier = counts[-policy.recent_runs:], counts[1:-policy.recent_runs]
    return _mean(recent), _mean(earlier)


def assess_source(source: str, runs: Sequence[RunRecord], now: datetime, *,
                  interval: timedelta | None = None, enabled: bool = True,
                  policy: HealthPolicy = HealthPolicy()) -> SourceHealth:
    """Judge one source from its runs (oldest first) at time now.

    interval is how often its schedule runs it (None: no overdue check).
    """
    runs = sorted(runs, key=lambda r: (r.started_at, r.id))
    done = [r for r in runs if r.status != RUNNING]
    if not done:
        return SourceHealth(source=source, status=NEW, enabled=enabled, runs=len(runs),
                            last_run_at=runs[-1].started_at if runs else None,
                            last_status=runs[-1].status if runs else None)
    found = _Findings()
    streak = _consecutive_failures(done, policy, found)
    recent_yield, usual_yield = _yields(done, policy, found)
    last_new_at, usual_gap = _silence(done, now, policy, found)
    if enabled:
        _overdue(runs, now, interval, policy, found)
    recent_new, usual_new = _new_per_run(done, policy)
    successes = [r for r in done if not r.failed]
    status = UNHEALTHY if found.problems else WARNING if found.warnings else OK
    return SourceHealth(
        source=source, status=status, enabled=enabled, runs=len(runs),
        last_run_at=runs[-1].started_at, last_status=runs[-1].status,
        last_success_at=successes[-1].started_at if successes else None,
        consecutive_failures=streak, last_new_at=last_new_at, usual_gap=usual_gap,
        new_per_run_recent=recent_new, new_per_run_usual=usual_new,
        yield_recent=recent_yield, yield_usual=usual_yield,
        problems=tuple(found.problems), warnings=tuple(found.warnings),
    )


def any_unhealthy(report: Sequence[SourceHealth]) -> bool:
    """True when an enabled source is unhealthy (what `expowatch health` exits non-zero on)."""
    return any(h.unhealthy and h.enabled for h in report)
