"""What the shared queue holds right now (`expowatch queue`): for operators and tests."""

from __future__ import annotations

import json
from typing import Any

import redis

from crawler.distributed.keys import PENDING, WORKERS, heartbeat_key, inflight_key
from crawler.distributed.poison import poisoned_entries
from crawler.distributed.queue import queued, split_entry

POISONED_SHOWN = 20


def queue_status(server: redis.Redis) -> dict[str, Any]:
    """Queued requests per source, registered workers (alive or not, what they hold), newest poisoned requests."""
    waiting = {}
    for raw in sorted(server.smembers(PENDING)):
        source = raw.decode()
        if count := queued(server, source):
            waiting[source] = count
    workers = {}
    for raw in sorted(server.smembers(WORKERS)):
        worker_id = raw.decode()
        beat = server.get(heartbeat_key(worker_id))
        held = server.hvals(inflight_key(worker_id))
        workers[worker_id] = {
            "alive": beat is not None,
            "sources": json.loads(beat)["sources"] if beat else sorted({split_entry(v)[0] for v in held}),
            "in_flight": len(held),
        }
    return {"queued": waiting, "workers": workers, "poisoned": poisoned_entries(server, POISONED_SHOWN)}
