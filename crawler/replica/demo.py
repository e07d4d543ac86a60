"""The offline demo: crawl the bundled replica web twice and show what the store holds.

Round one crawls every replica site; then the replica publishes a few new articles
and round two shows that only those are fetched and stored.
"""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

from crawler.crawl import RunSummary, recorded_runs
from storage.engine import resolve_db_url, session_factory
from storage.migrate import ensure_schema
from storage.overview import store_overview
from storage.store import utcnow

MAX_ERRORS_SHOWN = 8


def say(line: str = "") -> None:
    """Demo output goes to stdout, flushed so it interleaves with the crawl's progress."""
    print(line, flush=True)


def plural(n: int, singular: str, plural_form: str | None = None, width: int = 0) -> str:
    """'1 copy', '3 copies' (the number right-aligned in width)."""
    return f"{n:>{width}} {singular if n == 1 else plural_form or singular + 's'}"


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
    say(f"\n== {title}: {plural(pages, 'page')} fetched, {plural(new, 'new story', 'new stories')} and "
        f"{plural(copies, 'copy', 'copies')} of known ones in {seconds:.1f} s")
    for r in runs:
        say(f"   {r.source:<14} {r.status:<8} {r.articles_new:>3} new  {plural(r.articles_duplicate, 'copy', 'copies', 3):<10}"
            f"{r.articles_skipped:>3} skipped  {plural(len(r.errors), 'error', width=3)}")
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
    """Run the demo; returns the exit status (0 when both rounds worked).

    The temporary folder stays after a finished demo when it holds the store to try (no
    `db` given); Ctrl-C or SIGTERM before the end removes it.
    """
    workdir = Path(tempfile.mkdtemp(prefix="expowatch-demo-"))
    try:
        with stop_on_sigterm():
            status = _run_demo(db, workdir)
    except (KeyboardInterrupt, StopServing):
        shutil.rmtree(workdir, ignore_errors=True)
        say("stopped")
        return 130
    # The replica's sources file names ports that are closed now: only a store is worth keeping.
    if db:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        (workdir / "replica-sources.toml").unlink(missing_ok=True)
    return status


def _run_demo(db: str | None, workdir: Path) -> int:
    from crawler.replica import ReplicaWeb

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


ADMIN_PATH = "/publish-next-round"  # POST here: the replica publishes its next round


class StopServing(Exception):
    """SIGTERM arrived: leave the serve loop and clean up, as after Ctrl-C."""


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Inside: SIGTERM raises StopServing in the main thread, so `finally` blocks run."""
    def handler(signum, frame):
        raise StopServing()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class ServedDemo:
    """What `demo --serve` runs: the replica web, its sources file, the store, the admin URL."""

    web: object  # crawler.replica.ReplicaWeb
    sources_file: Path
    db_url: str
    admin: ThreadingHTTPServer | None = None
    view_url: str | None = None  # the web view of the store (crawler.web), once it serves
    published: "queue.Queue[str]" = field(default_factory=queue.Queue)  # lines to print from other threads

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin.server_address[1]}{ADMIN_PATH}"

    def publish_next_round(self) -> str:
        """Publish the replica's next round; returns a line saying what appeared."""
        urls = self.web.publish_next_round()
        if not urls:
            return "nothing more to publish: every round of the replica is out"
        return f"published round {self.web.phase}: {len(urls)} new articles (crawl again to fetch them)"


def _admin_server(demo: ServedDemo, port: int) -> ThreadingHTTPServer:
    """A loopback HTTP server whose POST /publish-next-round publishes the next round."""

    class Admin(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            if self.path != ADMIN_PATH:
                self.send_error(404, f"POST {ADMIN_PATH} publishes the next round")
                return
            line = demo.publish_next_round()
            demo.published.put(line)
            body = (line + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            """Quiet: the serve loop prints what was published."""

    server = ThreadingHTTPServer(("127.0.0.1", port), Admin)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="demo-admin", daemon=True).start()
    return server


def serve_replica(db: str | None = None, port: int = 0) -> int:
    """Serve the replica web until Ctrl-C or SIGTERM, round one crawled into the store, and the read-only
    web view of that store; returns the exit status.

    The sites listen on port, port+1, ... (any free ports for 0) and the admin URL on
    the port after them. The temporary folder (sources file, and the store when no
    --db is given) is removed however the demo ends.
    """
    from crawler.replica import ReplicaWeb
    from crawler.web.app import WebConfig
    from crawler.web.server import WebServer

    workdir = Path(tempfile.mkdtemp(prefix="expowatch-replica-"))
    try:
        with stop_on_sigterm():
            db_url = resolve_db_url(db or str(workdir / "demo.db"))
            ensure_schema(db_url)
            with ReplicaWeb(base_port=port) as web:
                demo = ServedDemo(web, web.write_sources_file(workdir / "replica-sources.toml"), db_url)
                demo.admin = _admin_server(demo, port + len(web.sites) if port else 0)
                try:
                    with WebServer(WebConfig(db_url=db_url)) as view:
                        demo.view_url = view.url
                        return serve_loop(demo)
                finally:
                    demo.admin.shutdown()
                    demo.admin.server_close()
    except (KeyboardInterrupt, StopServing):
        say("stopped")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def serve_loop(demo: ServedDemo) -> int:
    """Crawl round one into the store, print how to use the running demo, then serve until stopped.

    Enter on a terminal publishes the next round, as a POST to the admin URL does.
    """
    names = sorted(demo.web.sites)
    say(demo.sources_file.read_text(encoding="utf-8"))
    start = time.monotonic()
    first = crawl_round(demo.db_url, demo.sources_file, names)
    print_round("Round 1 crawled into the store", first, time.monotonic() - start)
    files = f"--sources-file {demo.sources_file} --db {demo.db_url}"
    say(f"# sources file: {demo.sources_file}")
    say(f"# store: {demo.db_url}")
    say(f"# web view of the demo store ({demo.db_url}): {demo.view_url}")
    say(f'# try: expowatch search --db {demo.db_url} "Smart China Expo"')
    say(f"#      expowatch crawl {files}")
    say(f"#      expowatch schedule {files}")
    press = "press Enter or " if sys.stdin.isatty() else ""
    say(f"# publish the next round: {press}curl -X POST {demo.admin_url}")
    ports = sorted(int(site.base_url.rsplit(":", 1)[1]) for site in demo.web.sites.values())
    say(f"# serving on 127.0.0.1 ports {', '.join(map(str, ports))}; Ctrl-C stops")
    if sys.stdin.isatty():
        threading.Thread(target=_publish_on_enter, args=(demo,), name="demo-keys", daemon=True).start()
    while True:
        try:
            say(demo.published.get(timeout=0.5))
        except queue.Empty:
            continue


def _publish_on_enter(demo: ServedDemo) -> None:
    for _line in sys.stdin:
        demo.published.put(demo.publish_next_round())
