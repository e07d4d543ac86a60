"""Cron schedules of sources as APScheduler triggers (pure: no store, no scheduler).

A schedule is a standard 5-field crontab line (minute hour day month weekday) or a
6-field line with seconds first (second minute hour day month weekday). Weekday
numbers follow crontab (0 and 7 are Sunday), not APScheduler 3's own numbering
(0 is Monday there), so a line copied from a crontab means what it meant there.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

# Crontab weekday numbers (0 and 7 are Sunday) as APScheduler day names.
CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMERIC_WEEKDAY = re.compile(r"^(?:(?P<all>\*)|(?P<first>\d+)(?:-(?P<last>\d+))?)(?:/(?P<step>\d+))?$")
# How many fire times interval_of() samples: enough to see through irregular lines
# such as "0 9,17 * * 1-5" (the longest gap is the weekend).
INTERVAL_SAMPLES = 16


def crontab_weekdays(field: str) -> str:
    """A crontab weekday field in APScheduler's terms (day names), e.g. '1-5' -> 'mon,tue,wed,thu,fri'."""
    out: list[str] = []
    for token in field.split(","):
        match = _NUMERIC_WEEKDAY.match(token)
        if not match:  # names ('mon-fri'), '?' or anything else: APScheduler reads (or rejects) it
            out.append(token)
            continue
        if match["all"]:
            first, last = 0, 6
        else:
            first = int(match["first"])
            last = int(match["last"]) if match["last"] is not None else first
            if match["step"] is not None and match["last"] is None:
                last = 6  # crontab: "N/S" means from N to the end of the range
        if not (0 <= first <= 7 and 0 <= last <= 7) or last < first:
            raise ValueError(f"weekday {token!r} out of range (0-7, 0 and 7 are Sunday)")
        step = int(match["step"] or 1)
        if step < 1:
            raise ValueError(f"weekday {token!r}: step must be at least 1")
        out.extend(CRON_WEEKDAYS[day] for day in range(first, last + 1, step))
    return ",".join(dict.fromkeys(out))


def parse_schedule(expr: str, timezone: str | tzinfo = "UTC") -> CronTrigger:
    """The trigger for a 5-field crontab line, or a 6-field one with seconds first.

    Raises ValueError naming the problem for anything else.
    """
    fields = expr.split()
    if len(fields) == 5:
        second, (minute, hour, day, month, weekday) = "0", fields
    elif len(fields) == 6:
        second, minute, hour, day, month, weekday = fields
    else:
        raise ValueError(f"expected 5 fields (minute hour day month weekday) or 6 (seconds first), got {len(fields)}")
    return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                       day_of_week=crontab_weekdays(weekday), timezone=timezone)


def interval_of(trigger: CronTrigger, now: datetime) -> timedelta | None:
    """The longest gap between the next few fire times: how long a source may wait between runs."""
    fire_times: list[datetime] = []
    previous = None
    moment = now
    for _ in range(INTERVAL_SAMPLES):
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        fire_times.append(fire)
        previous, moment = fire, fire + timedelta(microseconds=1)
    if len(fire_times) < 2:
        return None
    return max(b - a for a, b in zip(fire_times, fire_times[1:]))
