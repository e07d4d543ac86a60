"""End-to-end throughput: articles per second from crawl to store, against bare trafilatura.

    python benchmarks/throughput.py [--scale 2000] [--page-size 50]

Serves the replica web scaled to about 2,000 articles on 127.0.0.1 and measures, in the
same run:
  baseline  bare `trafilatura.extract` (defaults) of exactly the pages the servers send,
            already in memory, in a 2-process pool (multiprocessing.Pool), pool start-up
            and imports excluded
  expowatch `expowatch crawl` of every replica source into a fresh SQLite store, in its
            own process: discovery, fetch, validation, extraction in the process pool,
            event tagging, dedup (hash and MinHash bands), store with raw HTML
  fetch     for scale: bare Scrapy (its defaults, no pipelines, no robots.txt) fetching
            the same article pages from their list of URLs, in its own process; what
            fetching alone costs before any extraction or store
Prints articles/second for both and the ratio expowatch / baseline (goal: >= 0.8), twice:
for the whole `expowatch crawl` process (start-up and imports included) and for its crawl
phase (first crawl run started to last one finished, from the run records: what the
baseline's timing covers). With psutil installed (the test extra has it), also the CPU
each part of the crawl used per article.
"""

from __future__ import annotations

import argparse
import json
import resource
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from crawler.replica import ReplicaWeb  # noqa: E402

BASELINE_WORKERS = 2  # the baseline: a 2-process pool (this machine has 2 cores)
PAGE_CAP_MARGIN = 5  # list pages beyond the last one, so no page cap cuts the crawl short
CPU_SAMPLE_S = 0.1  # how often the crawl's processes' CPU times are read


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


@dataclass
class CrawlTiming:
    """One timed `expowatch crawl`."""

    wall_s: float  # process start to exit
    phase_s: float  # first crawl run started to last one finished (run records)
    cpu_s: dict[str, float]  # CPU seconds per part (empty without psutil)


def expowatch_crawl(sources: Path, db: Path) -> CrawlTiming:
    """Run one `expowatch crawl` of every source; time it and watch its processes' CPU."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "crawl", "--quiet", "--sources-file", str(sources),
                             "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)
    cpu = watch_cpu(proc)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        print(stdout, stderr, file=sys.stderr)
        raise SystemExit(f"crawl failed with exit code {proc.returncode}")
    with sqlite3.connect(db) as conn:
        first, last = conn.execute("SELECT min(started_at), max(finished_at) FROM crawl_runs").fetchone()
    phase = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    return CrawlTiming(wall, phase, cpu)


def watch_cpu(proc: subprocess.Popen) -> dict[str, float]:
    """CPU seconds of the crawl process and of its helper processes, sampled until it exits."""
    try:
        import psutil
    except ImportError:
        return {}
    last: dict[int, tuple[str, float]] = {}
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            family = [root]
        for member in family:
            try:
                times = member.cpu_times()
                role = ("crawl process (Scrapy, discovery)" if member.pid == proc.pid
                        else "bookkeeping" if "resource_tracker" in " ".join(member.cmdline())
                        else "helper processes (extraction workers, store writer)")
                last[member.pid] = (role, times.user + times.system)
            except psutil.Error:
                continue
        time.sleep(CPU_SAMPLE_S)
    totals: dict[str, float] = {}
    for role, seconds in last.values():
        totals[role] = totals.get(role, 0.0) + seconds
    return totals


def bare_fetch(urls: list[str], workdir: Path) -> tuple[float, float]:
    """(wall seconds, reactor CPU seconds) of bare Scrapy fetching urls, run in a process of its own."""
    url_file = workdir / "urls.json"
    url_file.write_text(json.dumps(urls))
    proc = subprocess.run([sys.executable, __file__, "--bare-fetch", str(url_file)], capture_output=True,
                          text=True, cwd=REPO, check=True)
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures["seconds"], figures["cpu"]


def run_bare_fetch(url_file: str) -> None:
    """The --bare-fetch child: a minimal Scrapy spider over the URLs; prints its figures as JSON."""
    import scrapy
    from scrapy.crawler import CrawlerProcess

    urls = json.loads(Path(url_file).read_text())

    class Fetch(scrapy.Spider):
        name = "fetch"

        async def start(self):
            for url in urls:
                yield scrapy.Request(url)

        def parse(self, response):
            yield {"url": response.url, "bytes": len(response.body)}

    process = CrawlerProcess({"LOG_LEVEL": "ERROR", "ROBOTSTXT_OBEY": False, "DOWNLOAD_DELAY": 0,
                              "CONCURRENT_REQUESTS_PER_DOMAIN": 4, "TELNETCONSOLE_ENABLED": False})
    process.crawl(Fetch)
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    process.start()
    after, seconds = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(json.dumps({"seconds": seconds, "cpu": cpu}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=2000, help="synthetic articles added to the replica")
    parser.add_argument("--page-size", type=int, default=50, help="articles per list page")
    parser.add_argument("--bare-fetch", metavar="URL_FILE", help=argparse.SUPPRESS)  # the fetch child
    args = parser.parse_args()
    if args.bare_fetch:
        run_bare_fetch(args.bare_fetch)
        return

    with ReplicaWeb(scale=args.scale, page_size=args.page_size) as web, tempfile.TemporaryDirectory() as tmp:
        expected = web.expected_articles()
        pages = [e.render() for e in expected]
        max_pages = max(1, len(expected) // args.page_size) + PAGE_CAP_MARGIN
        sources = Path(tmp) / "sources.toml"
        sources.write_text(web.sources_toml().replace("[[source]]\n", f"[[source]]\nmax_pages = {max_pages}\n"))
        db = Path(tmp) / "throughput.db"

        base_seconds = baseline(pages)
        ours = expowatch_crawl(sources, db)
        fetch_seconds, fetch_cpu = bare_fetch([e.url for e in expected], Path(tmp))
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
            copies = conn.execute("SELECT count(*) FROM article_urls WHERE relation = 'exact_copy'").fetchone()[0]
        handled = stored + copies

    base_rate = len(pages) / base_seconds
    print(f"pages served: {len(pages)} (replica scale {args.scale}, {os.cpu_count()} cores)")
    print(f"baseline   bare trafilatura.extract, {BASELINE_WORKERS}-process pool, pages in memory: "
          f"{base_seconds:7.2f} s  {base_rate:7.1f} articles/s  "
          f"({base_seconds * BASELINE_WORKERS / len(pages) * 1000:.2f} ms of worker time per article)")
    print(f"expowatch  crawl -> extract -> tag -> dedup -> store ({handled} articles, {stored} rows):")
    for label, seconds in (("whole process, start-up included", ours.wall_s), ("crawl phase (run records)", ours.phase_s)):
        rate = handled / seconds
        print(f"  {label:34s} {seconds:7.2f} s  {rate:7.1f} articles/s   ratio to baseline {rate / base_rate:.2f}")
    for role, seconds in sorted(ours.cpu_s.items()):
        print(f"  CPU {role:52s} {seconds:6.2f} s  {seconds / handled * 1000:5.2f} ms/article")
    fetch_rate = len(pages) / fetch_seconds
    print(f"fetch      bare Scrapy, same pages, no extraction or store: {fetch_seconds:7.2f} s  {fetch_rate:7.1f} pages/s  "
          f"(ratio to baseline {fetch_rate / base_rate:.2f}; {fetch_cpu / len(pages) * 1000:.2f} ms CPU per page)")
    print("goal: ratio >= 0.8")


if __name__ == "__main__":
    main()
