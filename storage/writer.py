"""One writer thread that commits store jobs in batches.

A job is a function of a Session (store one article, remember one skipped page).
Jobs queued while a transaction runs share the next one, so under load one BEGIN and
one COMMIT serve many articles instead of one each; when the crawl is slow, a batch
is a single job and nothing waits. Jobs are committed in the order they were
submitted, and each job's future resolves only once its transaction has committed.

If a batch fails, it is rolled back as a whole. A database-level failure (locked,
unreachable, disk full: sqlalchemy's OperationalError) fails every job of the batch
with that error; any other error is one job's own, so the jobs are retried one
transaction each and only the bad one fails.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

MAX_BATCH = 100  # jobs per transaction: long enough to amortise the commit, short enough to hold a lock briefly

Job = Callable[[Session], Any]


@dataclass
class _Queued:
    db: sessionmaker
    job: Job
    future: Future = field(default_factory=Future)


class BatchWriter:
    """A thread running Session jobs, many per transaction.

        writer = BatchWriter()
        outcome = await asyncio.wrap_future(writer.submit(db, lambda session: store_article(session, record)))
    """

    def __init__(self, max_batch: int = MAX_BATCH, name: str = "expowatch-store") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._held: _Queued | None = None  # first job of the next batch (it needed another database)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, db: sessionmaker, job: Job) -> Future:
        """Queue job(session) for the store behind db; the future holds its result once committed."""
        if self._closed:
            raise RuntimeError("the store writer is closed")
        queued = _Queued(db, job)
        self._queue.put(queued)
        return queued.future

    def close(self) -> None:
        """Commit every queued job, then stop the thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            batch, last = self._next_batch()
            if batch:
                self._commit(batch)
            if last:
                return

    def _next_batch(self) -> tuple[list[_Queued], bool]:
        """The next jobs for one database, waiting for the first; True when the writer is closing."""
        first = self._held or self._queue.get()
        self._held = None
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                queued = self._queue.get_nowait()
            except queue.Empty:
                break
            if queued is None:
                return batch, True
            if queued.db is not first.db:
                self._held = queued
                break
            batch.append(queued)
        return batch, False

    def _commit(self, batch: list[_Queued]) -> None:
        live = [q for q in batch if q.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            with live[0].db.begin() as session:
                results = [q.job(session) for q in live]
        except OperationalError as exc:
            for queued in live:
                queued.future.set_exception(exc)
        except Exception as exc:  # noqa: BLE001 - one job's own failure: find it, keep the others
            if len(live) == 1:
                live[0].future.set_exception(exc)
                return
            logger.debug("a batch of %d store jobs failed (%s); retrying them one by one", len(live), exc)
            for queued in live:
                self._commit_alone(queued)
        else:
            for queued, result in zip(live, results):
                queued.future.set_result(result)

    @staticmethod
    def _commit_alone(queued: _Queued) -> None:
        try:
            with queued.db.begin() as session:
                result = queued.job(session)
        except BaseException as exc:  # noqa: BLE001 - the job's failure belongs to its future
            queued.future.set_exception(exc)
        else:
            queued.future.set_result(result)
