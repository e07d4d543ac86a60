"""AlertService: one alert pass (register rules, match, health, digests, deliver) over a store.

`expowatch alerts send` runs passes; the scheduler runs one after each crawl and one
on each digest rule's cron. Passes of one service never overlap (a lock), and every
step is replayable, so a pass cut short anywhere is completed by the next.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping

from crawler.alerts import outbox
from crawler.alerts.delivery import DeliveryReport, Sender, deliver_due, send_message
from crawler.alerts.rules import DIGEST, AlertRule, AlertsConfig

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PassReport:
    """What one pass did."""

    registered: list[str] = field(default_factory=list)
    matched: dict[str, int] = field(default_factory=dict)  # rule -> stories entered in the outbox
    health_changes: dict[str, int] = field(default_factory=dict)  # health rule -> changes queued
    digests: dict[str, int] = field(default_factory=dict)  # digest rule -> digests queued
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def summary(self) -> str:
        d = self.delivery
        return (f"{sum(self.matched.values())} new match(es), {sum(self.health_changes.values())} health change(s), "
                f"{sum(self.digests.values())} digest(s); sent {d.sent}, retrying {d.retrying}, failed {d.failed}")


class AlertService:
    """The alert rules of one alerts file over one store."""

    def __init__(self, db_url: str, config: AlertsConfig, sources: Mapping | None = None, *,
                 send: Sender = send_message, clock: Callable[[], datetime] = utcnow):
        from storage.engine import session_factory

        self.db_url = db_url
        self.config = config
        self.sources = dict(sources or {})  # name -> spiders.sources.Source, for health rules
        self.rules = {r.name: r for r in config.rules}
        self.send = send
        self.clock = clock
        self._write = session_factory(db_url)
        self._read = session_factory(db_url, for_writing=False)
        self._lock = threading.Lock()

    @property
    def digest_rules(self) -> list[AlertRule]:
        return [r for r in self.config.rules if r.mode == DIGEST and not r.health]

    def register(self, *, backfill: bool = False) -> list[str]:
        """Start the rules not seen before: from now, or with backfill from the first stored article."""
        with self._write.begin() as session:
            added = outbox.register_rules(session, self.config.rules, self.clock(), backfill=backfill)
        for name in added:
            logger.info("alert rule %s starts %s", name, "with every stored article" if backfill else "from now")
        return added

    def run_pass(self, *, backfill: bool = False, deliver: bool = True) -> PassReport:
        """Register new rules, match new articles, record health changes, build due digests, then send
        what is due (deliver=False: only fill the outbox)."""
        with self._lock:
            report = PassReport(registered=self.register(backfill=backfill))
            for rule in self.config.rules:
                if rule.health:
                    continue
                with self._write.begin() as session:
                    report.matched[rule.name] = outbox.match_rule(session, rule, self.clock())
            self._health(report)
            for rule in self.digest_rules:
                with self._write.begin() as session:
                    report.digests[rule.name] = outbox.build_digest(session, rule, self.clock())
            if deliver:
                report.delivery = deliver_due(self._read, self._write, self.rules, self.config.delivery,
                                              now=self.clock, send=self.send)
            return report

    def _health(self, report: PassReport) -> None:
        health_rules = [r for r in self.config.rules if r.health]
        if not health_rules:
            return
        from scheduler.monitor import health_report

        sources = [s for s in self.sources.values() if s.enabled]
        if not sources:
            logger.warning("health alert rules, but no enabled sources to judge (--sources-file)")
            return
        health = health_report(self.db_url, sources, now=self.clock())
        for rule in health_rules:
            with self._write.begin() as session:
                report.health_changes[rule.name] = outbox.record_health(session, rule, health, self.clock())

    def next_wakeup(self) -> datetime | None:
        """When a pass next has something to do without a new crawl: a retry or a digest falls due."""
        with self._read() as session:
            times = [outbox.next_try_at(session)]
            for rule in self.digest_rules:
                state = outbox.rule_state(session, rule.name)
                if state is not None:
                    times.append(outbox.next_digest_at(rule, state, self.clock()))
        due = [t for t in times if t is not None]
        return min(due) if due else None
