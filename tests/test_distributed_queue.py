"""The shared queue's parts against a real Redis (tests/redisserver.py): entries, leases, redelivery,
poisoning, enqueueing a round, the shared per-site pace, and connecting."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone

import pytest
from scrapy import Request
from scrapy.exceptions import DropItem
from scrapy.http import HtmlResponse, Response
from scrapy.utils.request import request_from_dict
from scrapy.utils.test import get_crawler
from sqlalchemy import select

from crawler.distributed import serializer
from crawler.distributed.enqueue import enqueue_source
from crawler.distributed.keys import (
    PENDING,
    RedisUnavailable,
    connect,
    draining_key,
    inflight_key,
    queue_key,
    seen_key,
    suspects_key,
)
from crawler.distributed.leases import LeaseKeeper
from crawler.distributed.pace import SharedPace
from crawler.distributed.poison import POISONED_REASON, count_crash, poisoned_entries, record_poisoned
from crawler.distributed.queue import DELIVERIES, LEASE, Dropped, LeasedQueue, requeue
from crawler.distributed.spiders import consumer_class, source_spider_class
from crawler.items import FetchedPage
from crawler.middlewares import KIND, NOT_BEFORE
from pgserver import free_port
from redisserver import redis_server, redis_url  # noqa: F401  (fixtures)
from spiders.sources import parse_sources
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.models import SkippedPage
from storage.store import known_urls

WORKER = "test-host:1:abc"
SOURCES = """
[[source]]
name = "wire"
feeds = ["http://127.0.0.1:9/wire.xml"]
allow_private_addresses = true

