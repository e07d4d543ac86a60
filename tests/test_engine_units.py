"""Units of the crawl engine: its protocol, the limits shared by its crawls, robots.txt caching
rules and the robots_cache table (fast tier: no processes, no servers)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from scrapy.http import Response

from crawler.engine import protocol
from crawler.engine.pace import EngineLimits
from crawler.engine.process import EngineConfig, engine_settings
from crawler.robots import DEFAULT_MAX_AGE, cache_seconds
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.robots import load_robots, save_robots

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_messages_are_json_lines_and_the_end_of_the_stream_is_none():
    stream = io.BytesIO(protocol.encode(protocol.CRAWL, run=7, source="a") + protocol.encode(protocol.DRAIN, reason=None))
    assert protocol.read_message(stream) == {"op": "crawl", "run": 7, "source": "a"}
    assert protocol.read_message(stream) == {"op": "drain", "reason": None}
    assert protocol.read_message(stream) is None
    with pytest.raises(ValueError, match="not an engine message"):
        protocol.read_message(io.BytesIO(b"[1, 2]\n"))


def test_the_engine_config_survives_its_trip_on_the_command_line():
    config = EngineConfig(db_url="sqlite:///x.db", sources_file="s.toml", max_requests=8,
                          settings={"SPIDER_MODULES": ["spiders"]})
    assert EngineConfig.from_json(config.to_json()) == config


def test_engine_settings_route_downloads_through_the_shared_limits_and_copy_with_their_priorities():
    settings = engine_settings(EngineConfig(db_url="sqlite:///x.db", max_requests=8))
    assert settings.getdict("DOWNLOAD_HANDLERS")["http"] == "crawler.engine.pace.EngineDownloadHandler"
    copy = settings.copy()
    assert copy is not settings and type(copy) is type(settings)
    for name in ("EXPOWATCH_DB_URL", "DOWNLOAD_DELAY", "EXPOWATCH_ENGINE_MAX_REQUESTS"):
        assert copy.getpriority(name) == settings.getpriority(name) and copy[name] == settings[name]
    copy.set("DOWNLOAD_DELAY", 9, priority="spider")
    assert settings.getfloat("DOWNLOAD_DELAY") != 9  # a crawl's own settings stay its own


def test_a_site_requested_by_another_crawl_waits_for_the_larger_delay_its_own_crawl_for_its_shortest_gap():
    limits = EngineLimits(4)
    assert limits.wait_for("a.example", crawl=1, delay=2.0, now=100.0) == 0.0
    limits.take("a.example", crawl=1, delay=2.0, now=100.0)
    # its own next request: as soon as its downloader could have sent it (delay less Scrapy's jitter)
    assert limits.wait_for("a.example", crawl=1, delay=2.0, now=100.5, jitter=0.5) == pytest.approx(0.5)
    assert limits.wait_for("a.example", crawl=1, delay=2.0, now=101.0, jitter=0.5) == 0.0
    assert limits.wait_for("a.example", crawl=1, delay=2.0, now=100.5) == pytest.approx(1.5)  # no jitter
    assert limits.wait_for("a.example", crawl=2, delay=0.5, now=100.5, jitter=0.5) == pytest.approx(1.5)
    assert limits.wait_for("b.example", crawl=2, delay=0.5, now=100.5) == 0.0
    limits.pause("a.example", 30.0, now=101.0)  # a Retry-After holds for every crawl, its own too
    assert limits.wait_for("a.example", crawl=1, delay=2.0, now=102.0) == pytest.approx(29.0)
    limits.forget_idle(now=10_000.0)
    assert limits.sites == {}
    limits.take("b.example", crawl=2, delay=0.0, now=20_000.0)  # taking a turn sweeps idle sites now and then
    limits.take("c.example", crawl=2, delay=0.0, now=30_000.0)
    assert list(limits.sites) == ["c.example"]
    with pytest.raises(ValueError, match="at least 1"):
        EngineLimits(0)


@pytest.mark.parametrize("headers, seconds", [
    ({}, DEFAULT_MAX_AGE),
    ({"Cache-Control": "public, max-age=600"}, 600),
    ({"Cache-Control": "max-age=999999"}, DEFAULT_MAX_AGE),  # never past 24 h (RFC 9309)
    ({"Cache-Control": "no-cache"}, 0),
    ({"Cache-Control": "no-store"}, 0),
    ({"Expires": "Sun, 01 Mar 2026 13:00:00 GMT"}, 3600),
    ({"Expires": "0"}, 0),
])
def test_robots_txt_is_reused_as_long_as_its_caching_headers_say_up_to_a_day(headers, seconds):
    response = Response("http://a.example/robots.txt", headers=headers)
    assert cache_seconds(response, NOW, DEFAULT_MAX_AGE) == seconds


def test_the_robots_cache_keeps_one_entry_per_site_and_replaces_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    db = session_factory(url)
    for body, expires in ((b"User-agent: *\nDisallow: /a\n", NOW + timedelta(hours=1)),
                          (b"User-agent: *\nDisallow: /b\n", NOW + timedelta(hours=2))):
        with db.begin() as session:
            save_robots(session, "http://a.example", status=200, body=body, etag='"x"', last_modified=None,
                        fetched_at=NOW, expires_at=expires)
    with db() as session:
        entry = load_robots(session, "http://a.example")
        assert load_robots(session, "http://b.example") is None
    assert entry.body == b"User-agent: *\nDisallow: /b\n" and entry.expires_at == NOW + timedelta(hours=2)
    assert entry.etag == '"x"' and entry.status == 200
