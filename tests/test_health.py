"""Health rules as a pure function over run records (no store, no clock)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest

from scheduler.health import NEW, OK, UNHEALTHY, WARNING, HealthPolicy, any_unhealthy, assess_source
from storage.runs import RunRecord

START = datetime(2024, 6, 1, 0, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
_ids = count(1)


def run(at: datetime, status: str = "ok", *, new: int = 0, dup: int = 0, skipped: dict[str, int] | None = None,
        pages: int | None = None, message: str | None = None) -> RunRecord:
    skipped = skipped or {}
    n_skipped = sum(skipped.values())
    if pages is None:
        pages = 2 + new + dup + n_skipped if status not in ("failed", "timeout") else 1
    return RunRecord(id=next(_ids), source="src", started_at=at, finished_at=at + timedelta(seconds=30),
                     status=status, pages_fetched=pages, articles_new=new, articles_duplicate=dup,
                     articles_skipped=n_skipped, skip_reasons=skipped, message=message)


def hourly(first: datetime, counts: list[int], **kwargs) -> list[RunRecord]:
    """One run per hour from first, finding counts[i] new articles."""
    return [run(first + i * HOUR, new=n, **kwargs) for i, n in enumerate(counts)]


def history(days: int = 10) -> list[RunRecord]:
    """A source crawled hourly that publishes about twice a day, after a first harvest of 12."""
    counts = [12] + [1 if hour % 12 == 5 else 0 for hour in range(1, days * 24)]
    return hourly(START, counts)


def end(runs: list[RunRecord]) -> datetime:
    return runs[-1].started_at + HOUR


def assess(runs, now=None, **kwargs):
    return assess_source("src", runs, now or end(runs), **kwargs)


# ---- plain states ---------------------------------------------------------------------------------

def test_a_source_never_crawled_is_new_not_unhealthy():
    health = assess_source("src", [], START)
    assert health.status == NEW and not health.unhealthy and health.runs == 0


def test_a_steady_source_is_ok_with_its_figures():
    runs = history()
    health = assess(runs, interval=HOUR)
    assert health.status == OK and health.problems == () and health.warnings == ()
    assert health.last_success_at == runs[-1].started_at
    assert health.last_new_at == max(r.started_at for r in runs if r.articles_new)
    assert health.usual_gap == timedelta(hours=12)
    assert health.yield_usual == 1.0 and health.yield_recent == 1.0
    assert health.new_per_run_usual == pytest.approx(sum(r.articles_new for r in runs[1:-5]) / len(runs[1:-5]))


# ---- failures ---------------------------------------------------------------------------------------

def test_one_failure_warns_and_two_in_a_row_are_unhealthy():
    runs = history()
    t = end(runs)
    one = runs + [run(t, "failed", message="source unreachable")]
    health = assess(one)
    assert health.status == WARNING and health.consecutive_failures == 1
    assert "source unreachable" in health.warnings[0]
    two = one + [run(t + HOUR, "timeout", message="timed out after 3600 s")]
    health = assess(two)
    assert health.status == UNHEALTHY and health.consecutive_failures == 2
    assert "2 failed runs in a row" in health.problems[0] and "timed out" in health.problems[0]
    assert health.last_success_at == runs[-1].started_at


def test_a_success_ends_the_failure_streak():
    runs = history()
    t = end(runs)
    health = assess(runs + [run(t, "failed"), run(t + HOUR, "failed"), run(t + 2 * HOUR, new=1)])
    assert health.status == OK and health.consecutive_failures == 0


def test_the_failure_threshold_is_a_policy():
    runs = history()
    health = assess(runs + [run(end(runs), "failed")], policy=HealthPolicy(failures_unhealthy=1))
    assert health.status == UNHEALTHY


def test_a_running_crawl_is_not_judged():
    runs = history()
    health = assess(runs + [run(end(runs), "running")])
    assert health.status == OK and health.last_status == "running"


# ---- extraction yield -------------------------------------------------------------------------------

def test_a_first_js_shell_after_good_pages_is_unhealthy_at_once():
    runs = history()
    broken = runs + [run(end(runs), skipped={"js_shell": 1})]
    health = assess(broken)
    assert health.status == UNHEALTHY
    assert "stopped yielding" in health.problems[0] and "js_shell 1" in health.problems[0]


def test_a_source_that_always_had_a_js_only_page_needs_more_than_one_to_turn_red():
    runs = history()
    runs[0] = run(START, new=12, skipped={"js_shell": 1})  # its first harvest met its one JS-only page
    one = runs + [run(end(runs), skipped={"js_shell": 1})]
    assert assess(one).status == OK
    t = end(one)
    three = one + [run(t, skipped={"js_shell": 1}), run(t + HOUR, skipped={"js_shell": 1})]
    health = assess(three)
    assert health.status == UNHEALTHY and "0 of 3 extracted" in health.problems[0]


def test_one_odd_page_is_not_a_broken_source():
    runs = history()
    health = assess(runs + [run(end(runs), skipped={"too_short": 1})])
    assert health.status == OK


def test_a_partial_drop_in_yield_is_unhealthy():
    runs = history()
    t = end(runs)
    mixed = runs + [run(t, new=1, skipped={"no_content": 3}), run(t + HOUR, skipped={"too_short": 1})]
    health = assess(mixed)
    assert health.status == UNHEALTHY and "1 of 5 extracted" in health.problems[0]
    assert health.yield_recent == pytest.approx(0.2)


def test_a_source_that_never_yielded_well_is_not_judged_on_yield():
    runs = hourly(START, [3, 0, 1, 0], skipped={"too_short": 3})
    health = assess(runs + [run(end(runs), skipped={"js_shell": 2})])
    assert "stopped yielding" not in " ".join(health.problems)


# ---- silence ------------------------------------------------------------------------------------------

def test_a_publisher_that_goes_quiet_for_far_longer_than_its_usual_gap_is_unhealthy():
    runs = history(days=10)
    quiet = runs + hourly(end(runs), [0] * 48)  # two more days, pages answer, nothing new
    health = assess(quiet)
    assert health.status == UNHEALTHY
    assert "no new articles for" in health.problems[0] and "usually publishes every 12.0 h" in health.problems[0]


def test_a_quiet_spell_within_the_usual_rhythm_is_ok():
    runs = history(days=10)
    assert assess(runs + hourly(end(runs), [0] * 12)).status == OK


def test_a_source_that_once_went_quiet_for_longer_is_given_that_much_slack():
    twice_a_day = [1 if hour % 12 == 5 else 0 for hour in range(24 * 3)]
    runs = hourly(START, [12] + twice_a_day)
    runs += hourly(end(runs), [0] * 24 * 5 + twice_a_day)  # once it published nothing for five days
    quiet = runs + hourly(end(runs), [0] * 24 * 3)  # three quiet days: beyond 3 x 12 h, within five days
    health = assess(quiet)
    assert health.usual_gap == timedelta(hours=12)
    assert health.status == OK
    longer = quiet + hourly(end(quiet), [0] * 24 * 3)
    assert assess(longer).status == UNHEALTHY


def test_silence_needs_a_history_of_publishing():
    runs = hourly(START, [5, 0, 0, 1] + [0] * 200)
    health = assess(runs)
    assert health.status == OK and health.usual_gap is None


def test_silence_is_not_reported_when_the_pages_stopped_answering():
    runs = history(days=10)
    t = end(runs)
    failing = runs + [run(t + i * HOUR, "failed") for i in range(48)]
    health = assess(failing)
    assert health.status == UNHEALTHY
    assert len(health.problems) == 1 and "failed runs in a row" in health.problems[0]


# ---- overdue ------------------------------------------------------------------------------------------

def test_a_source_not_crawled_for_several_intervals_is_unhealthy_when_enabled():
    runs = history()
    late = runs[-1].started_at + 4 * HOUR
    health = assess(runs, late, interval=HOUR)
    assert health.status == UNHEALTHY and "is the scheduler running?" in health.problems[0]
    assert assess(runs, runs[-1].started_at + 2 * HOUR, interval=HOUR).status == OK
    disabled = assess(runs, late, interval=HOUR, enabled=False)
    assert disabled.status == OK and not any_unhealthy([disabled])


def test_only_enabled_unhealthy_sources_fail_the_check():
    runs = history()
    t = end(runs)
    bad = runs + [run(t, "failed"), run(t + HOUR, "failed")]
    assert any_unhealthy([assess(runs), assess(bad)])
    assert not any_unhealthy([assess(runs), assess(bad, enabled=False)])


def test_the_report_is_json_ready():
    runs = history()
    data = json.loads(json.dumps(assess(runs + [run(end(runs), "failed")]).to_json()))
    assert data["status"] == WARNING and data["consecutive_failures"] == 1
    assert data["usual_gap"] == 12 * 3600 and data["last_success_at"].startswith("2024-06-10")
