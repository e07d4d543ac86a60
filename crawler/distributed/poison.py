"""Poisoned requests: ones that keep killing workers or crashing extraction are dropped and recorded.

Two ways a request can poison a distributed crawl:
- the worker holding it dies (an OOM kill, a segfault in a parser) and the request goes back
  to the queue, to kill the next worker: counted per request in the queue (queue.DELIVERIES);
- extraction crashes on the page every time it is fetched (the extractor's process dies):
  the page is dropped for this run anyway, but the next run would fetch it again, forever.
  Counted per article URL in Redis across runs (keys.CRASHES).
Either way, at `max_tries` the request is dropped: the URL goes to the store's skipped_pages
with reason "poisoned" (article pages: the next run does not fetch it again) and to the
Redis list keys.POISONED, and a warning names the source and URL.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import redis
from sqlalchemy import select

from crawler.distributed.keys import CRASHES, POISONED, POISONED_KEPT
from crawler.distributed.queue import Dropped
from crawler.urls import canonical_url
from storage.models import SourceRow
from storage.store import ensure_source, record_skipped_page

logger = logging.getLogger(__name__)

POISONED_REASON = "poisoned"


def count_crash(server: redis.Redis, url: str) -> int:
    """One more extraction crash on the article at url; returns the count so far."""
    return int(server.hincrby(CRASHES, canonical_url(url), 1))


def forget_crashes(server: redis.Redis, url: str) -> None:
    server.hdel(CRASHES, canonical_url(url))


def record_poisoned(server: redis.Redis, session_factory, dropped: Dropped, why: str) -> None:
    """Remember a dropped request: in Redis for operators, in the store for article pages."""
    entry = {"source": dropped.source, "url": dropped.url, "kind": dropped.kind, "tries": dropped.deliveries,
             "why": why, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with server.pipeline() as pipe:
        pipe.lpush(POISONED, json.dumps(entry, ensure_ascii=False))
        pipe.ltrim(POISONED, 0, POISONED_KEPT - 1)
        pipe.execute()
    if dropped.kind == "article":
        with session_factory.begin() as session:
            source_id = session.scalar(select(SourceRow.id).where(SourceRow.name == dropped.source))
            if source_id is None:
                source_id = ensure_source(session, dropped.source)
            record_skipped_page(session, source_id, canonical_url(dropped.url), POISONED_REASON)
    logger.warning("%s: %s dropped as poisoned after %d tries (%s)", dropped.source, dropped.url,
                   dropped.deliveries, why)


def poisoned_entries(server: redis.Redis, limit: int = POISONED_KEPT) -> list[dict]:
    """The newest poisoned requests recorded in Redis."""
    return [json.loads(raw) for raw in server.lrange(POISONED, 0, limit - 1)]
