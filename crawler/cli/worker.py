"""`expowatch worker`, `expowatch enqueue`, `expowatch queue`: crawling on several machines (docs/scaling.md)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from crawler.cli.app import DbOption, SourcesFileOption, app, fail, open_store, redact
from crawler.cli.events import EventsFileOption, load_events
from crawler.cli.sources import chosen_sources, load_registry

RedisOption = Annotated[
    str | None,
    typer.Option("--redis", envvar="EXPOWATCH_REDIS_URL", show_envvar=True,
                 help="The shared queue: redis://[:password@]host:6379/0"),
]


def require_redis(redis_url: str | None) -> str:
    """The Redis URL, once the distributed extra is known to be installed; else one line and exit 1."""
    try:
        import redis  # noqa: F401
        import scrapy_redis  # noqa: F401
    except ImportError as exc:
        fail(f"distributed crawling needs {exc.name}: pip install 'expowatch[redis]'")
    if not redis_url:
        fail("no Redis for the shared queue: pass --redis redis://HOST:6379/0 or set EXPOWATCH_REDIS_URL")
    return redis_url


def connect_or_fail(redis_url: str):
    from crawler.distributed.keys import RedisUnavailable, connect

    try:
        return connect(redis_url)
    except RedisUnavailable as exc:
        fail(str(exc))


@app.command()
def worker(
    redis: RedisOption = None,
    db: DbOption = None,
    sources_file: SourcesFileOption = None,
    events_file: EventsFileOption = None,
    max_sources: Annotated[int, typer.Option("--max-sources", min=1,
                                             help="Sources this worker crawls at once.")] = 8,
    until_idle: Annotated[float | None, typer.Option(
        "--until-idle", min=0, metavar="SECONDS",
        help="Exit after this many seconds with nothing queued or in flight (default: serve until stopped).")] = None,
    heartbeat: Annotated[float, typer.Option(
        "--heartbeat", min=0.5, metavar="SECONDS",
        help="A worker silent this long counts as dead; other workers put its requests back in the queue.")] = 30.0,
    max_tries: Annotated[int, typer.Option(
        "--max-tries", min=1,
        help="Drop (and record) a request after this many workers died holding it, or a page after this "
             "many extraction crashes.")] = 3,
    extract_workers: Annotated[int | None, typer.Option(
        "--extract-workers", min=1,
        help="Processes extracting text (default: one per core; split the cores between workers on one machine).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Scrapy's log (INFO).")] = False,
) -> None:
    """Crawl the sources queued in Redis (by `expowatch enqueue` or a distributed scheduler) into the shared store.

    Run any number of workers, on any machines, with the same --redis, --db (PostgreSQL)
    and sources file. Stops cleanly on SIGTERM; exits 1 with one line if Redis or the
    store cannot be used.
    """
    from sqlalchemy.engine import make_url

    from crawler.distributed.keys import RedisUnavailable
    from crawler.distributed.spiders import source_spider_classes
    from crawler.distributed.worker import Worker, WorkerConfig

    redis_url = require_redis(redis)
    registry = load_registry(sources_file)
    load_events(events_file)  # a bad events file fails here, before anything is crawled
    url = open_store(db, writable=True)
    if make_url(url).get_backend_name() != "postgresql":
        fail(f"workers need a PostgreSQL store that every worker can reach (--db postgresql+psycopg://...); "
             f"{redact(url)} is a local file")
    config = WorkerConfig(redis_url=redis_url, db_url=url, sources_file=sources_file, events_file=events_file,
                          max_sources=max_sources, until_idle=until_idle, heartbeat_ttl=heartbeat,
                          max_deliveries=max_tries, extract_workers=extract_workers, verbose=verbose)
    try:
        service = Worker(config, source_spider_classes(registry.values()))
    except RedisUnavailable as exc:
        fail(str(exc))
    result = service.run()
    print(result.summary(), file=sys.stderr)
    if result.exit_code:
        fail(result.message or "the worker failed", result.exit_code)


@app.command()
def enqueue(
    sources: Annotated[list[str] | None, typer.Argument(help="Source names (default: every enabled source).")] = None,
    redis: RedisOption = None,
    sources_file: SourcesFileOption = None,
    force: Annotated[bool, typer.Option("--force", help="Queue a new round even if the last one is still queued.")] = False,
) -> None:
    """Queue a crawl round of sources (their feeds, sitemaps and list pages) for the workers.

    A source whose last round still has queued requests is skipped (unless --force).
    """
    from crawler.distributed.enqueue import enqueue_source

    redis_url = require_redis(redis)
    registry = load_registry(sources_file)
    names = chosen_sources(registry, sources, doing="queue")
    from redis import RedisError

    from crawler.distributed.keys import describe, redact as redact_redis

    server = connect_or_fail(redis_url)
    for name in names:
        try:
            outcome = enqueue_source(server, registry[name], force=force)
        except RedisError as exc:
            fail(f"source {name}: could not queue it in Redis at {redact_redis(redis_url)}: {describe(exc)}")
        print(outcome.describe(), file=sys.stderr)


@app.command()
def queue(
    redis: RedisOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The shared queue now: requests queued per source, workers and what they hold, poisoned requests."""
    from crawler.distributed.status import queue_status

    status = queue_status(connect_or_fail(require_redis(redis)))
    if json_output:
        typer.echo(json.dumps(status, indent=2, ensure_ascii=False))
        return
    for source, count in status["queued"].items():
        typer.echo(f"{source}: {count} queued")
    for worker_id, info in status["workers"].items():
        state = "alive" if info["alive"] else "dead (its requests go back at the next worker's check)"
        typer.echo(f"worker {worker_id}: {state}, {info['in_flight']} in flight, sources: "
                   f"{', '.join(info['sources']) or 'none'}")
    for entry in status["poisoned"]:
        typer.echo(f"poisoned: {entry['source']} {entry['url']} ({entry['why']}, {entry['at']})")
    if not (status["queued"] or status["workers"] or status["poisoned"]):
        typer.echo("the queue is empty and no worker is registered")
