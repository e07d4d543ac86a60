"""Leased request queues in Redis: a popped request stays on record until its worker is done with it.

One sorted set per source (scrapy-redis's PriorityQueue layout: score = -priority). Popping
moves the request, atomically, into the popping worker's in-flight hash under a lease (the
SHA-1 of the entry). The worker acknowledges the lease when the request's callback and its
items are done (crawler/distributed/leases.py). If the worker dies, the next live worker to
notice (its heartbeat key expired) puts its in-flight requests back, counting one more
delivery on each.

A worker's death blames every request it held, though at most one of them killed it. So
requests held at a death become suspects (a queue of their own per source), and a worker
takes a suspect only when it holds nothing else, and nothing else while it holds one: it
first drains (takes no new requests, for any source) until its in-flight hash is empty.
A suspect that completes was innocent; one whose worker dies again, alone with it, is
counted again, and at `max_deliveries` it is poisoned: dropped and recorded
(crawler/distributed/poison.py) instead of killing workers forever.

A retry or redirect of a leased request replaces the lease when it is queued again.
Retry backoff (crawler.middlewares.NOT_BEFORE, a monotonic time that means nothing on
another machine) travels through Redis as wall-clock time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable

import redis
from scrapy_redis.queue import Base

from crawler.distributed import serializer
from crawler.distributed.keys import PENDING, draining_key, inflight_key, queue_key, suspects_key
from crawler.middlewares import KIND, NOT_BEFORE

# Request meta keys (besides crawler.middlewares.KIND and NOT_BEFORE).
LEASE = "expowatch_lease"  # the in-flight entry this request was popped as
DELIVERIES = "expowatch_deliveries"  # workers that died while holding this request
NOT_BEFORE_EPOCH = "expowatch_not_before_epoch"  # NOT_BEFORE as Unix time, while in Redis
# Meta keys Scrapy sets on a request it schedules again for the same page (retry, redirect).
RESCHEDULED_MARKS = ("retry_times", "redirect_times")

# An in-flight value is "[!]<source>\n<queued JSON>" ("!": a suspect, held alone); source names have no newline.
ENTRY_SEPARATOR = b"\n"
SUSPECT_MARK = b"!"
# A worker waiting to take a suspect stops taking other requests for this long unless the
# suspect's crawler asks again (every engine heartbeat, 5 s): a closed crawler cannot block it.
DRAIN_TTL_MS = 15_000

# KEYS: queue, inflight hash, suspects, draining flag; ARGV: source, drain TTL ms. Returns {lease, entry} or nil.
_POP = r"""
local held = redis.call('HVALS', KEYS[2])
for _, value in ipairs(held) do
  if string.byte(value, 1) == 33 then return false end
end
if redis.call('ZCARD', KEYS[3]) > 0 then
  if #held > 0 then
    redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[2])
    return false
  end
  local entry = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
  redis.call('ZREM', KEYS[3], entry)
  local lease = redis.sha1hex(entry)
  redis.call('HSET', KEYS[2], lease, '!' .. ARGV[1] .. '\n' .. entry)
  redis.call('DEL', KEYS[4])
  return {lease, entry}
end
if redis.call('EXISTS', KEYS[4]) == 1 then return false end
local items = redis.call('ZRANGE', KEYS[1], 0, 0)
if #items == 0 then return false end
local entry = items[1]
redis.call('ZREM', KEYS[1], entry)
local lease = redis.sha1hex(entry)
redis.call('HSET', KEYS[2], lease, ARGV[1] .. '\n' .. entry)
return {lease, entry}
"""
# KEYS: queue, pending set, inflight hash; ARGV: score, entry, source, lease replaced ('' for none).
_PUSH = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if ARGV[4] ~= '' then redis.call('HDEL', KEYS[3], ARGV[4]) end
return 1
"""
# KEYS: inflight hash, queue or suspects, pending set; ARGV: lease, score, entry ('' to drop), source.
# Only the caller that removes the lease puts the entry back: two reapers cannot both requeue it.
_REQUEUE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[4])
end
return 1
"""
# KEYS: queue, suspects, pending set; ARGV: source. Forget the source as pending if it has nothing queued.
_PRUNE = """
if redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  return 1
end
return 0
"""


def queued(server: redis.Redis, source: str) -> int:
    """Requests queued for source, suspects included."""
    with server.pipeline(transaction=False) as pipe:
        pipe.zcard(queue_key(source))
        pipe.zcard(suspects_key(source))
        return sum(pipe.execute())


def encode(request_dict: dict[str, Any]) -> bytes:
    """The queue entry for Request.to_dict() output: no lease, backoff as wall-clock time."""
    meta = dict(request_dict.get("meta") or {})
    meta.pop(LEASE, None)
    if NOT_BEFORE in meta:
        meta[NOT_BEFORE_EPOCH] = time.time() + (meta.pop(NOT_BEFORE) - time.monotonic())
    return serializer.dumps({**request_dict, "meta": meta})


def decode(entry: bytes) -> dict[str, Any]:
    """The request dict of a queue entry, backoff back on this machine's monotonic clock."""
    request_dict = serializer.loads(entry)
    meta = request_dict.setdefault("meta", {})
    if NOT_BEFORE_EPOCH in meta:
        meta[NOT_BEFORE] = time.monotonic() + (meta.pop(NOT_BEFORE_EPOCH) - time.time())
    return request_dict


