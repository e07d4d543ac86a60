"""Sending deliveries through Apprise, at least once, with retries and backoff.

A delivery is sent, then marked sent; a crash between the two sends it again, with
the same delivery id, which every message carries: a mail gets an
`X-Expowatch-Delivery` header and the id in its footer, a webhook the
`X-Expowatch-Delivery` header and the `delivery_id` JSON field. A failed try is
retried after DeliveryPolicy.delay_after(tries); after max_tries the delivery is
marked failed, with Apprise's last error, and `expowatch alerts status` shows it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from crawler.alerts.channels import send_message
from crawler.alerts.messages import Message, render
from crawler.alerts.outbox import FAILED, PENDING, SENT, channel_key, due_deliveries
from crawler.alerts.rules import AlertRule, DeliveryPolicy
from storage.models import AlertDelivery

logger = logging.getLogger(__name__)

DUE_BATCH = 200  # deliveries read per round; a pass keeps reading until none is due


Sender = Callable[[str, Message], "str | None"]


@dataclass
class DeliveryReport:
    """What one round of sending did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # "rule -> channel: reason" per failed try


def _outcome(db: sessionmaker, row: AlertDelivery, error: str | None, policy: DeliveryPolicy,
             now: datetime, *, give_up: bool = False) -> str:
    tries = row.tries + 1
    if error is None:
        values = {"status": SENT, "sent_at": now, "last_error": None}
    elif give_up or tries >= policy.max_tries:
        values = {"status": FAILED, "last_error": error}
    else:
        values = {"next_try_at": now + timedelta(seconds=policy.delay_after(tries)), "last_error": error}
    with db.begin() as session:
        session.execute(update(AlertDelivery).where(AlertDelivery.id == row.id, AlertDelivery.status == PENDING)
                        .values(tries=tries, **values))
    return values.get("status", PENDING)


def deliver_due(read_db: sessionmaker, write_db: sessionmaker, rules: Mapping[str, AlertRule],
                policy: DeliveryPolicy, *, now: Callable[[], datetime], send: Sender = send_message) -> DeliveryReport:
    """Try every pending delivery that is due, oldest first, one try each.

    Messages are read with read_db (no write lock is held while sending); each outcome is
    written in its own short transaction of write_db.
    """
    report = DeliveryReport()
    tried: set[int] = set()
    while True:
        with read_db() as session:
            rows = [r for r in due_deliveries(session, now(), DUE_BATCH + len(tried)) if r.id not in tried]
            session.expunge_all()  # plain values from here on: the read transaction ends per message
            if not rows:
                return report
            for row in rows:
                tried.add(row.id)
                _deliver_one(write_db, session, row, rules, policy, now(), send, report)


def _deliver_one(db: sessionmaker, session: Session, row: AlertDelivery, rules: Mapping[str, AlertRule],
                 policy: DeliveryPolicy, now: datetime, send: Sender, report: DeliveryReport) -> None:
    rule = rules.get(row.rule)
    url = next((u for u in rule.channels if channel_key(u) == row.channel), None) if rule else None
    if url is None:
        error = (f"rule {row.rule!r} is no longer in the alerts file" if rule is None
                 else f"channel {row.channel_label} is no longer in rule {row.rule!r}")
        _outcome(db, row, error, policy, now, give_up=True)
        report.failed += 1
        report.errors.append(f"{row.rule} -> {row.channel_label}: {error}")
        return
    message = render(session, delivery_id=row.delivery_id, rule=rule, kind=row.kind,
                     article_id=row.article_id, payload=row.payload)
    session.rollback()  # end the read transaction: sending may take a while
    error = "its articles are no longer in the store" if message is None else send(url, message)
    status = _outcome(db, row, error, policy, now, give_up=message is None)
    if status == SENT:
        report.sent += 1
        return
    report.errors.append(f"{row.rule} -> {row.channel_label}: {error}")
    if status == FAILED:
        report.failed += 1
        logger.error("alert %s (rule %s) to %s failed after %d tries: %s", row.delivery_id, row.rule,
                     row.channel_label, row.tries + 1, error)
    else:
        report.retrying += 1
        logger.warning("alert %s (rule %s) to %s failed (try %d of %d), retried later: %s", row.delivery_id,
                       row.rule, row.channel_label, row.tries + 1, policy.max_tries, error)
