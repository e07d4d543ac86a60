"""Peak memory of `expowatch crawl` on a huge gzipped sitemap, against a small one in the same run.

    python benchmarks/sitemap_memory.py [--entries 1400000] [--seconds 60] [--small 1000]

A server on 127.0.0.1 serves one gzipped sitemap of --entries URLs (short root-relative
locs: ~1.4 million entries are ~46 MB inflated from ~3 MB, under the protocol's 50 MB cap)
and a small HTML article at every such URL. Three crawls run in subprocesses, each
watched by psutil every 50 ms (the crawl's own process, and the sum over its process tree
with the extraction workers):

  baseline   a sitemap of --small entries that all match article_pattern
  no match   the huge sitemap, article_pattern matching none of its URLs
  match      the huge sitemap, every URL an article (the crawl is interrupted with SIGINT
             after --seconds once the sitemap has been read: the peak is when the
             queue is fullest, right after reading; it only drains afterwards)

It prints the peak RSS of each (MB), the ratio against the baseline, and what the crawl
logged about its caps. The goal: under 300 MB for the crawl process in both huge cases.
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = (b"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Item %s</title></head>"
           b"<body><article><h1>Item %s</h1><p class='date'>2024-05-01</p>"
           b"<p>The exhibition hall opened its doors to visitors from many provinces this morning, and the "
           b"organisers counted the first delegations before noon.</p><p>Exhibitors showed robots, "
           b"sensors and software for factories, and talks ran in three halls until the evening.</p>"
           b"</article></body></html>")


def build_sitemap(entries: int, prefix: str) -> bytes:
    """A gzipped urlset of `entries` root-relative URLs under `prefix`."""
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
    body = b"".join(b"<url><loc>%s%07d</loc></url>\n" % (prefix.encode(), i) for i in range(entries))
    raw = head + body + b"</urlset>\n"
    print(f"sitemap of {entries} entries: {len(raw) / 1e6:.1f} MB inflated", end="")
    packed = gzip.compress(raw, 6)
    print(f", {len(packed) / 1e6:.2f} MB gzipped")
    return packed


class Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sitemaps: dict[str, bytes]):
        self.sitemaps = sitemaps
        self.article_requests = 0
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    server: Site

    def do_GET(self) -> None:  # noqa: N802
        if self.path in self.server.sitemaps:
            body, kind = self.server.sitemaps[self.path], "application/x-gzip"
        elif self.path.startswith("/n/"):
            self.server.article_requests += 1
            slug = self.path.rsplit("/", 1)[-1].encode()
            body, kind = ARTICLE % (slug, slug), "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """RSS of the process itself and of it plus its children (bytes)."""
    try:
        own = proc.memory_info().rss
    except psutil.Error:
        return 0, 0
    total = own
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return own, total


def crawl(tmp: Path, base: str, sitemap: str, pattern: str, *, seconds: float | None, name: str) -> dict:
    """Run `expowatch crawl` on one source; its peak RSS (own, tree), run time and log lines about caps."""
    sources = tmp / f"{name}.toml"
    sources.write_text(
        f'[[source]]\nname = "{name}"\nsitemaps = ["{base}{sitemap}"]\n'
        f"article_pattern = '{pattern}'\nallow_private_addresses = true\n"
        "download_delay = 0\nconcurrency = 8\nlanguage = \"en\"\n", encoding="utf-8")
    db = tmp / f"{name}.db"
    log = tmp / f"{name}.log"
    cmd = [sys.executable, "-m", "crawler.cli", "crawl", name, "--sources-file", str(sources),
           "--db", str(db), "--verbose"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ))
        watched = psutil.Process(proc.pid)
        peak_own = peak_tree = 0
        started = time.monotonic()
        interrupted = False
        while proc.poll() is None:
            own, total = tree_rss(watched)
            peak_own, peak_tree = max(peak_own, own), max(peak_tree, total)
            if seconds is not None and not interrupted and time.monotonic() - started > seconds:
                proc.send_signal(signal.SIGINT)
                interrupted = True
            if time.monotonic() - started > (seconds or 0) + 600:
                proc.kill()
            time.sleep(0.05)
    text = log.read_text(encoding="utf-8", errors="replace")
    notes = [line.split(": ", 2)[-1] for line in text.splitlines() if "EXPOWATCH_MAX_" in line and "WARNING" in line]
    return {"own": peak_own / 2**20, "tree": peak_tree / 2**20, "seconds": time.monotonic() - started,
            "code": proc.returncode, "notes": notes, "interrupted": interrupted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_400_000)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=90.0,
                        help="how long the matching crawl runs before SIGINT (it must read the sitemap first)")
    args = parser.parse_args()
    site = Site({"/big.xml.gz": build_sitemap(args.entries, "/n/"), "/small.xml.gz": build_sitemap(args.small, "/n/")})
    threading.Thread(target=site.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{site.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        runs = {
            "baseline (small, all match)": crawl(tmp, base, "/small.xml.gz", r"/n/\d+$", seconds=None, name="small"),
            "huge, no match": crawl(tmp, base, "/big.xml.gz", r"/none/\d+$", seconds=None, name="nomatch"),
            "huge, all match": crawl(tmp, base, "/big.xml.gz", r"/n/\d+$", seconds=args.seconds, name="match"),
        }
    site.shutdown()
    baseline = runs["baseline (small, all match)"]["own"]
    print(f"\n{'crawl':30} {'peak RSS crawl':>15} {'with workers':>13} {'vs baseline':>12} {'time':>7}")
    for label, run in runs.items():
        print(f"{label:30} {run['own']:12.0f} MB {run['tree']:10.0f} MB {run['own'] / baseline:11.2f}x "
              f"{run['seconds']:6.0f}s{'  (SIGINT)' if run['interrupted'] else ''}")
        for note in run["notes"][:3]:
            print(f"    {note}")
    print(f"article requests served: {site.article_requests}")
    worst = max(runs["huge, no match"]["own"], runs["huge, all match"]["own"])
    print(f"goal: crawl process under 300 MB on the huge sitemap: {'met' if worst < 300 else 'NOT met'} "
          f"({worst:.0f} MB)")


if __name__ == "__main__":
    main()