def push_entry(server: redis.Redis, source: str, entry: bytes, priority: int, *,
               replaces: tuple[str, str] | None = None) -> None:
    """Queue one entry for source; `replaces` = (in-flight hash key, lease) it takes over from."""
    inflight, lease = replaces or ("", "")
    server.eval(_PUSH, 3, queue_key(source), PENDING, inflight or PENDING, -priority, entry, source, lease)


def prune_pending(server: redis.Redis, sources: Iterable[str]) -> set[str]:
    """Drop sources with empty queues from the pending set; returns the ones that still have requests."""
    left = set()
    for source in sources:
        if not server.eval(_PRUNE, 3, queue_key(source), suspects_key(source), PENDING, source):
            left.add(source)
    return left


@dataclass(frozen=True)
class Dropped:
    """A request taken out of circulation: its workers kept dying, or extraction kept crashing on it."""

    source: str
    url: str
    kind: str
    deliveries: int  # the tries: deaths of the workers holding it, or extraction crashes


def split_entry(value: bytes) -> tuple[str, bytes]:
    """(source, queue entry) of an in-flight hash value."""
    source, _, entry = value.removeprefix(SUSPECT_MARK).partition(ENTRY_SEPARATOR)
    return source.decode("utf-8"), entry


def requeue(server: redis.Redis, worker_id: str, leases: Iterable[str] | None = None, *,
            died: bool, max_deliveries: int) -> tuple[int, list[Dropped]]:
    """Put a worker's in-flight requests back in their queues (all, or the given leases).

    died: the worker stopped without finishing them, so each counts one more delivery and
    one delivered `max_deliveries` times is dropped instead (returned, for the record).
    A request with deliveries goes back as a suspect. Returns (requests put back, requests dropped).
    """
    key = inflight_key(worker_id)
    if leases is None:
        pairs = list(server.hscan_iter(key))
    else:
        wanted = list(leases)
        pairs = [(lease, value) for lease, value in zip(wanted, server.hmget(key, wanted) if wanted else [])
                 if value is not None]
    returned, dropped = 0, []
    for lease, value in pairs:
        source, entry = split_entry(value)
        request_dict = serializer.loads(entry)
        meta = request_dict.setdefault("meta", {})
        new_entry = entry
        if died:
            deliveries = int(meta.get(DELIVERIES, 0)) + 1
            meta[DELIVERIES] = deliveries
            new_entry = b"" if deliveries >= max_deliveries else serializer.dumps(request_dict)
        priority = int(request_dict.get("priority", 0))
        target = suspects_key(source) if meta.get(DELIVERIES) else queue_key(source)
        if not server.eval(_REQUEUE, 3, key, target, PENDING, lease, -priority, new_entry, source):
            continue  # another worker got there first
        if new_entry:
            returned += 1
        else:
            dropped.append(Dropped(source, request_dict["url"], meta.get(KIND, "other"), meta[DELIVERIES]))
    return returned, dropped


class LeasedQueue(Base):
    """scrapy-redis queue class (SCHEDULER_QUEUE_CLASS) for one source, popping under leases.

    The worker id comes from the EXPOWATCH_WORKER_ID setting.
    """

    def __init__(self, server, spider, key, serializer=None):
        super().__init__(server, spider, key, serializer)
        self.source: str = spider.name
        worker_id = spider.settings.get("EXPOWATCH_WORKER_ID")
        if not worker_id:
            raise ValueError("LeasedQueue needs the EXPOWATCH_WORKER_ID setting")
        self.worker_id = worker_id
        self.inflight = inflight_key(worker_id)
        self.suspects = suspects_key(self.source)
        self.draining = draining_key(worker_id)
        self.leases: set[str] = set()  # popped by this queue; acknowledged ones leave the hash, not this set

    def __len__(self) -> int:
        return queued(self.server, self.source)

    def _encode_request(self, request) -> bytes:
        return encode(request.to_dict(spider=self.spider))

    def _decode_request(self, encoded_request):
        from scrapy.utils.request import request_from_dict

        return request_from_dict(decode(encoded_request), spider=self.spider)

    def push(self, request) -> None:
        lease = request.meta.get(LEASE)
        rescheduled = lease and any(request.meta.get(mark) for mark in RESCHEDULED_MARKS)
        push_entry(self.server, self.source, self._encode_request(request), request.priority,
                   replaces=(self.inflight, lease) if rescheduled else None)

    def pop(self, timeout: int = 0):
        popped = self.server.eval(_POP, 4, self.key, self.inflight, self.suspects, self.draining,
                                  self.source, DRAIN_TTL_MS)
        if not popped:
            return None
        lease, entry = popped[0].decode("ascii"), popped[1]
        request = self._decode_request(entry)
        request.meta[LEASE] = lease
        self.leases.add(lease)
        return request

    def settle(self, *, finished: bool) -> int:
        """At close: leases still in flight are done (finished crawl) or go back to the queue (stopped early).

        Returns how many requests went back.
        """
        leases = list(self.leases)
        self.leases.clear()
        if not leases:
            return 0
        if finished:  # the engine was idle: every popped request was dealt with
            self.server.hdel(self.inflight, *leases)
            return 0
        returned, _ = requeue(self.server, self.worker_id, leases, died=False, max_deliveries=0)
        return returned

    def clear(self) -> None:
        self.server.delete(self.key, self.suspects)
