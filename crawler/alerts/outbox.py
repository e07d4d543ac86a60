"""Matching into the alert outbox: replayable, so a crash anywhere loses nothing and doubles nothing.

Each rule keeps a cursor, the last article id it has matched. One matching step reads
the articles stored after the cursor that match the rule (one row per story: a copy of
a story never matches on its own), enters one outbox row per story and channel, and
advances the cursor, all in one transaction. Outbox rows are unique on (rule, channel,
item), so a step replayed after a crash inserts nothing twice. Store writers commit
articles in id order (storage.duplicates.serialise_writers), so no article can appear
below the cursor later.

Every function takes a Session; the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crawler.alerts.channels import redact_channel
from crawler.alerts.rules import DIGEST, AlertRule
from storage.models import AlertDelivery, AlertHealthState, AlertRuleState, Article
from storage.store import insert_many_or_ignore, insert_or_ignore

PENDING, SENT, FAILED, WAITING, DIGESTED = "pending", "sent", "failed", "waiting", "digested"
STATUSES = (PENDING, WAITING, SENT, FAILED, DIGESTED)
UNHEALTHY = "unhealthy"


def channel_key(url: str) -> str:
    """The outbox's name for a channel: a hash of its URL (which may hold a password)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def delivery_id(rule: str, channel: str, item: str) -> str:
    """The stable id of one delivery: the same rule, channel and item always give the same id."""
    return hashlib.sha256(f"{rule}\n{channel}\n{item}".encode()).hexdigest()[:32]


def _row(rule: AlertRule, url: str, item: str, kind: str, status: str, now: datetime, *,
         article_id: int | None = None, payload: dict | None = None) -> dict:
    channel = channel_key(url)
    return {"delivery_id": delivery_id(rule.name, channel, item), "rule": rule.name, "channel": channel,
            "channel_label": redact_channel(url), "item": item, "kind": kind, "article_id": article_id,
            "payload": payload or {}, "status": status, "tries": 0, "next_try_at": now, "created_at": now}


def newest_article_id(session: Session) -> int:
    return session.execute(select(func.max(Article.id))).scalar() or 0


def register_rules(session: Session, rules: Iterable[AlertRule], now: datetime, *, backfill: bool = False) -> list[str]:
    """Give each rule not seen before its cursor: the newest article (it starts from now), or 0 with
    backfill (every stored article is new to it). Returns the names of the rules registered now."""
    start = 0 if backfill else newest_article_id(session)
    added = []
    for rule in rules:
        if insert_or_ignore(session, AlertRuleState.__table__, {
                "name": rule.name, "last_article_id": start, "last_digest_at": now, "created_at": now}):
            added.append(rule.name)
    return added


def rule_state(session: Session, name: str) -> AlertRuleState | None:
    return session.get(AlertRuleState, name)


def new_matches(session: Session, rule: AlertRule, after_id: int, up_to_id: int) -> list[int]:
    """Ids of the stories stored after after_id (up to up_to_id) that match rule, oldest first."""
    from storage.search_sql import matching_select

    if up_to_id <= after_id:
        return []
    stmt = matching_select(session, rule.match.search_query(), (Article.id,), ordered=False)
    stmt = stmt.where(Article.id > after_id, Article.id <= up_to_id).order_by(Article.id)
    return list(session.execute(stmt).scalars())


def match_rule(session: Session, rule: AlertRule, now: datetime) -> int:
    """Enter the rule's new matching stories in the outbox and advance its cursor; returns how many.

    An `each` rule's rows are pending (to send); a digest rule's are waiting for its digest.
    """
    state = session.get(AlertRuleState, rule.name, with_for_update=True)
    if state is None:
        raise LookupError(f"alert rule {rule.name!r} is not registered")
    top = newest_article_id(session)
    ids = new_matches(session, rule, state.last_article_id, top)
    status = WAITING if rule.mode == DIGEST else PENDING
    insert_many_or_ignore(session, AlertDelivery.__table__, [
        _row(rule, url, f"story:{article_id}", "article", status, now, article_id=article_id)
        for article_id in ids for url in rule.channels])
    if top > state.last_article_id:
        session.execute(update(AlertRuleState).where(AlertRuleState.name == rule.name).values(last_article_id=top))
    return len(ids)


def last_slot(trigger, after: datetime, now: datetime) -> datetime | None:
    """The latest fire time of trigger after `after` and at or before now (None: none yet)."""
    slot = None
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while fire is not None and fire <= now:
        slot = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return slot


def next_digest_at(rule: AlertRule, state: AlertRuleState, now: datetime) -> datetime | None:
    """When the rule's next digest is due (in the past if one is due now)."""
    from scheduler.triggers import parse_schedule

    trigger = parse_schedule(rule.cron, rule.timezone)
    after = state.last_digest_at or state.created_at
    return trigger.get_next_fire_time(None, after + timedelta(microseconds=1))


