"""The store writer: store jobs committed in batches, by a process of their own.

A job is a picklable function of a Session (a module-level function, or a
functools.partial of one): store one article, remember one skipped page. A batch
takes the jobs that arrive within a tenth of a second of its first (and those
queued while the previous batch was written), so one BEGIN, one COMMIT and one
full-text index flush serve many articles. Jobs commit in the order they were submitted,
and each job's future resolves only once its transaction has committed.

The writing happens in a separate process, so its Python work (SQLAlchemy, the
dedup confirmation) does not compete for the crawl process's GIL with Scrapy's
reactor. A thread in the crawl process only gathers batches and waits.

If a batch fails it is rolled back as a whole. A database-level failure (locked,
unreachable, disk full: sqlalchemy's OperationalError) fails every job of the
batch with that error; any other error is one job's own, so the jobs are retried
one transaction each and only the bad one fails. If the writer process dies, the
jobs of its batch fail with a message saying so and a new process takes the next.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from typing import Any, Callable

import pebble
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

MAX_BATCH = 100  # jobs per transaction: long enough to amortise the commit, short enough to hold a lock briefly
# How long a batch waits for more jobs after its first. Each transaction costs a BEGIN, a COMMIT
# and a flush of the full-text index; a crawler does not mind a tenth of a second of latency.
LINGER_S = 0.1

Job = Callable[[Session], Any]


class WriterDied(RuntimeError):
    """The writer process ended (killed, out of memory) while writing a batch."""


@dataclass
class _Queued:
    db_url: str
    job: Job
    future: Future = field(default_factory=Future)


class BatchWriter:
    """Commits Session jobs for store URLs, many per transaction, in a writer process.

        writer = BatchWriter()
        outcome = writer.submit("sqlite:///store.db", partial(record_skipped_page, ...)).result()
    """

    def __init__(self, max_batch: int = MAX_BATCH, *, linger: float = LINGER_S,
                 mp_context: BaseContext | None = None, name: str = "expowatch-store") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.max_batch = max_batch
        self.linger = linger
        self._mp_context = mp_context
        self._process: pebble.ProcessPool | None = None  # started with the first batch
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._held: _Queued | None = None  # first job of the next batch (it needed another store)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, db_url: str, job: Job) -> Future:
        """Queue job(session) for the store at db_url; the future holds its result once committed."""
        if self._closed:
            raise RuntimeError("the store writer is closed")
        queued = _Queued(db_url, job)
        self._queue.put(queued)
        return queued.future

    def close(self) -> None:
        """Commit every queued job, then stop the thread and the writer process."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        if self._process is not None:
            self._process.close()
            self._process.join()

    def _run(self) -> None:
        while True:
            batch, last = self._next_batch()
            if batch:
                self._write(batch)
            if last:
                return

    def _next_batch(self) -> tuple[list[_Queued], bool]:
        """The next jobs for one store, waiting for the first; True when the writer is closing."""
        first = self._held or self._queue.get()
        self._held = None
        if first is None:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self.linger
        while len(batch) < self.max_batch:
            try:
                queued = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if queued is None:
                return batch, True
            if queued.db_url != first.db_url:
                self._held = queued
                break
            batch.append(queued)
        return batch, False

    def _write(self, batch: list[_Queued]) -> None:
        live = [q for q in batch if q.future.set_running_or_notify_cancel()]
        if not live:
            return
        if self._process is None:
            # pebble, not ProcessPoolExecutor: its worker ends when the crawl process is killed
            # (an executor's worker would wait for jobs forever) and a dead worker is replaced.
            self._process = pebble.ProcessPool(max_workers=1, context=self._mp_context or multiprocessing.get_context())
        try:
            outcomes = self._process.schedule(write_batch, args=(live[0].db_url, [q.job for q in live])).result()
        except pebble.ProcessExpired as exc:
            outcomes = [(False, WriterDied(f"the store writer process died ({exc}) while writing a batch of "
                                           f"{len(live)} jobs; they were not committed"))] * len(live)
        except Exception as exc:  # noqa: BLE001 - e.g. a job that cannot be pickled: the batch's failure
            outcomes = [(False, exc)] * len(live)
        for queued, (ok, value) in zip(live, outcomes):
            if ok:
                queued.future.set_result(value)
            else:
                queued.future.set_exception(value)


def write_batch(db_url: str, jobs: list[Job]) -> list[tuple[bool, Any]]:
    """In the writer process: run jobs in one transaction; (True, result) or (False, error) per job."""
    from storage.engine import session_factory

    db = session_factory(db_url)
    try:
        with db.begin() as session:
            return [(True, job(session)) for job in jobs]
    except OperationalError as exc:  # the database's failure, not a job's: retrying would fail the same way
        return [(False, _sendable(exc))] * len(jobs)
    except Exception as exc:  # noqa: BLE001 - one job's own failure: find it, keep the others
        if len(jobs) == 1:
            return [(False, _sendable(exc))]
        logger.debug("a batch of %d store jobs failed (%s); retrying them one by one", len(jobs), exc)
        return [_write_alone(db, job) for job in jobs]


def _write_alone(db, job: Job) -> tuple[bool, Any]:
    try:
        with db.begin() as session:
            return True, job(session)
    except Exception as exc:  # noqa: BLE001 - the job's failure belongs to its future
        return False, _sendable(exc)


def _sendable(exc: Exception) -> Exception:
    """exc if it survives the trip back to the crawl process, else a RuntimeError with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - some library exceptions do not unpickle
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
