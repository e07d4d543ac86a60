"""Alerts end to end: real crawls of the replica web, a real SMTP server and a real webhook receiver.

The commands run as real processes (`expowatch schedule`, `crawl`, `alerts send`); the
receivers run in this process on 127.0.0.1 and record what arrived.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from alert_receivers import SmtpReceiver, WebhookReceiver, wait_until
from storage.engine import session_factory
from storage.models import AlertDelivery, Article
from test_scheduler_replica import Service, sources_file, web  # noqa: F401 (web: the replica web fixture)

pytestmark = pytest.mark.integration

CROSS_CITY = "Chongqing Tianjin"  # in the replica's first round: three stories, one of them reprinted by prwire


@pytest.fixture
def smtp():
    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


def alerts_file(path: Path, *rules: str, backoff: float = 0.1, tries: int = 8) -> Path:
    path.write_text(f"[delivery]\nmax_tries = {tries}\nbackoff_seconds = {backoff}\n\n" + "\n".join(rules),
                    encoding="utf-8")
    return path


def each_rule(name: str, channels: list[str], match: str) -> str:
    return f"[[rule]]\nname = \"{name}\"\nchannels = {json.dumps(channels)}\n[rule.match]\n{match}\n"


def stories(db_url: str, **where) -> dict[int, str]:
    """Stored stories (not copies) by id: title."""
    with session_factory(db_url, for_writing=False)() as session:
        rows = session.execute(select(Article.id, Article.title).where(Article.duplicate_of_id.is_(None))
                               .filter_by(**where))
        return {r.id: r.title for r in rows}


def deliveries(db_url: str) -> list[AlertDelivery]:
    with session_factory(db_url, for_writing=False)() as session:
        return list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))


def test_a_crawl_sends_each_matching_story_once_by_mail_and_webhook(web, smtp, hook, tmp_path, sqlite_url, run_cli):
    src = sources_file(web, tmp_path / "sources.toml", ["wic-tianjin", "prwire", "cq-daily"])
    rules = alerts_file(tmp_path / "alerts.toml", each_rule("cities", [smtp.url(), hook.url()],
                                                           f'query = "{CROSS_CITY}"'))
    args = ["--db", sqlite_url, "--sources-file", str(src), "--alerts-file", str(rules)]
    run_cli("schedule", "--once", *args, check=True, timeout=300)

    documents = hook.documents()
    assert len(documents) == 3 and len(smtp.messages) == 3
    articles = [d["articles"][0] for d in documents]
    assert len({a["id"] for a in articles}) == 3  # three stories: the reprint did not alert
    assert sorted(a["copies"] for a in articles) == [0, 0, 1]
    reprinted = next(a for a in articles if a["copies"] == 1)
    # crawled side by side: whichever of the organiser's page and the wire's reprint was stored first is the story
    assert {reprinted["source"], *reprinted["copy_sources"]} == {"wic-tianjin", "prwire"}
    for article in articles:
        local, utc = (datetime.fromisoformat(article[k]) for k in ("published_local", "published_utc"))
        assert local == utc and utc.utcoffset() == timedelta(0)
        assert local.utcoffset() == ZoneInfo(article["timezone"]).utcoffset(utc.replace(tzinfo=None))
    assert {a["timezone"] for a in articles} >= {"Asia/Shanghai"}
    assert ("world-intelligence-expo", "primary", 2024) in [(e["event"], e["role"], e["year"]) for e in reprinted["events"]]
    assert all({"Chongqing", "Tianjin"} <= set(a["matched"]) for a in articles)
    for headers, body in hook.requests:
        assert headers["X-Expowatch-Delivery"] == body["delivery_id"] == json.loads(body["message"])["delivery_id"]
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert subjects == sorted(f"[expowatch] cities: {a['title']}" for a in articles)
    by_subject = {f"[expowatch] cities: {a['title']}": a for a in articles}
    for mail in smtp.messages:
        delivery = mail["X-Expowatch-Delivery"]
        text, page = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
        assert delivery in text and delivery in page and "<mark>" in page
        article = by_subject[mail["Subject"]]
        local = datetime.fromisoformat(article["published_local"]).strftime("%Y-%m-%d %H:%M")
        assert f"{local} {article['timezone']}" in text and " UTC)" in text and article["url"] in text
    assert len({m["X-Expowatch-Delivery"] for m in smtp.messages} | {b["delivery_id"] for _, b in hook.requests}) == 6

    # a second crawl finds nothing new: nothing is sent
    run_cli("crawl", "wic-tianjin", "prwire", "cq-daily", "--db", sqlite_url, "--sources-file", str(src), check=True)
    sent = run_cli("alerts", "send", "--once", "--db", sqlite_url, "--alerts-file", str(rules), check=True)
    assert sent.stderr == "" and len(hook.requests) == 3 and len(smtp.messages) == 3

    status = json.loads(run_cli("alerts", "status", "--format", "json", "--db", sqlite_url, check=True).stdout)
    assert [(c["sent"], c["pending"], c["failed"]) for c in status["channels"]] == [(3, 0, 0), (3, 0, 0)]


def test_kill_9_of_the_sender_mid_delivery_then_a_restart_sends_every_message(web, hook, tmp_path, sqlite_url,
                                                                           run_cli, cli_env):
    src = sources_file(web, tmp_path / "sources.toml", ["wic-tianjin"])
    rules = alerts_file(tmp_path / "alerts.toml", each_rule("tianjin", [hook.url()], 'sources = ["wic-tianjin"]'))
    alerts = ["--db", sqlite_url, "--alerts-file", str(rules)]
    run_cli("alerts", "send", "--once", *alerts, check=True)  # the rule starts now, on an empty store
    run_cli("crawl", "wic-tianjin", "--db", sqlite_url, "--sources-file", str(src), check=True)
    expected = stories(sqlite_url)
    assert len(expected) == 7

    hook.hold.set()  # the first message arrives, but its sender never hears back
    sender = subprocess.Popen([sys.executable, "-m", "crawler.cli", "alerts", "send", *alerts],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
    try:
        wait_until(lambda: hook.holding == 1 or sender.poll() is not None, what="the first delivery")
        assert sender.poll() is None, sender.communicate()
        sender.send_signal(signal.SIGKILL)
        assert sender.wait(30) == -signal.SIGKILL
    finally:
        sender.kill()
        sender.communicate()
        hook.hold.clear()
        hook.released.set()
    assert {r.status for r in deliveries(sqlite_url)} == {"pending"}  # matched, stored, not one marked sent

    run_cli("alerts", "send", "--once", *alerts, check=True)
    by_story: dict[int, set[str]] = defaultdict(set)
    for document in hook.documents():
        by_story[document["articles"][0]["id"]].add(document["delivery_id"])
    assert sorted(by_story) == sorted(expected)  # every story arrived
    assert all(len(ids) == 1 for ids in by_story.values())  # a repeat carries the same delivery id
    assert len(hook.requests) in (7, 8)  # at most the held one twice
    assert {r.status for r in deliveries(sqlite_url)} == {"sent"}


def test_a_webhook_down_for_the_first_tries_gets_every_message_once(web, tmp_path, sqlite_url, run_cli, cli_env):
    src = sources_file(web, tmp_path / "sources.toml", ["wimc-nanjing"])
    with WebhookReceiver(fail_first=4) as hook:
        rules = alerts_file(tmp_path / "alerts.toml", each_rule("wimc", [hook.url()], 'sources = ["wimc-nanjing"]'),
                            backoff=0.2)
        alerts = ["--db", sqlite_url, "--alerts-file", str(rules)]
        run_cli("alerts", "send", "--once", *alerts, check=True)
        run_cli("crawl", "wimc-nanjing", "--db", sqlite_url, "--sources-file", str(src), check=True)
        expected = stories(sqlite_url)
        sender = subprocess.Popen([sys.executable, "-m", "crawler.cli", "alerts", "send", "--interval", "1", *alerts],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
        try:
            wait_until(lambda: len(hook.requests) >= len(expected) or sender.poll() is not None,
                       what="every message")
        finally:
            sender.send_signal(signal.SIGTERM)
            out, err = sender.communicate(timeout=60)
        assert sender.returncode == 0, err
        assert hook.refused == 4 and "503" in err  # each refused try was reported
        received = [d["articles"][0]["id"] for d in hook.documents()]
        assert sorted(received) == sorted(expected)  # each once
    retried = [r for r in deliveries(sqlite_url) if r.tries > 1]
    assert retried and all(r.status == "sent" for r in deliveries(sqlite_url))


def test_a_source_turning_unhealthy_sends_one_message_and_recovering_sends_one(web, hook, tmp_path, sqlite_url,
                                                                             run_cli):
    site = "wimc-nanjing"
    src = sources_file(web, tmp_path / "sources.toml", [site])
    rules = alerts_file(tmp_path / "alerts.toml",
                        f'[[rule]]\nname = "broken"\nhealth = true\nchannels = ["{hook.url()}"]\n')
    crawl = ["crawl", site, "--db", sqlite_url, "--sources-file", str(src)]
    send = ["alerts", "send", "--once", "--db", sqlite_url, "--sources-file", str(src), "--alerts-file", str(rules)]
    run_cli(*crawl, check=True)
    run_cli(*send, check=True)
    assert hook.requests == []  # healthy: nothing to tell

    web.set_mode(site, "down")
    health = ["health", "--source", site, "--quiet", "--db", sqlite_url, "--sources-file", str(src)]
    for failures in (1, 2, 3):  # two failures make it unhealthy; the third changes nothing
        assert run_cli(*crawl).returncode == 1
        run_cli(*send, check=True)
        assert len(hook.requests) == (0 if failures == 1 else 1)
        if failures == 2:
            (turned,) = hook.documents()
            assert turned["kind"] == "health" and turned["health"]["change"] == "unhealthy"
            assert turned["health"]["source"] == site
            reason = turned["health"]["problems"][0]
            assert reason.startswith("2 failed runs in a row")
            assert run_cli(*health).stdout == f"{site}: unhealthy: {reason}\n"  # the reason `health` gives
            check = run_cli("alerts", "check", "broken", *send[3:], check=True).stdout
            assert f"{site}: unhealthy (last told: unhealthy): no message" in check

    web.set_mode(site, "ok")
    run_cli(*crawl, check=True)
    run_cli(*send, check=True)
    run_cli(*send, check=True)
    assert [d["health"]["change"] for d in hook.documents()] == ["unhealthy", "recovered"]


def test_a_digest_rule_sends_one_digest_on_its_cron_and_nothing_when_nothing_matched(web, hook, tmp_path, sqlite_url,
                                                                                    run_cli, cli_env):
    site = "wimc-nanjing"
    src = sources_file(web, tmp_path / "sources.toml", [site])
    rules = alerts_file(tmp_path / "alerts.toml", f"""[[rule]]