def build_digest(session: Session, rule: AlertRule, now: datetime) -> int:
    """If the rule's cron has fired since its last digest: one pending digest per channel listing the
    stories waiting for it (none when nothing is waiting). Returns the digests queued."""
    from scheduler.triggers import parse_schedule

    state = session.get(AlertRuleState, rule.name, with_for_update=True)
    if state is None:
        raise LookupError(f"alert rule {rule.name!r} is not registered")
    slot = last_slot(parse_schedule(rule.cron, rule.timezone), state.last_digest_at or state.created_at, now)
    if slot is None:
        return 0
    queued = 0
    for url in rule.channels:
        channel = channel_key(url)
        waiting = session.execute(
            select(AlertDelivery.id, AlertDelivery.article_id)
            .where(AlertDelivery.rule == rule.name, AlertDelivery.channel == channel, AlertDelivery.status == WAITING)
            .order_by(AlertDelivery.id)).all()
        if not waiting:
            continue
        payload = {"articles": [w.article_id for w in waiting], "since": state.last_digest_at.isoformat(),
                   "until": slot.isoformat()}
        digest_id = insert_or_ignore(session, AlertDelivery.__table__,
                                     _row(rule, url, f"digest:{slot.isoformat()}", "digest", PENDING, now,
                                          payload=payload), returning=AlertDelivery.id)
        if digest_id is None:  # this slot's digest exists: a replay
            continue
        session.execute(update(AlertDelivery).where(AlertDelivery.id.in_([w.id for w in waiting]))
                        .values(status=DIGESTED, digest_id=digest_id))
        queued += 1
    state.last_digest_at = slot
    return queued


def health_change(told: str | None, status: str) -> str | None:
    """What to tell about a source whose health is status, when its last state told was told (None:
    never looked at): "unhealthy" when it crossed into unhealthy (or is first seen so), "recovered"
    when it left unhealthy, None when nothing changed."""
    unhealthy = status == UNHEALTHY
    if (told == UNHEALTHY) == unhealthy or (told is None and not unhealthy):
        return None
    return "unhealthy" if unhealthy else "recovered"


def record_health(session: Session, rule: AlertRule, report: Sequence, now: datetime) -> int:
    """Queue a message for each source whose health crossed the line since this rule last looked:
    it turned unhealthy (also when first seen unhealthy), or it recovered. Returns how many."""
    wanted = set(rule.match.sources)
    queued = 0
    for health in report:
        if not health.enabled or (wanted and health.source not in wanted):
            continue
        state = session.get(AlertHealthState, (rule.name, health.source), with_for_update=True)
        change = health_change(state.status if state else None, health.status)
        if state is None:
            state = AlertHealthState(rule=rule.name, source=health.source, status=health.status,
                                     changes=0, changed_at=now)
            session.add(state)
        state.status = health.status
        if change is None:
            continue
        state.changes += 1
        state.changed_at = now
        payload = {"source": health.source, "change": change,
                   "status": health.status, "problems": list(health.problems), "warnings": list(health.warnings),
                   "last_run_at": _iso(health.last_run_at), "last_success_at": _iso(health.last_success_at),
                   "consecutive_failures": health.consecutive_failures}
        session.flush()
        insert_many_or_ignore(session, AlertDelivery.__table__, [
            _row(rule, url, f"health:{health.source}:{state.changes}", "health", PENDING, now, payload=payload)
            for url in rule.channels])
        queued += 1
    return queued


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class ChannelStatus:
    """Counts of one rule's deliveries to one channel, by status."""

    rule: str
    channel: str
    pending: int = 0
    waiting: int = 0
    sent: int = 0
    failed: int = 0


def status_counts(session: Session) -> list[ChannelStatus]:
    """Per rule and channel: pending, waiting (for a digest), sent and failed deliveries."""
    rows = session.execute(
        select(AlertDelivery.rule, AlertDelivery.channel_label, AlertDelivery.status, func.count())
        .group_by(AlertDelivery.rule, AlertDelivery.channel_label, AlertDelivery.status)).all()
    table: dict[tuple[str, str], dict[str, int]] = {}
    for rule, label, status, n in rows:
        if status in (PENDING, WAITING, SENT, FAILED):
            table.setdefault((rule, label), {})[status] = n
        else:
            table.setdefault((rule, label), {})
    return [ChannelStatus(rule, label, **counts) for (rule, label), counts in sorted(table.items())]


def failed_deliveries(session: Session, limit: int = 20) -> list[AlertDelivery]:
    """The newest deliveries given up on, with their last error."""
    return list(session.scalars(select(AlertDelivery).where(AlertDelivery.status == FAILED)
                                .order_by(AlertDelivery.id.desc()).limit(limit)))


def due_deliveries(session: Session, now: datetime, limit: int) -> list[AlertDelivery]:
    """Pending deliveries whose next try is due, oldest first."""
    return list(session.scalars(select(AlertDelivery).where(AlertDelivery.status == PENDING,
                                                            AlertDelivery.next_try_at <= now)
                                .order_by(AlertDelivery.id).limit(limit)))


def next_try_at(session: Session) -> datetime | None:
    """When the next pending delivery is due (None: nothing pending)."""
    return session.execute(select(func.min(AlertDelivery.next_try_at))
                           .where(AlertDelivery.status == PENDING)).scalar()


def select_rule_rows(rule: str):
    """SELECT a rule's deliveries not yet sent or given up (pending, waiting), oldest first."""
    return (select(AlertDelivery).where(AlertDelivery.rule == rule, AlertDelivery.status.in_((PENDING, WAITING)))
            .order_by(AlertDelivery.id))
