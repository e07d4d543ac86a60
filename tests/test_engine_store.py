"""What a crawl reads from and writes to the store stays off the reactor thread (issue 17: "nothing
blocks the reactor"): run results and validators are committed in batches by a thread of their own,
and the spider's known-URL lookup runs in a thread while the reactor goes on."""

from __future__ import annotations

import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from sqlalchemy import select

from crawler.runrecord import StoreBatch
from storage.engine import session_factory
from storage.migrate import upgrade
from storage.models import SourceRow
from storage.store import ensure_source

REPO = Path(__file__).resolve().parent.parent


class FakeReactorThread:
    """Stands for the reactor's callFromThread: calls are queued and run by the test's own thread."""

    def __init__(self):
        self.calls: queue.Queue = queue.Queue()

    def __call__(self, function, *args):
        self.calls.put((threading.current_thread(), function, args))

    def run(self, count: int) -> set[threading.Thread]:
        threads = set()
        for _ in range(count):
            thread, function, args = self.calls.get(timeout=30)
            threads.add(thread)
            function(*args)
        return threads


def test_writes_are_committed_off_the_calling_thread_and_a_failing_one_fails_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    reactor = FakeReactorThread()
    batch = StoreBatch(url, call_in_reactor=reactor)
    release, writers = threading.Event(), set()

    def held(session):  # keeps the batch thread busy while the next writes queue up behind it
        writers.add(threading.current_thread())
        release.wait(30)
        ensure_source(session, "held")

    def source(name):
        def write(session):
            writers.add(threading.current_thread())
            ensure_source(session, name)
        return write

    def broken(session):
        ensure_source(session, "never")
        raise ValueError("this write fails")

    outcomes: dict[str, object] = {}
    deferreds = {"held": batch.submit(held)}
    deferreds.update(a=batch.submit(source("a")), bad=batch.submit(broken), b=batch.submit(source("b")))
    for name, deferred in deferreds.items():
        deferred.addBoth(lambda result, name=name: outcomes.__setitem__(name, result))
    release.set()
    callers = reactor.run(4)

    assert threading.current_thread() not in writers | callers  # written and answered from the batch thread
    assert outcomes["held"] is None and outcomes["a"] is None and outcomes["b"] is None
    assert outcomes["bad"].check(ValueError)  # its own Deferred fails; the writes batched with it are kept
    with session_factory(url)() as session:
        assert set(session.scalars(select(SourceRow.name))) == {"held", "a", "b"}


LOOKUP = textwrap.dedent("""
    import sys, threading, time
    from scrapy.utils.reactor import install_reactor
    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from twisted.internet import reactor, task
    from scrapy.utils.defer import deferred_from_coro
    from spiders.generic import GenericSourceSpider
    from spiders.sources import Source
    from storage.engine import session_factory
    from storage.migrate import upgrade
    from storage.store import known_urls

    url = sys.argv[1]
    upgrade(url)
    source = Source(name="s", homepage="http://a.example", feeds=["http://a.example/feed.xml"])
    reads, ticks = [], []

    class Spider(GenericSourceSpider):
        name = "s"

        def _read_store(self, read, *args, **kwargs):  # the spider's own reader, watched
            reads.append(threading.current_thread() is threading.main_thread())
            time.sleep(0.3)  # a slow store: the reactor must go on meanwhile
            return super()._read_store(read, *args, **kwargs)

    Spider.source = source
    spider = Spider()
    spider.db = session_factory(url, for_writing=False)

    async def main():
        loop = task.LoopingCall(lambda: ticks.append(1))
        loop.start(0.02)
        found = await spider._stored(["http://a.example/1", "http://a.example/2"])
        loop.stop()
        return found

    def done(found):
        print(f"found={sorted(found)} main_thread_reads={reads} ticks={len(ticks)}")
        reactor.stop()

    deferred_from_coro(main()).addBoth(done)
    reactor.run()
""")


def test_the_known_url_lookup_runs_in_a_thread_while_the_reactor_goes_on(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = subprocess.run([sys.executable, "-c", LOOKUP, url], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    line = result.stdout.strip().splitlines()[-1]
    assert "found=[] main_thread_reads=[False]" in line
    ticks = int(line.rsplit("ticks=", 1)[1])
    assert ticks >= 5  # the reactor ran its timer while the store was slow (0.3 s at 20 ms a tick)
