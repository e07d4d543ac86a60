"""The alert outbox in-process: replayable matching, one message per story, retries, digests, health.

Real SQLite stores (fresh per test), a real HTTP webhook receiver on 127.0.0.1, and
a clock the test moves (digests, backoff) instead of waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from alert_receivers import WebhookReceiver
from crawler.alerts import outbox
from crawler.alerts.rules import parse_alerts
from crawler.alerts.service import AlertService
from scheduler.health import OK, UNHEALTHY, SourceHealth
from storage.engine import session_factory
from storage.migrate import ensure_schema
from storage.models import AlertDelivery, Article
from crawler.extract.extraction import ExtractedArticle
from storage.store import ArticleRecord, ensure_source, store_article

T0 = datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(sqlite_url):
    ensure_schema(sqlite_url)
    return sqlite_url


@pytest.fixture
def any_store(db_url):
    """A fresh store on each backend (SQLite and PostgreSQL)."""
    ensure_schema(db_url)
    return db_url


def add_article(url: str, title: str, text: str, *, source: str = "wic-tianjin", copy_of: int | None = None) -> int:
    with session_factory(url).begin() as session:
        source_id = ensure_source(session, source, timezone_name="Asia/Shanghai")
        url = f"http://127.0.0.1:1/{source}/{abs(hash(title))}.html"
        article = ExtractedArticle(url=url, title=title, text=text, language="en", extractor_version="test",
                                   published_at=datetime(2024, 6, 21, 1, 12, tzinfo=timezone.utc))
        stored = store_article(session, ArticleRecord(
            source_id=source_id, canonical_url=url, seen_urls=(), article=article,
            content_hash=f"{hash((title, text, source)):x}"))
        if copy_of is not None:  # what the near-duplicate check decides for a reprint
            session.execute(update(Article).where(Article.id == stored.article_id).values(duplicate_of_id=copy_of))
        return stored.article_id


def config(hook: WebhookReceiver, *, extra: str = "", match: str = 'query = "Tianjin"', backoff: float = 0,
           tries: int = 4):
    return parse_alerts(f"""
[delivery]
max_tries = {tries}
backoff_seconds = {backoff}

