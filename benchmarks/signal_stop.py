"""How fast a crawl ends when its whole process group gets SIGTERM (timeout(1), Docker, systemd).

    python benchmarks/signal_stop.py [--tries 20] [--grace 10] [--articles 400]

Each try crawls a site of --articles articles served on 127.0.0.1 into a fresh SQLite store
and, once 30 articles are stored, signals the crawl. Prints, per try, the seconds until the
crawl process ended, its run status and the pages recorded as lost to the shutdown; then how
many of the tries ended within the grace period, and the ratio of the median stop time to a
baseline measured in the same run: SIGINT to the crawl process alone (Ctrl-C in a shell that
does not signal the group), the case that always ended cleanly.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from hostile_server import HostileServer, article, crawl_env, feed, signal_crawl, write_sources  # noqa: E402

STORED_BEFORE_SIGNAL = 30


def tries(site: HostileServer, tmp: Path, count: int, *, signum: int, group: bool, grace: float, label: str):
    sources = write_sources(tmp / "sources.toml", {"site": {"feeds": [site.url("/feed.xml")],
                                                              "article_pattern": r"/a/\d+\.html$", "concurrency": 8}})
    results = []
    for n in range(count):
        db = tmp / f"{label}-{n}.db"
        outcome = signal_crawl(["crawl", "--sources-file", str(sources), "--db", str(db)], crawl_env(tmp), db,
                               signum=signum, group=group, after_articles=STORED_BEFORE_SIGNAL, grace=grace, workdir=tmp)
        ended = f"{outcome.seconds:5.2f} s" if outcome.seconds is not None else "  HUNG"
        print(f"{label} {n + 1:2d}: ended {ended}, exit {outcome.returncode}, run {outcome.run_status}, "
              f"{outcome.stored_at_signal} stored at the signal, {outcome.stored} in the end, "
              f"{outcome.shutdown_errors} recorded as shutdown", flush=True)
        results.append(outcome)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--baseline-tries", type=int, default=5)
    parser.add_argument("--grace", type=float, default=10.0, help="seconds (Docker's default stop timeout)")
    parser.add_argument("--articles", type=int, default=400)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir, HostileServer({r"/a/\d+\.html": article}) as site:
        tmp = Path(tmp_dir)
        site.routes["/feed.xml"] = feed([site.url(f"/a/{n}.html") for n in range(1, options.articles + 1)])
        group = tries(site, tmp, options.tries, signum=signal.SIGTERM, group=True, grace=options.grace,
                      label="group SIGTERM")
        baseline = tries(site, tmp, options.baseline_tries, signum=signal.SIGINT, group=False, grace=options.grace,
                         label="process SIGINT")
    ended = [o for o in group if o.seconds is not None and o.run_status != "running"]
    print(f"\ngroup SIGTERM: {len(ended)}/{len(group)} tries ended within {options.grace:g} s with the run recorded")
    if ended:
        times = [o.seconds for o in ended]
        print(f"  stop time: median {statistics.median(times):.2f} s, max {max(times):.2f} s")
    base_times = [o.seconds for o in baseline if o.seconds is not None]
    if ended and base_times:
        ratio = statistics.median([o.seconds for o in ended]) / statistics.median(base_times)
        print(f"baseline process SIGINT: median {statistics.median(base_times):.2f} s; ratio group/baseline {ratio:.2f}")


if __name__ == "__main__":
    main()
