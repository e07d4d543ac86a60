"""End-to-end throughput: articles per second from crawl to store, against bare trafilatura.

    python benchmarks/throughput.py [--scale 2000] [--page-size 50]

Serves the replica web scaled to about 2,000 articles on 127.0.0.1 and measures, in the
same run:
  baseline  bare `trafilatura.extract` (defaults) of exactly the pages the servers send,
            already in memory, in a 2-process pool (multiprocessing.Pool)
  expowatch `expowatch crawl` of every replica source into a fresh SQLite store, in its
            own process: discovery, fetch, validation, extraction in the process pool,
            event tagging, dedup (hash and MinHash bands), store with raw HTML
Prints articles/second for both and the ratio expowatch / baseline (goal: >= 0.8).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crawler.replica import ReplicaWeb  # noqa: E402

BASELINE_WORKERS = 2  # the baseline: a 2-process pool (this machine has 2 cores)
PAGE_CAP_MARGIN = 5  # list pages beyond the last one, so no page cap cuts the crawl short


def bare_extract(page: bytes) -> int:
    """trafilatura with its defaults, as a user without expowatch would call it."""
    import trafilatura

    return len(trafilatura.extract(page) or "")


def baseline(pages: list[bytes]) -> float:
    """Seconds for bare trafilatura over every page in a 2-process pool (pool start excluded)."""
    with multiprocessing.get_context("forkserver").Pool(BASELINE_WORKERS) as pool:
        pool.map(bare_extract, pages[:BASELINE_WORKERS])  # warm the workers (imports) first
        started = time.perf_counter()
        pool.map(bare_extract, pages, chunksize=8)
        return time.perf_counter() - started


def expowatch_crawl(sources: Path, db: Path) -> float:
    """Wall seconds of one `expowatch crawl` of every source, process start to exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "crawler.cli", "crawl", "--quiet", "--sources-file", str(sources),
                           "--db", str(db)], capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise SystemExit(f"crawl failed with exit code {proc.returncode}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=2000, help="synthetic articles added to the replica")
    parser.add_argument("--page-size", type=int, default=50, help="articles per list page")
    args = parser.parse_args()

    with ReplicaWeb(scale=args.scale, page_size=args.page_size) as web, tempfile.TemporaryDirectory() as tmp:
        expected = web.expected_articles()
        pages = [e.render() for e in expected]
        max_pages = max(1, len(expected) // args.page_size) + PAGE_CAP_MARGIN
        sources = Path(tmp) / "sources.toml"
        sources.write_text(web.sources_toml().replace("[[source]]\n", f"[[source]]\nmax_pages = {max_pages}\n"))
        db = Path(tmp) / "throughput.db"

        base_seconds = baseline(pages)
        ours_seconds = expowatch_crawl(sources, db)
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
            copies = conn.execute("SELECT count(*) FROM article_urls WHERE relation = 'exact_copy'").fetchone()[0]
        handled = stored + copies

    base_rate = len(pages) / base_seconds
    ours_rate = handled / ours_seconds
    print(f"pages served: {len(pages)} (replica scale {args.scale}, {os.cpu_count()} cores)")
    print(f"baseline   bare trafilatura.extract, {BASELINE_WORKERS}-process pool, pages in memory: "
          f"{base_seconds:7.2f} s  {base_rate:7.1f} articles/s")
    print(f"expowatch  crawl -> extract -> tag -> dedup -> store ({handled} articles, {stored} rows): "
          f"{ours_seconds:7.2f} s  {ours_rate:7.1f} articles/s")
    print(f"ratio expowatch / baseline: {ours_rate / base_rate:.2f}  (goal >= 0.8)")


if __name__ == "__main__":
    main()
