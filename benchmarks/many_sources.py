"""Many small sources from one machine: the warm crawl engine under `expowatch schedule --once`.

    python benchmarks/many_sources.py --n 100 [--articles 3] [--pollers 16]

N small sites, each on its own loopback address (crawler.replica.small_sites, served from a
child process so its CPU is not counted here), each with an RSS feed of `articles` articles
that answers 304 when unchanged. Printed, in one run:

  first pass      `schedule --once` (one engine for every source) against `expowatch crawl`
                  of all the sources in one process: wall seconds, articles per second
  unchanged pass  every feed answers 304: wall seconds, CPU ms per source (the whole pass:
                  scheduler + engine, start-ups included; and the engine's own CPU per crawl
                  after its start-up, what a long-running service pays), requests per source;
                  against a plain threaded conditional-GET poller of the same feeds
  new articles    one new article per site: wall seconds, articles stored (must be exactly N)
  memory          the engine's peak resident memory; the engine with its helper processes
                  (extraction workers, store writer) sampled every half second

Each pass is a real `python -m crawler.cli` process on a fresh SQLite store.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from scheduler.service import open_job_store  # noqa: E402
from storage.engine import dispose_engines, session_factory  # noqa: E402
from storage.models import Article  # noqa: E402

GOAL_CPU_MS = 20.0
GOAL_REQUESTS = 1.2
GOAL_FIRST_PASS = 0.7
GOAL_RSS_MB = 600


def serve_sites(n: int, articles: int, conn) -> None:
    """The child process: serve the sites and answer commands (urls, counts, reset, publish, stop)."""
    from crawler.replica.small_sites import SmallSites

    with SmallSites(n, articles=articles) as sites:
        conn.send(([s.base_url for s in sites.sites], sites.sources_toml()))
        while True:
            command = conn.recv()
            if command == "counts":
                conn.send(sites.request_counts())
            elif command == "reset":
                sites.reset_counts()
                conn.send(True)
            elif command == "publish":
                sites.publish()
                conn.send(True)
            else:
                conn.send(True)
                return


class Sites:
    def __init__(self, n: int, articles: int):
        self.conn, child = multiprocessing.get_context("fork").Pipe()
        self.process = multiprocessing.get_context("fork").Process(target=serve_sites, args=(n, articles, child))
        self.process.start()
        self.urls, self.toml = self.conn.recv()

    def ask(self, command: str):
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        self.ask("stop")
        self.process.join()


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_rss(root: int) -> int:
    """Resident bytes of root and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


