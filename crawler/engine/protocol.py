"""Messages between the scheduler and a crawl engine: one JSON object per line.

Scheduler -> engine (the engine's stdin):
    {"op": "crawl", "run": RUN_ID, "source": NAME, "resume": BOOL}
                                                     start a crawler for the run row opened for it;
                                                     resume: the source's last crawl did not end ok
                                                     (the scheduler read it, not the engine's reactor)
    {"op": "close", "run": RUN_ID, "reason": WHY}    close that crawl (reason "timeout", "shutdown")
    {"op": "drain", "reason": WHY|null}              take no more crawls, exit once the running ones
                                                     have ended (closed with WHY if given)
Engine -> scheduler (the engine's original stdout; Scrapy's log goes to stderr):
    {"op": "ready", "pid": PID, USAGE}
    {"op": "finished", "run": RUN_ID, "reason": CLOSE_REASON|null, "error": TEXT|null, USAGE}
USAGE is "rss": BYTES, "peak_rss": BYTES, "cpu": SECONDS (the engine process's own).

The end of the engine's stdin means the scheduler is gone: the engine closes its crawls
(reason "scheduler_gone") and exits. The end of its stdout means the engine is gone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import IO, Any

# Requests in flight across all crawls of an engine (crawler.engine.pace). A small source has one or
# two requests in flight at a time; 64 lets 32 crawls proceed at once while capping sockets and the
# reactor's per-response work on a small machine. Here, so the scheduler reads it without Scrapy.
DEFAULT_MAX_REQUESTS = 64

CRAWL, CLOSE, DRAIN, READY, FINISHED = "crawl", "close", "drain", "ready", "finished"


def encode(op: str, **fields: Any) -> bytes:
    """One message as a line of JSON."""
    return (json.dumps({"op": op, **fields}, separators=(",", ":")) + "\n").encode()


def read_message(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next message, or None at the end of the stream. A line that is not a message raises ValueError."""
    line = stream.readline()
    if not line:
        return None
    message = json.loads(line)
    if not isinstance(message, dict) or "op" not in message:
        raise ValueError(f"not an engine message: {line[:200]!r}")
    return message


@dataclass(frozen=True)
class EngineConfig:
    """What an engine crawls into and how; sent to the process as JSON."""

    db_url: str
    sources_file: str | None = None
    events_file: str | None = None
    log_level: str = "WARNING"
    max_requests: int = DEFAULT_MAX_REQUESTS
    extract_workers: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # further Scrapy settings for every crawl

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EngineConfig:
        return cls(**json.loads(text))