name = "daily"
channels = ["{hook.url()}"]
mode = "digest"
cron = "*/3 * * * * *"
[rule.match]
sources = ["{site}"]
""")
    run_cli("alerts", "send", "--once", "--db", sqlite_url, "--alerts-file", str(rules), check=True)
    run_cli("crawl", site, "--db", sqlite_url, "--sources-file", str(src), check=True)
    expected = stories(sqlite_url)
    check = run_cli("alerts", "check", "daily", "--db", sqlite_url, "--alerts-file", str(rules), check=True).stdout
    assert f"a digest of {len(expected)} article(s)" in check and hook.requests == []  # a dry run

    service = Service(["--db", sqlite_url, "--sources-file", str(src), "--alerts-file", str(rules),
                       "--schedule-override", f"{site}=0 0 1 1 *"], cli_env)  # no crawl while the test runs
    try:
        service.wait_for(r"alerts: .* 1 digest\(s\); sent 1")
        for _ in range(2):  # two more slots: nothing new matched, nothing sent
            service.wait_for(r"alerts: 0 new match\(es\), 0 health change\(s\), 0 digest\(s\); sent 0")
    finally:
        assert service.stop() == 0
    (digest,) = hook.documents()
    assert digest["kind"] == "digest" and sorted(a["id"] for a in digest["articles"]) == sorted(expected)


def test_the_scheduler_service_sends_after_each_crawl(web, hook, tmp_path, sqlite_url, cli_env):
    site = "wimc-nanjing"
    src = sources_file(web, tmp_path / "sources.toml", [site])
    rules = alerts_file(tmp_path / "alerts.toml", each_rule("nanjing", [hook.url()], f'sources = ["{site}"]'))
    service = Service(["--db", sqlite_url, "--sources-file", str(src), "--alerts-file", str(rules),
                       "--schedule-override", f"{site}=*/5 * * * * *"], cli_env)
    try:
        service.wait_for(rf"{site}: crawl ok")
        sent = service.wait_for(r"alerts: (\d+) new match\(es\), 0 health change\(s\), 0 digest\(s\); sent (\d+)")
        service.wait_for(rf"{site}: crawl ok")  # the next crawl finds nothing new
        service.wait_for(r"alerts: 0 new match\(es\), 0 health change\(s\), 0 digest\(s\); sent 0,")
    finally:
        assert service.stop() == 0
    expected = stories(sqlite_url)
    assert int(sent.group(1)) == int(sent.group(2)) == len(expected) > 0
    assert sorted(d["articles"][0]["id"] for d in hook.documents()) == sorted(expected)