[[source]]
name = "expo-news"
feeds = ["http://127.0.0.1:9/rss.xml"]
sitemaps = ["http://127.0.0.1:9/sitemap.xml"]
list_pages = ["http://127.0.0.1:9/news/"]
article_pattern = '/news/\\d+\\.html$'
allow_private_addresses = true
"""


@pytest.fixture
def sources():
    return {s.name: s for s in parse_sources(SOURCES, where="test")}


@pytest.fixture
def source(sources):
    return sources["expo-news"]


@pytest.fixture
def server(redis_url):  # noqa: F811
    client = connect(redis_url)
    yield client
    client.close()


def worker_spider(source, db_url: str):
    """A worker's spider for the source, with the settings a worker gives it (and a store of the test's own)."""
    crawler = get_crawler(consumer_class(source_spider_class(source)),
                          {"EXPOWATCH_WORKER_ID": WORKER, "EXPOWATCH_DB_URL": db_url})
    return crawler.spidercls.from_crawler(crawler)


@pytest.fixture
def spider(source, sqlite_url):
    return worker_spider(source, sqlite_url)


@pytest.fixture
def queue(server, spider):
    return LeasedQueue(server, spider, queue_key(spider.name), serializer)


def article_request(spider, number: int, **meta) -> Request:
    return Request(f"http://127.0.0.1:9/news/{number}.html", callback=spider.parse_article,
                   errback=spider.request_failed, meta={KIND: "article", **meta})


def test_a_request_survives_the_queue_unchanged(spider):
    request = Request("http://127.0.0.1:9/news/1.html?q=%E5%8D%9A", callback=spider.parse_article,
                      errback=spider.request_failed, method="POST", body=b"\x00\xffbinary",
                      headers={"If-None-Match": '"abc"', "Accept-Language": ["zh", "en"]},
                      cookies={"session": "1"}, priority=7, dont_filter=True, flags=["x"],
                      meta={KIND: "article", "nested": {"when": "2024-06-20", "pages": [1, 2]},
                            "raw": b"\x01", "$b": "a key that looks like a tag"},
                      cb_kwargs={"page": 2})
    entry = serializer.dumps(request.to_dict(spider=spider))
    json.loads(entry)  # plain JSON, readable with redis-cli
    back = request_from_dict(serializer.loads(entry), spider=spider)
    assert back.to_dict(spider=spider) == request.to_dict(spider=spider)
    assert back.callback == spider.parse_article and back.errback == spider.request_failed
    assert serializer.dumps(back.to_dict(spider=spider)) == entry  # canonical: the same request is the same entry


def test_a_value_json_cannot_hold_is_named():
    with pytest.raises(serializer.UnqueueableValue, match=r"request\.meta\.when: a set"):
        serializer.dumps({"meta": {"when": {1, 2}}})


def test_pop_leases_by_priority_and_acknowledging_ends_the_lease(server, spider, queue):
    for number, priority in ((1, 0), (2, 10), (3, 5)):
        request = article_request(spider, number)
        request.priority = priority
        queue.push(request)
    assert len(queue) == 3 and server.sismember(PENDING, spider.name)
    popped = [queue.pop() for _ in range(3)]
    assert [r.url.rsplit("/", 1)[1] for r in popped] == ["2.html", "3.html", "1.html"]
    assert queue.pop() is None
    held = server.hgetall(inflight_key(WORKER))
    assert set(held) == {r.meta[LEASE].encode() for r in popped}
    assert all(value.startswith(b"expo-news\n") for value in held.values())
    server.hdel(inflight_key(WORKER), popped[0].meta[LEASE])  # what LeaseKeeper does when a request is done
    assert queue.settle(finished=False) == 2  # stopped early: the two unfinished go back
    assert len(queue) == 2 and not server.exists(inflight_key(WORKER))


def test_a_finished_crawl_forgets_its_leases(server, spider, queue):
    queue.push(article_request(spider, 1))
    queue.pop()
    assert queue.settle(finished=True) == 0
    assert len(queue) == 0 and not server.exists(inflight_key(WORKER))


def test_a_retry_takes_over_the_lease_of_the_request_it_repeats(server, spider, queue):
    queue.push(article_request(spider, 1))
    parent = queue.pop()
    child = article_request(spider, 2, **{LEASE: parent.meta[LEASE]})  # a new request that copied its parent's meta
    queue.push(child)
    assert server.hexists(inflight_key(WORKER), parent.meta[LEASE])  # the parent is not done yet
    retry = parent.replace()  # what Scrapy's retry middleware schedules: the same meta plus retry_times
    retry.meta["retry_times"] = 1
    queue.push(retry)
    assert not server.exists(inflight_key(WORKER))  # the queued retry is now the record of that page
    assert sorted((r.url, r.meta.get("retry_times")) for r in (queue.pop(), queue.pop())) == [
        ("http://127.0.0.1:9/news/1.html", 1), ("http://127.0.0.1:9/news/2.html", None)]


def test_backoff_crosses_machines_as_wall_clock_time(server, spider, queue):
    request = article_request(spider, 1, **{NOT_BEFORE: time.monotonic() + 30})
    queue.push(request)
    entry = server.zrange(queue_key(spider.name), 0, 0)[0]
    queued_meta = json.loads(entry)["meta"]
    assert NOT_BEFORE not in queued_meta
    assert abs(queued_meta["expowatch_not_before_epoch"] - (time.time() + 30)) < 2
    assert abs(queue.pop().meta[NOT_BEFORE] - (time.monotonic() + 30)) < 2


def test_requests_held_by_a_dead_worker_come_back_as_suspects_taken_alone(server, spider, queue, sources, sqlite_url):
    for number in (1, 2, 3):
        queue.push(article_request(spider, number))
    held = [queue.pop(), queue.pop()]
    assert requeue(server, WORKER, died=True, max_deliveries=3) == (2, [])  # the worker died holding two
    assert server.zcard(suspects_key(spider.name)) == 2 and len(queue) == 3
    assert requeue(server, WORKER, died=True, max_deliveries=3) == (0, [])  # a second reaper finds nothing
    suspect = queue.pop()  # this worker holds nothing: it takes a suspect first, and then nothing else
    assert suspect.meta[DELIVERIES] == 1 and suspect.url in {r.url for r in held}
    assert queue.pop() is None
    server.hdel(inflight_key(WORKER), suspect.meta[LEASE])  # done: it was innocent
    normal = LeasedQueue(server, spider, queue_key(spider.name), serializer)  # the next suspect waits ...
    server.zadd(suspects_key(spider.name), {server.zrange(suspects_key(spider.name), 0, 0)[0]: 0})
    other = LeasedQueue(server, worker_spider(sources["wire"], sqlite_url), queue_key("wire"), serializer)
    other.push(Request("http://127.0.0.1:9/wire/1.html", meta={KIND: "article"}))
    taken = other.pop()  # ... while this worker holds a request of another source:
    assert normal.pop() is None and server.exists(draining_key(WORKER))  # it drains,
    other.push(Request("http://127.0.0.1:9/wire/2.html", meta={KIND: "article"}))
    assert other.pop() is None  # taking nothing new for any source,
    server.hdel(inflight_key(WORKER), taken.meta[LEASE])
    last = normal.pop()  # until it holds nothing: then the suspect, alone
    assert last.meta[DELIVERIES] == 1 and last.url != suspect.url and not server.exists(draining_key(WORKER))
    assert other.pop() is None
    server.hdel(inflight_key(WORKER), last.meta[LEASE])
    assert {queue.pop().url, other.pop().url} == {"http://127.0.0.1:9/news/3.html", "http://127.0.0.1:9/wire/2.html"}


def test_a_request_whose_workers_keep_dying_is_dropped(server, spider, queue):
    queue.push(article_request(spider, 1))
    for deliveries in (1, 2):
        queue.pop()
        assert requeue(server, WORKER, died=True, max_deliveries=3) == (1, [])
        assert requeue(server, WORKER, died=False, max_deliveries=3) == (0, [])  # a clean stop counts none
    request = queue.pop()
    assert request.meta[DELIVERIES] == 2
    returned, dropped = requeue(server, WORKER, died=True, max_deliveries=3)
    assert returned == 0 and dropped == [Dropped("expo-news", request.url, "article", 3)]
    assert len(queue) == 0 and not server.exists(inflight_key(WORKER))


def test_a_poisoned_article_is_recorded_and_not_fetched_next_run(server, sqlite_url):
    upgrade(sqlite_url)
    url = "http://127.0.0.1:9/news/7.html?utm_source=feed"
    assert [count_crash(server, url) for _ in range(3)] == [1, 2, 3]  # across runs: the count lives in Redis
    make = session_factory(sqlite_url)
    record_poisoned(server, make, Dropped("expo-news", url, "article", 3), "extraction crashed on every try")
    record_poisoned(server, make, Dropped("expo-news", "http://127.0.0.1:9/news/", "list", 3), "workers died")
    with make() as session:
        assert session.scalars(select(SkippedPage.reason)).all() == [POISONED_REASON]  # only the article page
        assert known_urls(session, ["http://127.0.0.1:9/news/7.html"]) == {"http://127.0.0.1:9/news/7.html"}
    assert [(e["kind"], e["url"]) for e in poisoned_entries(server)] == [
        ("list", "http://127.0.0.1:9/news/"), ("article", url)]


def test_a_request_is_done_when_its_items_are_and_a_page_that_crashes_extraction_is_poisoned(
        server, spider, queue, redis_url, sqlite_url):  # noqa: F811
    upgrade(sqlite_url)
    keeper = LeaseKeeper.from_crawler(get_crawler(settings_dict={
        "EXPOWATCH_WORKER_ID": WORKER, "REDIS_URL": redis_url, "EXPOWATCH_DB_URL": sqlite_url,
        "EXPOWATCH_MAX_DELIVERIES": 3}))

    def fetched() -> tuple[Response, FetchedPage]:
        queue.push(article_request(spider, 1))
        request = queue.pop()
        response = HtmlResponse(request.url, body=b"<html></html>", request=request)
        return response, FetchedPage(source="expo-news", url=request.url, request_url=request.url, status=200,
                                     body=response.body, http_charset=None, content_type="text/html",
                                     fetched_at=datetime.now(timezone.utc))

    def run_callback(response, *outputs) -> None:
        async def output():
            for value in outputs:
                yield value

        async def consume():
            return [value async for value in keeper.process_spider_output(response, output())]

        asyncio.run(consume())

    def in_flight(response) -> bool:
        return server.hexists(inflight_key(WORKER), response.meta[LEASE])

    response, item = fetched()
    run_callback(response, item, Request("http://127.0.0.1:9/news/2.html"))
    assert in_flight(response)  # its item is still in the pipelines
    keeper.item_done(item, response)
    assert not in_flight(response)

    for crash in range(3):  # extraction crashed on the page in three rounds
        response, item = fetched()
        run_callback(response, item)
        try:
            raise DropItem("extraction failed") from RuntimeError("the extractor process died")
        except DropItem as dropped:
            keeper.item_dropped(item, response, dropped)
        assert not in_flight(response)  # a dropped page is done for this round
    with session_factory(sqlite_url)() as session:
        assert session.execute(select(SkippedPage.url, SkippedPage.reason)).all() == [(item.url, POISONED_REASON)]
    assert [(e["url"], e["tries"]) for e in poisoned_entries(server)] == [(item.url, 3)]


def test_enqueue_queues_a_round_once_and_resets_what_was_seen(server, source):
    first = enqueue_source(server, source)
    assert (first.requests, first.waiting) == (3, 0) and first.queued
    entries = [json.loads(e) for e in server.zrange(queue_key(source.name), 0, -1)]
    assert {e["callback"] for e in entries} == {"parse_feed", "parse_sitemap", "parse_list_page"}
    assert {e["errback"] for e in entries} == {"request_failed"}
    assert server.scard(seen_key(source.name)) == 3
    busy = enqueue_source(server, source)
    assert (busy.requests, busy.waiting) == (0, 3) and "busy" in busy.describe()
    server.delete(queue_key(source.name))
    server.sadd(seen_key(source.name), "a fingerprint from the last round")
    assert enqueue_source(server, source).requests == 3
    assert server.scard(seen_key(source.name)) == 3


def test_the_shared_pace_gives_one_turn_per_delay(redis_url):  # noqa: F811
    pace_a, pace_b = SharedPace(connect(redis_url)), SharedPace(connect(redis_url))  # two workers
    assert pace_a.take_turn("site.example", 0.5) == 0
    wait = pace_b.take_turn("site.example", 0.5)  # the same site: wait for the rest of the delay
    assert 0.3 < wait <= 0.5
    assert pace_b.take_turn("other.example", 0.5) == 0  # other sites are not held up
    pace_b.pause("site.example", 2.0)  # a Retry-After seen by one worker holds every worker
    assert 1.5 < pace_a.take_turn("site.example", 0.5) <= 2.0
    pace_a.pause("site.example", 0.1)  # a shorter pause never shortens a longer wait
    assert pace_a.take_turn("site.example", 0.5) > 1.0
    assert pace_a.take_turn("free.example", 0) == 0 and pace_b.take_turn("free.example", 0) == 0  # no delay


def test_an_unreachable_redis_is_one_clear_error():
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnavailable) as caught:
        connect(url)
    message = str(caught.value)
    assert message.startswith(f"cannot reach Redis at redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}")
    assert "secret" not in message and "\n" not in message
    with pytest.raises(RedisUnavailable, match="bad Redis URL"):
        connect("http://127.0.0.1/")
