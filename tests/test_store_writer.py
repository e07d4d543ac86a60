"""The batching store writer: many jobs per transaction, one bad job loses nothing else."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from storage.engine import session_factory
from storage.migrate import ensure_schema
from storage.models import SkippedPage
from storage.store import ensure_source, record_skipped_page
from storage.writer import BatchWriter


@pytest.fixture
def store(sqlite_url):
    ensure_schema(sqlite_url)
    db = session_factory(sqlite_url)
    with db.begin() as session:
        source_id = ensure_source(session, "site")
    begins: list[int] = []
    event.listen(db.kw["bind"], "begin", lambda conn: begins.append(1))
    return db, source_id, begins


def skipped_urls(db) -> list[str]:
    with db() as session:
        return sorted(session.execute(select(SkippedPage.url)).scalars())


def held_writer(db):
    """A writer whose thread is busy in a first job until the returned event is set."""
    started, release = threading.Event(), threading.Event()
    writer = BatchWriter(max_batch=100)

    def hold(session):
        session.execute(select(1))  # opens the transaction
        started.set()
        return release.wait(10)

    first = writer.submit(db, hold)
    assert started.wait(10)
    return writer, release, first


def test_jobs_queued_while_busy_share_one_transaction_and_keep_their_order(store):
    db, source_id, begins = store
    writer, release, first = held_writer(db)
    futures = [writer.submit(db, lambda s, n=n: (record_skipped_page(s, source_id, f"http://x/{n:02d}", "js_shell"), n)[1])
               for n in range(20)]
    release.set()
    assert first.result(10) is True
    assert [f.result(10) for f in futures] == list(range(20))
    writer.close()
    assert len(begins) == 2  # the held job's transaction, then one for all 20 jobs queued behind it
    assert skipped_urls(db) == [f"http://x/{n:02d}" for n in range(20)]


def test_a_failing_job_fails_alone_and_the_rest_of_its_batch_is_committed(store):
    db, source_id, _ = store
    writer, release, _ = held_writer(db)

    def bad(session):
        record_skipped_page(session, source_id, "http://x/bad", "js_shell")  # rolled back with the job
        raise ValueError("no such page")

    good = [writer.submit(db, lambda s, n=n: record_skipped_page(s, source_id, f"http://x/{n}", "js_shell"))
            for n in range(3)]
    failing = writer.submit(db, bad)
    after = writer.submit(db, lambda s: record_skipped_page(s, source_id, "http://x/after", "js_shell"))
    release.set()
    with pytest.raises(ValueError, match="no such page"):
        failing.result(10)
    for future in (*good, after):
        future.result(10)
    writer.close()
    assert skipped_urls(db) == ["http://x/0", "http://x/1", "http://x/2", "http://x/after"]


def test_a_database_failure_fails_every_job_of_its_batch_without_retrying(store):
    db, source_id, _ = store
    writer, release, _ = held_writer(db)
    runs: list[int] = []

    def locked(session):
        runs.append(1)
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    futures = [writer.submit(db, lambda s, n=n: record_skipped_page(s, source_id, f"http://x/{n}", "js_shell"))
               for n in range(2)] + [writer.submit(db, locked)]
    release.set()
    for future in futures:
        with pytest.raises(OperationalError, match="database is locked"):
            future.result(10)
    writer.close()
    assert runs == [1]  # not retried job by job: every retry would wait out the busy timeout again
    assert skipped_urls(db) == []


def test_close_commits_what_is_queued_and_refuses_more(store):
    db, source_id, _ = store
    writer, release, _ = held_writer(db)
    futures = [writer.submit(db, lambda s, n=n: record_skipped_page(s, source_id, f"http://x/{n}", "js_shell"))
               for n in range(5)]
    release.set()
    writer.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with db() as session:
        assert session.execute(select(func.count()).select_from(SkippedPage)).scalar_one() == 5
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(db, lambda s: None)
