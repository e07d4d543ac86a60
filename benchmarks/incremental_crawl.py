"""Incremental crawling cost on a scaled replica web: requests and seconds per crawl.

    python benchmarks/incremental_crawl.py [--scale 3000] [--page-size 20]

Crawls (each `expowatch crawl` in its own process, one fresh SQLite store):
  first       empty store: every article
  unchanged   nothing published since: conditional GETs, stop at known articles
  after N new one round published (web.publish_next_round())
  baseline    the same unchanged site walked as a crawler without conditional GET
              or the stop rule would (--backfill): every list page, feed and sitemap
Prints requests (by kind, counted on the servers) and wall seconds, then the ratio of
the unchanged re-crawl's requests to the first crawl's and to the baseline's.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crawler.replica import SITE_NAMES, ReplicaWeb  # noqa: E402

PAGE_CAP_MARGIN = 5  # list pages beyond the last one, so the cap never cuts the first crawl short


def crawl(sources: Path, db: Path, *extra: str) -> float:
    """Run one crawl in a subprocess; returns wall seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "crawler.cli", "crawl", "--sources-file", str(sources),
                           "--db", str(db), *extra], capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise SystemExit(f"crawl {' '.join(extra)} failed with exit code {proc.returncode}")
    return seconds


def stored_articles(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=3000, help="synthetic articles added to the replica")
    parser.add_argument("--page-size", type=int, default=20, help="articles per list page")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="expowatch-incremental-"))
    db = tmp / "store.db"
    with ReplicaWeb(scale=args.scale, page_size=args.page_size) as web:
        total = len(web.expected_articles())
        per_site = max(Counter(e.site for e in web.expected_articles()).values())
        cap = math.ceil(per_site / args.page_size) + PAGE_CAP_MARGIN
        sources = web.write_sources_file(tmp / "sources.toml")
        sources.write_text(re.sub(r"(?m)^concurrency = (\d+)$", rf"concurrency = \1\nmax_pages = {cap}",
                                  sources.read_text()))
        print(f"replica: {len(SITE_NAMES)} sites, {total} articles, {args.page_size} per list page")

        rows = []

        def step(label: str, *extra: str) -> Counter:
            web.reset_counts()
            before = stored_articles(db) if db.exists() else 0
            seconds = crawl(sources, db, *extra)
            counts = Counter()
            for (_, kind), n in web.request_counts().items():
                counts[kind] += n
            rows.append((label, sum(counts.values()), counts["article"],
                         counts["list"] + counts["feed"] + counts["sitemap"], seconds, stored_articles(db) - before))
            return counts

        first = step("first")
        unchanged = step("unchanged")
        baseline = step("baseline (--backfill)", "--backfill")
        published = web.publish_next_round()
        step(f"after {len(published)} new")

    print(f"{'crawl':<24}{'requests':>10}{'articles':>10}{'discovery':>11}{'seconds':>10}{'stored':>8}")
    for label, requests, articles, discovery, seconds, stored in rows:
        print(f"{label:<24}{requests:>10}{articles:>10}{discovery:>11}{seconds:>10.1f}{stored:>8}")
    first_n, unchanged_n, baseline_n = (sum(c.values()) for c in (first, unchanged, baseline))
    print(f"unchanged re-crawl / first crawl requests: {unchanged_n / first_n:.4f} ({unchanged_n} / {first_n})")
    print(f"unchanged re-crawl / baseline requests:    {unchanged_n / baseline_n:.4f} ({unchanged_n} / {baseline_n})")


if __name__ == "__main__":
    main()
