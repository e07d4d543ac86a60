"""The store writer: many jobs per transaction in a process of its own; one bad job loses nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from storage.engine import session_factory
from storage.migrate import ensure_schema
from storage.models import SkippedPage
from storage.store import ensure_source, record_skipped_page
from storage.writer import BatchWriter, WriterDied
from waiting import wait_until


# -- jobs (module-level: they are pickled to the writer process) ----------------------------

def skip(session, source_id: int, n: int) -> int:
    """Remember http://x/<n> as a skipped page; returns the transaction's identity (the session)."""
    record_skipped_page(session, source_id, f"http://x/{n:02d}", "js_shell")
    return id(session)


def hold(session, signals: str) -> int:
    """Open a transaction, say so, and keep the writer busy until released (files in `signals`)."""
    session.execute(text("SELECT 1"))
    Path(signals, "started.tmp").write_text(str(os.getpid()))
    Path(signals, "started.tmp").rename(Path(signals, "started"))  # seen whole, never empty
    deadline = time.monotonic() + 30
    while not Path(signals, "release").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return id(session)


def bad(session, source_id: int) -> None:
    record_skipped_page(session, source_id, "http://x/bad", "js_shell")  # rolled back with the job
    raise ValueError("no such page")


def locked(session) -> None:
    raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))


# -- fixtures -----------------------------------------------------------------------------

@pytest.fixture
def store(sqlite_url):
    ensure_schema(sqlite_url)
    with session_factory(sqlite_url).begin() as session:
        source_id = ensure_source(session, "site")
    return sqlite_url, source_id


@pytest.fixture
def writer():
    running = BatchWriter(max_batch=100)
    yield running
    running.close()


def held(writer: BatchWriter, url: str, tmp_path: Path):
    """Keep the writer busy in a first job; returns (that job's future, release())."""
    first = writer.submit(url, partial(hold, signals=str(tmp_path)))
    wait_until((tmp_path / "started").exists, "the writer to start the first job", timeout=30, interval=0.01)
    return first, lambda: (tmp_path / "release").write_text("go")


def skipped_urls(url: str) -> list[str]:
    with session_factory(url)() as session:
        return sorted(session.execute(select(SkippedPage.url)).scalars())


# -- tests --------------------------------------------------------------------------------

def test_jobs_queued_while_busy_share_one_transaction_and_keep_their_order(store, writer, tmp_path):
    url, source_id = store
    first, release = held(writer, url, tmp_path)
    futures = [writer.submit(url, partial(skip, source_id=source_id, n=n)) for n in range(20)]
    release()
    sessions = {f.result(30) for f in futures}
    assert len(sessions) == 1  # all 20 in one transaction ...
    assert first.result(30) not in sessions  # ... after the one that was running
    assert skipped_urls(url) == [f"http://x/{n:02d}" for n in range(20)]


def test_the_writing_happens_in_another_process(store, writer, tmp_path):
    url, _ = store
    first, release = held(writer, url, tmp_path)
    release()
    first.result(30)
    assert int((tmp_path / "started").read_text()) != os.getpid()


def test_a_failing_job_fails_alone_and_the_rest_of_its_batch_is_committed(store, writer, tmp_path):
    url, source_id = store
    _, release = held(writer, url, tmp_path)
    good = [writer.submit(url, partial(skip, source_id=source_id, n=n)) for n in range(3)]
    failing = writer.submit(url, partial(bad, source_id=source_id))
    after = writer.submit(url, partial(skip, source_id=source_id, n=99))
    release()
    with pytest.raises(ValueError, match="no such page"):
        failing.result(30)
    for future in (*good, after):
        future.result(30)
    assert skipped_urls(url) == ["http://x/00", "http://x/01", "http://x/02", "http://x/99"]


def test_a_database_failure_fails_every_job_of_its_batch(store, writer, tmp_path):
    url, source_id = store
    _, release = held(writer, url, tmp_path)
    futures = [writer.submit(url, partial(skip, source_id=source_id, n=n)) for n in range(2)]
    futures.append(writer.submit(url, locked))
    release()
    for future in futures:
        with pytest.raises(OperationalError, match="database is locked"):
            future.result(30)
    assert skipped_urls(url) == []  # not retried job by job: each retry would wait out the busy timeout again


def test_a_killed_writer_process_fails_its_batch_loudly_and_a_new_one_takes_over(store, writer, tmp_path):
    url, source_id = store
    first, _ = held(writer, url, tmp_path)
    waiting = writer.submit(url, partial(skip, source_id=source_id, n=1))
    os.kill(int((tmp_path / "started").read_text()), signal.SIGKILL)
    with pytest.raises(WriterDied, match="not committed"):
        first.result(30)
    assert writer.submit(url, partial(skip, source_id=source_id, n=2)).result(30)
    waiting.result(30)  # queued behind the dead batch: written by the new process
    assert skipped_urls(url) == ["http://x/01", "http://x/02"]


def test_close_commits_what_is_queued_and_refuses_more(store, tmp_path):
    url, source_id = store
    writer = BatchWriter()
    first, release = held(writer, url, tmp_path)
    futures = [writer.submit(url, partial(skip, source_id=source_id, n=n)) for n in range(5)]
    release()
    writer.close()
    assert all(f.done() and f.exception() is None for f in (first, *futures))
    assert len(skipped_urls(url)) == 5
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(url, partial(skip, source_id=source_id, n=9))


def test_the_writer_process_ends_when_its_crawl_process_is_killed(store, tmp_path):
    url, _ = store
    repo = Path(__file__).resolve().parent.parent
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = [{str(repo)!r}, {str(repo / "tests")!r}]
        from functools import partial
        from storage.writer import BatchWriter
        import test_store_writer
        BatchWriter().submit({url!r}, partial(test_store_writer.hold, signals={str(tmp_path)!r}))
        time.sleep(120)
    """)])
    try:
        wait_until((tmp_path / "started").exists, "the writer to start", alive=lambda: owner.poll() is None)
        writer_pid = int((tmp_path / "started").read_text())
        owner.kill()  # kill -9 of the crawl process, mid-batch
        owner.wait()
        (tmp_path / "release").write_text("go")  # the batch's job returns; nobody is left to take the result
        deadline = time.monotonic() + 20
        while is_running(writer_pid):
            if time.monotonic() > deadline:
                os.kill(writer_pid, signal.SIGKILL)  # leave no orphan behind the failure
                pytest.fail(f"writer process {writer_pid} outlived its crawl process")
            time.sleep(0.1)
    finally:
        owner.kill()


def is_running(pid: int) -> bool:
    """True while pid is a live process (a zombie waiting to be reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