def run_pass(args: list[str], *, watch: bool = False) -> dict:
    """One `expowatch schedule --once` (or other command) process: wall, CPU, its log, peak tree RSS."""
    cpu, start = children_cpu(), time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env(), cwd=REPO)
    lines: list[str] = []
    peak = {"tree": 0}
    engine_pid: list[int] = []

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if match := re.search(r"crawl engine \d+ started \(pid (\d+)\)", line):
                engine_pid.append(int(match.group(1)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while proc.poll() is None:
        if watch and engine_pid:
            peak["tree"] = max(peak["tree"], tree_rss(engine_pid[-1]))
        time.sleep(0.5)
    reader.join()
    text = "".join(lines)
    if proc.returncode != 0:
        print(text[-3000:], file=sys.stderr)
        raise SystemExit(f"expowatch {' '.join(args[:2])} exited {proc.returncode}")
    return {"wall": time.monotonic() - start, "cpu": children_cpu() - cpu, "log": text, "tree_rss": peak["tree"]}


def engine_figures(log: str) -> dict:
    match = re.search(r"exited: (\d+) crawl\(s\), ([\d.]+) s CPU after start-up(?: \(([\d.]+) ms per crawl\))?, "
                      r"start-up ([\d.]+) s CPU, peak resident memory (\d+) MB", log)
    if not match:
        raise SystemExit("no engine exit line in the log:\n" + log[-2000:])
    return {"crawls": int(match.group(1)), "ms_per_crawl": float(match.group(3) or 0),
            "startup_cpu": float(match.group(4)), "peak_mb": int(match.group(5))}


def articles(db: str) -> int:
    with session_factory(db)() as session:
        count = session.execute(select(func.count()).select_from(Article)).scalar_one()
    dispose_engines()
    return count


def make_due(db: str) -> None:
    store = open_job_store(db)
    store.start(paused=True)
    try:
        for job in store.get_jobs():
            store.modify_job(job.id, next_run_time=datetime.now(timezone.utc))
    finally:
        store.shutdown()
    dispose_engines()


def poll(urls: list[str], threads: int) -> tuple[float, float, int]:
    """A plain threaded conditional-GET poller over the feeds: first a full round for the validators
    (not timed), then the timed round. Returns (wall s, CPU s of this process, 304 answers)."""
    validators: dict[str, str] = {}

    def get(url: str) -> int:
        request = urllib.request.Request(url, headers={"If-None-Match": validators[url]} if url in validators else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                validators[url] = response.headers["ETag"]
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    feeds = [url + "/feed.xml" for url in urls]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(get, feeds))
        cpu, start = time.process_time(), time.monotonic()
        statuses = list(pool.map(get, feeds))
        return time.monotonic() - start, time.process_time() - cpu, statuses.count(304)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="sites (sources)")
    parser.add_argument("--articles", type=int, default=3, help="articles per site at the start")
    parser.add_argument("--pollers", type=int, default=16, help="threads of the conditional-GET poller")
    options = parser.parse_args()
    n = options.n

    sites = Sites(n, options.articles)
    try:
        with tempfile.TemporaryDirectory(prefix="many-sources-") as tmp:
            sources = Path(tmp) / "sources.toml"
            sources.write_text(sites.toml, encoding="utf-8")
            one_process, engine_db = f"sqlite:///{tmp}/crawl.db", f"sqlite:///{tmp}/engine.db"
            common = ["--sources-file", str(sources)]

            crawl = run_pass(["crawl", "--quiet", "--db", one_process, *common])
            crawled = articles(one_process)
            sites.ask("reset")

            first = run_pass(["schedule", "--once", "-v", "--db", engine_db, *common], watch=True)
            first_engine = engine_figures(first["log"])
            stored_first = articles(engine_db)
            sites.ask("reset")

            make_due(engine_db)
            unchanged = run_pass(["schedule", "--once", "-v", "--db", engine_db, *common])
            unchanged_engine = engine_figures(unchanged["log"])
            counts = sites.ask("counts")
            requests = sum(counts.values())
            not_modified = sum(v for (_, kind), v in counts.items() if kind == "feed_304")
            sites.ask("reset")

            poll_wall, poll_cpu, poll_304 = poll(sites.urls, options.pollers)
            sites.ask("reset")

            sites.ask("publish")
            make_due(engine_db)
            fresh = run_pass(["schedule", "--once", "-v", "--db", engine_db, *common], watch=True)
            fresh_engine = engine_figures(fresh["log"])
            new = articles(engine_db) - stored_first
    finally:
        sites.stop()

    expected = n * options.articles
    print(f"many_sources: {n} sites on their own loopback addresses, {options.articles} articles each; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("\nfirst pass")
    crawl_rate, engine_rate = crawled / crawl["wall"], stored_first / first["wall"]
    print(f"  expowatch crawl (one process)   {crawl['wall']:8.1f} s  {crawled:6d} articles  {crawl_rate:7.1f} articles/s")
    print(f"  schedule --once (engine)        {first['wall']:8.1f} s  {stored_first:6d} articles  {engine_rate:7.1f} articles/s")
    print(f"  ratio engine / one process      {engine_rate / crawl_rate:8.2f}   (goal >= {GOAL_FIRST_PASS})")
    if crawled != expected or stored_first != expected:
        print(f"  WARNING: expected {expected} articles")
    print("\nunchanged pass (every feed 304)")
    per_source_cpu = unchanged["cpu"] / n * 1000
    print(f"  schedule --once (engine)        {unchanged['wall']:8.2f} s wall  {per_source_cpu:6.1f} ms CPU/source "
          f"(whole pass, both start-ups)  {requests / n:5.2f} requests/source  ({not_modified} answered 304)")
    print(f"    engine after its start-up      {unchanged_engine['ms_per_crawl']:6.1f} ms CPU/crawl "
          f"(start-up {unchanged_engine['startup_cpu']:.1f} s CPU once per pass)   goal <= {GOAL_CPU_MS} ms, "
          f"<= {GOAL_REQUESTS} requests")
    scheduler = re.search(r"the scheduler's own CPU for them ([\d.]+) s \(([\d.]+) ms per crawl.*before them "
                          r"([\d.]+) s", unchanged["log"])
    scheduler_ms = float(scheduler.group(2)) if scheduler else float("nan")
    scheduler_startup = float(scheduler.group(3)) if scheduler else float("nan")
    print(f"    scheduler, per crawl           {scheduler_ms:6.1f} ms CPU/crawl (start-up and job sync "
          f"{scheduler_startup:.1f} s CPU once per pass)")
    print(f"    per source after start-ups     {unchanged_engine['ms_per_crawl'] + scheduler_ms:6.1f} ms CPU "
          f"(engine + scheduler: what a long-running `expowatch schedule` pays per unchanged source)")
    print(f"  threaded conditional GET ({options.pollers:2d})  {poll_wall:8.2f} s wall  "
          f"{poll_cpu / n * 1000:6.1f} ms CPU/source  1.00 requests/source  ({poll_304} answered 304)")
    print(f"  ratio engine / poller           wall {unchanged['wall'] / poll_wall:7.1f}x   "
          f"CPU {unchanged_engine['ms_per_crawl'] / max(poll_cpu / n * 1000, 1e-6):5.1f}x (engine per crawl)")
    print("\none new article per site")
    print(f"  schedule --once (engine)        {fresh['wall']:8.1f} s  {new} new articles stored "
          f"({'exactly N' if new == n else f'EXPECTED {n}'})")
    print("\nmemory")
    peak = max(first_engine["peak_mb"], unchanged_engine["peak_mb"], fresh_engine["peak_mb"])
    tree = max(first["tree_rss"], fresh["tree_rss"]) / 1024 / 1024
    print(f"  engine peak resident memory     {peak:6d} MB   (goal <= {GOAL_RSS_MB} MB at 1,000 sources)")
    print(f"  engine + helpers (sampled)      {tree:6.0f} MB   (extraction workers, store writer, forkserver)")


if __name__ == "__main__":
    main()