[[rule]]
name = "tianjin"
channels = ["{hook.url()}"]
{extra}
[rule.match]
{match}
""", where="alerts.toml")


def outbox_rows(url: str) -> list[AlertDelivery]:
    with session_factory(url, for_writing=False)() as session:
        return list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))


def test_each_story_once_and_a_new_rule_starts_from_now(store):
    before = add_article(store, "Expo opens in Tianjin", "The expo opened in Tianjin today.")
    with WebhookReceiver() as hook:
        service = AlertService(store, config(hook), clock=Clock())
        assert service.run_pass().matched == {"tianjin": 0}  # registered after `before`: starts from now
        first = add_article(store, "Robots in Tianjin", "Humanoid robots played football in Tianjin.")
        add_article(store, "Robots in Tianjin (reprint)", "Reprinted: humanoid robots in Tianjin.", source="prwire",
                    copy_of=first)
        add_article(store, "Chongqing news", "Nothing about the other city.")
        second = add_article(store, "Tianjin signs deals", "Deals worth billions were signed in Tianjin.")
        report = service.run_pass()
        assert report.matched == {"tianjin": 2} and report.delivery.sent == 2
        assert [d["articles"][0]["id"] for d in hook.documents()] == [first, second]
        assert service.run_pass().delivery.sent == 0  # nothing new: nothing sent
        assert len(hook.requests) == 2
        headers, body = hook.requests[0]
        assert headers["X-Expowatch-Delivery"] == body["delivery_id"] == hook.documents()[0]["delivery_id"]
    assert before not in [r.article_id for r in outbox_rows(store)]


def test_backfill_takes_the_stored_articles(store):
    stored = add_article(store, "Expo opens in Tianjin", "The expo opened in Tianjin today.")
    with WebhookReceiver() as hook:
        AlertService(store, config(hook), clock=Clock()).run_pass(backfill=True)
        assert [d["articles"][0]["id"] for d in hook.documents()] == [stored]


def test_matching_replayed_after_a_crash_doubles_nothing_and_loses_nothing(any_store):
    with WebhookReceiver() as hook:
        rules = config(hook)
        db = session_factory(any_store)
        with db.begin() as session:
            outbox.register_rules(session, rules.rules, T0)
        ids = [add_article(any_store, f"Tianjin story {n}", f"Story {n} from Tianjin.") for n in range(3)]
        session = db()
        session.begin()
        assert outbox.match_rule(session, rules.rules[0], T0) == 3
        session.rollback()  # the process died before COMMIT: neither rows nor cursor moved
        session.close()
        assert outbox_rows(any_store) == []
        for _ in range(2):  # the replay, then a second replay after a crash past COMMIT
            with db.begin() as session:
                outbox.match_rule(session, rules.rules[0], T0)
        with db.begin() as session:  # and even a rule whose cursor was lost: the unique key holds
            session.execute(update(outbox.AlertRuleState).values(last_article_id=0))
            outbox.match_rule(session, rules.rules[0], T0)
        assert sorted(r.article_id for r in outbox_rows(any_store)) == ids


def test_a_failing_webhook_is_retried_with_backoff_then_every_message_arrives_once(store):
    clock = Clock()
    with WebhookReceiver(fail_first=3) as hook:
        service = AlertService(store, config(hook, backoff=30, tries=5), clock=clock)
        service.register()
        ids = [add_article(store, f"Tianjin story {n}", f"Story {n} from Tianjin.") for n in range(2)]
        report = service.run_pass()
        assert (report.delivery.sent, report.delivery.retrying) == (0, 2)
        rows = outbox_rows(store)
        assert {r.next_try_at for r in rows} == {T0 + timedelta(seconds=30)} and {r.tries for r in rows} == {1}
        assert all("503" in r.last_error for r in rows)
        assert service.run_pass().delivery.sent == 0  # not due yet: nothing tried
        assert hook.refused == 2
        clock.now += timedelta(seconds=30)
        assert service.run_pass().delivery.sent == 1  # third refusal for the first, the second arrives
        assert service.next_wakeup() == clock.now + timedelta(seconds=60)  # doubled
        clock.now += timedelta(seconds=60)
        assert service.run_pass().delivery.sent == 1
        ids_received = [d["articles"][0]["id"] for d in hook.documents()]
        assert sorted(ids_received) == ids and len(set(b["delivery_id"] for _, b in hook.requests)) == 2
        assert {r.status for r in outbox_rows(store)} == {"sent"}


def test_a_receiver_that_is_down_then_up_gets_everything(store):
    hook = WebhookReceiver().start()
    service = AlertService(store, config(hook), clock=Clock())
    service.register()
    hook.stop()  # connection refused from here on, same port later
    ids = [add_article(store, f"Tianjin story {n}", f"Story {n} from Tianjin.") for n in range(3)]
    report = service.run_pass()
    assert report.delivery.retrying == 3 and report.delivery.sent == 0
    hook.start()
    try:
        assert service.run_pass().delivery.sent == 3
        assert sorted(d["articles"][0]["id"] for d in hook.documents()) == ids
    finally:
        hook.stop()


def test_after_max_tries_a_delivery_is_failed_and_counted(store):
    with WebhookReceiver(fail_first=100) as hook:
        service = AlertService(store, config(hook, tries=3), clock=Clock())
        service.register()
        add_article(store, "Tianjin story", "A story from Tianjin.")
        reports = [service.run_pass().delivery for _ in range(4)]
        assert [(r.retrying, r.failed) for r in reports] == [(1, 0), (1, 0), (0, 1), (0, 0)]
        assert hook.refused == 3
    with session_factory(store, for_writing=False)() as session:
        (status,) = outbox.status_counts(session)
        (failed,) = outbox.failed_deliveries(session)
    assert (status.rule, status.failed, status.sent, status.pending) == ("tianjin", 1, 0, 0)
    assert failed.tries == 3 and "503" in failed.last_error


def test_a_digest_on_its_cron_lists_what_matched_and_sends_nothing_when_nothing_did(any_store):
    clock = Clock()  # 07:30 UTC; the digest is due at 08:00 UTC each day
    with WebhookReceiver() as hook:
        service = AlertService(any_store, config(hook, extra='mode = "digest"\ncron = "0 8 * * *"'), clock=clock)
        service.register()
        ids = [add_article(any_store, f"Tianjin story {n}", f"Story {n} from Tianjin.") for n in range(3)]
        add_article(any_store, "Chongqing story", "Nothing about the other city.")
        report = service.run_pass()
        assert report.matched == {"tianjin": 3} and report.digests == {"tianjin": 0} and hook.requests == []
        clock.now = T0.replace(hour=8, minute=0, second=5)
        report = service.run_pass()
        assert report.digests == {"tianjin": 1} and report.delivery.sent == 1
        (digest,) = hook.documents()
        assert digest["kind"] == "digest" and [a["id"] for a in digest["articles"]] == ids
        assert digest["period"]["until"] == "2026-03-02T08:00:00+00:00"
        clock.now += timedelta(days=1)  # the next day's slot: nothing matched, nothing sent
        assert service.run_pass().digests == {"tianjin": 0}
        later = add_article(any_store, "Another Tianjin story", "Later news from Tianjin.")
        clock.now += timedelta(days=1)
        service.run_pass()
        assert len(hook.requests) == 2 and [a["id"] for a in hook.documents()[1]["articles"]] == [later]
    assert {r.status for r in outbox_rows(any_store) if r.kind == "article"} == {"digested"}


def health(status: str, problem: str = "2 failed runs in a row") -> list[SourceHealth]:
    return [SourceHealth(source="wic-tianjin", status=status, problems=(problem,) if status == UNHEALTHY else ())]


def test_a_health_change_is_told_once_each_way(any_store):
    with WebhookReceiver() as hook:
        rules = parse_alerts(f'[[rule]]\nname = "broken"\nhealth = true\nchannels = ["{hook.url()}"]\n',
                             where="alerts.toml")
        db = session_factory(any_store)
        for status in (OK, UNHEALTHY, UNHEALTHY, UNHEALTHY, OK, OK, UNHEALTHY):
            with db.begin() as session:
                outbox.record_health(session, rules.rules[0], health(status), T0)
    changes = [(r.item, r.payload["change"]) for r in outbox_rows(any_store)]
    assert changes == [("health:wic-tianjin:1", "unhealthy"), ("health:wic-tianjin:2", "recovered"),
                       ("health:wic-tianjin:3", "unhealthy")]
    assert outbox_rows(any_store)[0].payload["problems"] == ["2 failed runs in a row"]


def test_a_deleted_rule_fails_its_deliveries_instead_of_keeping_them_pending(store):
    with WebhookReceiver() as hook:
        service = AlertService(store, config(hook), clock=Clock())
        service.register()
        add_article(store, "Tianjin story", "A story from Tianjin.")
        service.run_pass(deliver=False)
        other = AlertService(store, parse_alerts("", where="alerts.toml"), clock=Clock())
        assert other.run_pass().delivery.failed == 1
    (row,) = outbox_rows(store)
    assert row.status == "failed" and "no longer in the alerts file" in row.last_error


@pytest.mark.parametrize("told, status, change", [
    (None, OK, None), (None, "new", None), (None, UNHEALTHY, "unhealthy"),
    (OK, UNHEALTHY, "unhealthy"), ("warning", UNHEALTHY, "unhealthy"), (UNHEALTHY, UNHEALTHY, None),
    (UNHEALTHY, OK, "recovered"), (UNHEALTHY, "warning", "recovered"), (OK, "warning", None),
])
def test_health_change(told, status, change):
    assert outbox.health_change(told, status) == change
