"""The Redis side of a distributed crawl: key names, and a connection that fails with one clear line.

Every key starts with `expowatch:` so one Redis can also serve other programs.

    expowatch:queue:<source>      sorted set: the source's queued requests (JSON), by priority
    expowatch:suspects:<source>   sorted set: its requests that were held by a worker that died
    expowatch:seen:<source>       set: request fingerprints of the source's current round
    expowatch:pending             set: sources that may have queued requests
    expowatch:workers             set: ids of workers that registered
    expowatch:worker:<id>         string with a TTL: a live worker's heartbeat (JSON)
    expowatch:inflight:<id>       hash: requests a worker has taken and not finished
    expowatch:draining:<id>       string with a TTL: the worker takes nothing new until it holds nothing
    expowatch:runs:<id>           set: crawl_runs ids a worker has open (closed as failed if it dies)
    expowatch:pace:<site>         string with a TTL: the site's next request must wait for it to expire
    expowatch:crashes             hash: article URL -> extraction crashes so far
    expowatch:poisoned            list: requests dropped as poisoned (JSON, newest first)
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

PREFIX = "expowatch"
# scrapy-redis fills %(spider)s with the spider's name, which is the source's name.
QUEUE_KEY = PREFIX + ":queue:%(spider)s"
SUSPECTS_KEY = PREFIX + ":suspects:%(spider)s"
SEEN_KEY = PREFIX + ":seen:%(spider)s"
PENDING = PREFIX + ":pending"
WORKERS = PREFIX + ":workers"
CRASHES = PREFIX + ":crashes"
POISONED = PREFIX + ":poisoned"
POISONED_KEPT = 1000  # the newest poisoned requests kept for operators; the store keeps the article ones

# A request to Redis on the same network answers in a millisecond; five seconds means it is gone.
SOCKET_TIMEOUT_S = 5.0
# A refused or dropped connection is retried once, half a second later (redis-py's exponential
# backoff: base * 2 ** failures): a blip is not an outage. More would not save a worker (a
# restarted Redis may have lost the queue, so the worker ends anyway) and would only slow its
# shutdown, where every failing call waits for its retries.
CONNECT_RETRIES = 1
RETRY_BACKOFF_BASE_S = 0.25
RETRY_BACKOFF_CAP_S = 0.5


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached (or stopped answering); the message names the server and the reason."""


def queue_key(source: str) -> str:
    return QUEUE_KEY % {"spider": source}


def suspects_key(source: str) -> str:
    return SUSPECTS_KEY % {"spider": source}


def seen_key(source: str) -> str:
    return SEEN_KEY % {"spider": source}


def heartbeat_key(worker_id: str) -> str:
    return f"{PREFIX}:worker:{worker_id}"


def inflight_key(worker_id: str) -> str:
    return f"{PREFIX}:inflight:{worker_id}"


def draining_key(worker_id: str) -> str:
    return f"{PREFIX}:draining:{worker_id}"


def runs_key(worker_id: str) -> str:
    return f"{PREFIX}:runs:{worker_id}"


def pace_key(site: str) -> str:
    return f"{PREFIX}:pace:{site}"


def redis_params() -> dict:
    """Client parameters for every connection of a worker (also given to scrapy-redis as REDIS_PARAMS)."""
    return {
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_TIMEOUT_S,
        "retry": Retry(ExponentialBackoff(cap=RETRY_BACKOFF_CAP_S, base=RETRY_BACKOFF_BASE_S), CONNECT_RETRIES),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "health_check_interval": 0,
    }


def redact(url: str) -> str:
    """A Redis URL with its password hidden, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def describe(error: Exception) -> str:
    """The first line of a Redis error, without the client's class-name clutter."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def connect(url: str) -> redis.Redis:
    """A client for the Redis at url, checked with a PING; RedisUnavailable if it does not answer."""
    try:
        client = redis.Redis.from_url(url, **redis_params())
    except ValueError as exc:  # not a redis:// / rediss:// / unix:// URL
        raise RedisUnavailable(f"bad Redis URL {redact(url)!r}: {exc}") from exc
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {redact(url)}: {describe(exc)}") from exc
    return client
