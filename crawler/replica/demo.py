"""The offline demo: crawl the bundled replica web twice and show what the store holds.

Round one crawls every replica site; then the replica publishes a few new articles
and round two shows that only those are fetched and stored.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crawler.crawl import RunSummary, recorded_runs
from storage.engine import resolve_db_url, session_factory
from storage.migrate import ensure_schema
from storage.overview import store_overview
from storage.store import utcnow

MAX_ERRORS_SHOWN = 8


def say(line: str = "") -> None:
    """Demo output goes to stdout, flushed so it interleaves with the crawl's progress."""
    print(line, flush=True)


def crawl_round(db_url: str, sources_file: Path, names: list[str]) -> list[RunSummary]:
    """One `expowatch crawl` of every replica source, as a real subprocess (as cron would run it)."""
    started = utcnow()
    subprocess.run(
        [sys.executable, "-m", "crawler.cli", "crawl", "--quiet", "--sources-file", str(sources_file), "--db", db_url, *names],
        check=False,
    )
    return recorded_runs(db_url, names, since=started)


def print_round(title: str, runs: list[RunSummary], seconds: float) -> None:
    pages = sum(r.pages_fetched for r in runs)
    new = sum(r.articles_new for r in runs)
    copies = sum(r.articles_duplicate for r in runs)
    say(f"\n== {title}: {pages} pages fetched, {new} new stories and {copies} copies of known ones in {seconds:.1f} s")
    for r in runs:
        say(f"   {r.source:<14} {r.status:<8} {r.articles_new:>3} new  {r.articles_duplicate:>3} copies  "
            f"{r.articles_skipped:>3} skipped  {len(r.errors):>3} errors")
    errors = [(r.source, e) for r in runs for e in r.errors]
    for source, error in errors[:MAX_ERRORS_SHOWN]:
        say(f"   error  {source}: {error['url']}: {error['reason']}")
    if len(errors) > MAX_ERRORS_SHOWN:
        say(f"   ... and {len(errors) - MAX_ERRORS_SHOWN} more errors (expowatch runs --failed)")


def print_store(db_url: str) -> None:
    with session_factory(db_url, for_writing=False)() as session:
        overview = store_overview(session)
    say(f"\n== The store: {overview.articles} articles, {overview.stories} distinct stories")
    say("   per source: " + ", ".join(f"{k} {v}" for k, v in overview.per_source.items()))
    say("   per event:  " + (", ".join(f"{k} {v}" for k, v in overview.per_event.items()) or "(no event tags)"))
    say(f"   duplicates: {overview.near_copies} near-copies linked to their story, "
        f"{overview.exact_copies} exact copies recorded as extra URLs")
    say("   skipped:    " + (", ".join(f"{v} {k}" for k, v in sorted(overview.skipped.items())) or "none"))


def run_demo(db: str | None = None) -> int:
    """Run the demo; returns the exit status (0 when both rounds worked)."""
    from crawler.replica import ReplicaWeb

    workdir = Path(tempfile.mkdtemp(prefix="expowatch-demo-"))
    db_url = resolve_db_url(db or str(workdir / "demo.db"))
    ensure_schema(db_url)
    with ReplicaWeb() as web:
        sources_file = web.write_sources_file(workdir / "replica-sources.toml")
        names = sorted(web.sites)
        say(f"Replica web: {len(names)} sites on 127.0.0.1 ({', '.join(names)})")
        say(f"Store: {db_url}")

        start = time.monotonic()
        first = crawl_round(db_url, sources_file, names)
        print_round("Round 1, first crawl", first, time.monotonic() - start)
        print_store(db_url)

        published = web.publish_next_round()
        say(f"\nThe replica publishes {len(published)} new articles ...")
        start = time.monotonic()
        second = crawl_round(db_url, sources_file, names)
        print_round("Round 2, only what is new", second, time.monotonic() - start)

    failed = [r for r in first + second if r.status == "failed"]
    say(f"\nStore: {db_url}")
    say("Try next:")
    say(f'   expowatch search --db {db_url} "World Intelligence Expo"')
    say(f"   expowatch search --db {db_url} 智能")
    say(f"   expowatch search --db {db_url} Wuzhen --format json")
    if failed:
        say(f"\nexpowatch: error: demo crawl failed for {', '.join(dict.fromkeys(r.source for r in failed))}")
        return 1
    return 0


def serve_replica(db: str | None = None) -> None:
    """Serve the replica web until interrupted and print a sources file for it; crawl it once
    into the demo store and serve the read-only web view of that store too."""
    from crawler.replica import ReplicaWeb
    from crawler.web.app import WebConfig
    from crawler.web.server import WebServer

    workdir = Path(tempfile.mkdtemp(prefix="expowatch-replica-"))
    db_url = resolve_db_url(db or str(workdir / "demo.db"))
    ensure_schema(db_url)
    with ReplicaWeb() as web:
        sources_file = web.write_sources_file(workdir / "replica-sources.toml")
        say(sources_file.read_text(encoding="utf-8"))
        say(f"# sources file: {sources_file}")
        crawl_round(db_url, sources_file, sorted(web.sites))
        with WebServer(WebConfig(db_url=db_url)) as view:
            say(f"# web view of the demo store ({db_url}): {view.url}")
            say(f"# try: expowatch crawl --sources-file {sources_file} --db {db_url}")
            say(f"#      expowatch schedule --sources-file {sources_file} --db {db_url}")
            say("# serving on 127.0.0.1; Ctrl-C stops")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                say("stopped")
