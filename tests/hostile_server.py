"""A misbehaving web for tests: HTTP servers on 127.0.0.1 (port 0) that answer the way
hostile or broken sites do (bodies without end, drips, bombs, redirect loops, storms),
plus the feeds, sitemaps, articles and sources files the crawls need, and a crawl runner
that measures the crawl's wall time and peak memory.

    with HostileServer({"/feed.xml": page(rss([...])), r"/a/\\d+\\.html": article}) as site:
        site.url("/feed.xml")
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable

from loopback import serve, stop

MB = 1024 * 1024
CHUNK = 64 * 1024  # bytes written per send by the streaming behaviours


class Exchange:
    """One request being answered: its path, how many times that path was asked, and the socket."""

    def __init__(self, handler: BaseHTTPRequestHandler, nth: int, closing: threading.Event):
        self.handler = handler
        self.path = handler.path
        self.nth = nth
        self.closing = closing

    def head(self, status: int, headers: dict[str, str]) -> None:
        self.handler.send_response(status)
        for name, value in headers.items():
            self.handler.send_header(name, value)
        self.handler.end_headers()

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """A complete, honest response."""
        self.head(status, {"Content-Type": "text/html; charset=utf-8", **(headers or {}),
                           "Content-Length": str(len(body))})
        self.write(body)

    def write(self, data: bytes) -> bool:
        """Send bytes; False once the client has hung up."""
        try:
            self.handler.wfile.write(data)
            self.handler.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            return False


Handler = Callable[[Exchange], None]


class HostileServer:
    """An HTTP/1.1 server on 127.0.0.1 whose routes are behaviours.

    routes maps an exact path, or a regex matched against the whole path with its query,
    to a Handler. Unknown paths are 404; /robots.txt allows everything unless routed.
    address and port: where to listen instead (another loopback address, ::1, a given port).
    """

    def __init__(self, routes: dict[str, Handler], *, address: str = "127.0.0.1", port: int = 0):
        self.routes = routes
        self.hits: list[str] = []
        self._lock = threading.Lock()
        self.closing = threading.Event()
        self.httpd = serve(self._answer, protocol_version="HTTP/1.1", address=address, port=port)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def paths(self) -> list[str]:
        """Every path requested so far, in arrival order."""
        with self._lock:
            return list(self.hits)

    def count(self, pattern: str) -> int:
        """How many requests had a path matching the regex (whole path)."""
        return sum(1 for p in self.paths() if re.fullmatch(pattern, p))

    def close(self) -> None:
        self.closing.set()  # ends drips and endless bodies still being served
        stop(self.httpd)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.hits.append(handler.path)
            nth = self.hits.count(handler.path)
        behaviour = self._route(handler.path)
        behaviour(Exchange(handler, nth, self.closing))

    def _route(self, path: str) -> Handler:
        if path in self.routes:
            return self.routes[path]
        for pattern, behaviour in self.routes.items():
            if re.fullmatch(pattern, path):
                return behaviour
        if path == "/robots.txt":
            return page(b"User-agent: *\nDisallow:\n", content_type="text/plain")
        return page(b"<html><body>not here</body></html>", status=404)


# -- behaviours ----------------------------------------------------------------------


def page(body: bytes, *, status: int = 200, content_type: str = "text/html; charset=utf-8",
         headers: dict[str, str] | None = None) -> Handler:
    """An honest response."""
    return lambda ex: ex.send(status, body, {"Content-Type": content_type, **(headers or {})})


def redirect(location: str | Callable[[Exchange], str], status: int = 302) -> Handler:
    """A redirect; location may depend on the request (for endless chains)."""
    def answer(ex: Exchange) -> None:
        target = location(ex) if callable(location) else location
        ex.send(status, b"", {"Location": target})
    return answer


def endless_body(content_type: str = "text/html; charset=utf-8") -> Handler:
    """200 with no Content-Length and a body that never ends (until the client hangs up)."""
    def answer(ex: Exchange) -> None:
        ex.head(200, {"Content-Type": content_type, "Connection": "close"})
        ex.handler.close_connection = True
        filler = b"<p>" + b"more " * (CHUNK // 5) + b"</p>"
        ex.write(b"<html><body>")
        while not ex.closing.is_set() and ex.write(filler):
            pass
    return answer


def declared_huge(size: int) -> Handler:
    """200 announcing a Content-Length of `size`, then streaming zeros towards it."""
    def answer(ex: Exchange) -> None:
        ex.head(200, {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(size)})
        sent = 0
        while sent < size and not ex.closing.is_set() and ex.write(b" " * CHUNK):
            sent += CHUNK
    return answer


def drip(interval: float, content_type: str = "text/html; charset=utf-8") -> Handler:
    """Headers at once, then one byte every `interval` seconds, never finishing."""
    def answer(ex: Exchange) -> None:
        ex.head(200, {"Content-Type": content_type, "Content-Length": str(MB)})
        while not ex.closing.wait(interval) and ex.write(b" "):
            pass
    return answer


def silent(ex: Exchange) -> None:
    """Accept the request, then say nothing until the server closes."""
    ex.closing.wait()


def truncated(body: bytes, missing: int = 5000) -> Handler:
    """A Content-Length `missing` bytes longer than what is sent before the connection closes."""
    def answer(ex: Exchange) -> None:
        ex.head(200, {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body) + missing),
                      "Connection": "close"})
        ex.handler.close_connection = True
        ex.write(body)
    return answer


def status(code: int, headers: dict[str, str] | None = None) -> Handler:
    """The same error every time (a 5xx storm, a 429 wall)."""
    return page(f"<html><body>error {code}</body></html>".encode(), status=code, headers=headers)


def gzip_bomb(inflated: int, *, content_type: str = "text/html; charset=utf-8",
              encoded: bool = True) -> Handler:
    """A small gzip body inflating to `inflated` bytes of zeros.

    encoded: served with Content-Encoding: gzip (the HTTP layer inflates it); otherwise as a
    plain .gz file body (a gzipped sitemap, inflated by the sitemap reader).
    """
    body = gzip_of_zeros(inflated)
    headers = {"Content-Encoding": "gzip"} if encoded else {}
    return page(body, content_type=content_type, headers=headers)


@lru_cache(maxsize=4)
def gzip_of_zeros(size: int) -> bytes:
    """gzip of `size` zero bytes (a multiple of 1 MiB) in well under a second.

    A full flush resets the compressor, so every 1 MiB block compresses to the same bytes:
    one block is compressed and repeated (about 1,000 : 1).
    """
    if size % MB:
        raise ValueError("size must be a whole number of MiB")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MB)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // MB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + block * (size // MB) + compressor.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF)


# -- content -------------------------------------------------------------------------

THINGS = ("welding robots", "delivery drones", "voice assistants", "battery cells", "smart meters",
          "wafer steppers", "harbour cranes", "care robots", "soil sensors", "signal boxes", "rain radars")
CITIES = ("Tianjin", "Chongqing", "Nanjing", "Wuzhen", "Hangzhou", "Hefei", "Xiamen", "Wuhan", "Suzhou")


def article_html(number: int, *, title: str | None = None, extra: str = "") -> bytes:
    """An English news article, different for each number (so dedup keeps them apart)."""
    rng = random.Random(f"hostile-{number}")
    title = title or f"Story {number}: {rng.choice(THINGS)} on show in {rng.choice(CITIES)}"
    paragraphs = "".join(
        f"<p>Exhibitors from {rng.choice(CITIES)} set out {rng.choice(THINGS)} next to {rng.choice(THINGS)} "
        f"in hall {rng.randint(1, 40)}, and a crew of {rng.randint(3, 70)} technicians said the rollout "
        f"had taken {rng.randint(2, 30)} months and cost less than planned.</p>"
        for _ in range(6)
    )
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<article><h1>{title}</h1><p class='date'>Published 2024-05-{number % 27 + 1:02d} 10:00</p>"
            f"{paragraphs}{extra}</article></body></html>").encode()


def article(ex: Exchange) -> None:
    """Route handler: /a/N.html (any query) is article N."""
    ex.send(200, article_html(int(re.search(r"/a/(\d+)", ex.path).group(1))))


def rss(links: list[str]) -> bytes:
    items = "".join(f"<item><title>Item {i}</title><link>{link}</link></item>" for i, link in enumerate(links))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>news</title><link>/</link>{items}'
            f"</channel></rss>").encode()


def feed(links: list[str]) -> Handler:
    return page(rss(links), content_type="application/rss+xml")


def urlset(links: list[str]) -> bytes:
    urls = "".join(f"<url><loc>{link}</loc></url>" for link in links)
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()


def sitemap_index(links: list[str]) -> bytes:
    maps = "".join(f"<sitemap><loc>{link}</loc></sitemap>" for link in links)
    return (f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{maps}'
            f"</sitemapindex>").encode()


def billion_laughs(depth: int = 9, fan_out: int = 10) -> bytes:
    """A DOCTYPE whose entity &lol{depth}; expands to fan_out**depth copies of a word."""
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * fan_out}">' for i in range(1, depth + 1))
    return f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{entities}]>'.encode()


# -- sources and crawls ---------------------------------------------------------------

SOURCE_DEFAULTS: dict[str, Any] = {
    "download_delay": 0, "concurrency": 4, "language": "en", "allow_private_addresses": True, "max_pages": 5,
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON escapes are TOML escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_sources(path: Path, sources: dict[str, dict[str, Any]]) -> Path:
    """A sources file with one [[source]] per name; test-friendly defaults (SOURCE_DEFAULTS)."""
    tables = []
    for name, keys in sources.items():
        merged = {"name": name, **SOURCE_DEFAULTS, **keys}
        tables.append("[[source]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in merged.items() if v is not None))
    path.write_text("\n".join(tables), encoding="utf-8")
    return path


def crawl_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for a CLI crawl, as tests/conftest.py cli_env builds it (no EXPOWATCH_* leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPOWATCH_")}
    env.update(XDG_DATA_HOME=str(tmp / "xdg"), PYTHONWARNINGS="error::DeprecationWarning", **extra)
    return env


@dataclass(frozen=True)
class CrawlOutcome:
    """A finished CLI process: exit code, output, wall time and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float


def run_measured(args: list[str], env: dict[str, str], *, timeout: float, settings: dict[str, Any] | None = None,
                 workdir: Path, prelude: str = "") -> CrawlOutcome:
    """Run `expowatch ARGS` (python -m crawler.cli) and measure it; killed after `timeout` seconds.

    settings: Scrapy settings to change for this run (the CLI has no option for them), set
    on crawler.settings before the same CLI entry point runs.
    prelude: Python statements run in the crawl process first (e.g. installing a test DNS).
    """
    if settings or prelude:
        assignments = "".join(f"s.{key} = {value!r}; " for key, value in (settings or {}).items())
        command = [sys.executable, "-c", f"{prelude}\nimport crawler.settings as s; {assignments}"
                   "from crawler.cli import main; main()", *args]
    else:
        command = [sys.executable, "-m", "crawler.cli", *args]
    out_path, err_path = workdir / "crawl.out", workdir / "crawl.err"
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, wait_status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    return CrawlOutcome(
        returncode=proc.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        seconds=time.monotonic() - started,
        max_rss_mb=usage.ru_maxrss / 1024,  # Linux reports KiB
    )


# -- reading the store ----------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A source's newest crawl_runs row."""

    status: str
    message: str | None
    errors: list[dict[str, str]]
    skip_reasons: dict[str, int]
    stats: dict[str, Any]

    def errors_for(self, url: str) -> list[str]:
        """Reasons recorded for one URL."""
        return [e["reason"] for e in self.errors if e["url"] == url]


def runs(db_path: Path) -> dict[str, Run]:
    """The newest run of every source in a SQLite store."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT s.name, r.status, r.message, r.errors, r.skip_reasons, r.stats FROM crawl_runs r "
            "JOIN sources s ON s.id = r.source_id ORDER BY r.id").fetchall()
    return {name: Run(st, msg, json.loads(err or "[]"), json.loads(skips or "{}"), json.loads(stats or "{}"))
            for name, st, msg, err, skips, stats in rows}


def stored(db_path: Path) -> dict[str, tuple[str | None, str]]:
    """canonical URL -> (title, content hash) of every stored article."""
    with sqlite3.connect(db_path) as conn:
        return {url: (title, digest) for url, title, digest in
                conn.execute("SELECT canonical_url, title, content_hash FROM articles")}


def skipped(db_path: Path) -> dict[str, str]:
    """URL -> skip reason of every page remembered as skipped."""
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("SELECT url, reason FROM skipped_pages"))


# -- stopping a crawl by a signal --------------------------------------------------------

POLL_STORE_SECONDS = 0.05


@dataclass(frozen=True)
class SignalledCrawl:
    """A crawl stopped by a signal: how long it took to end (None: it did not, and was killed) and what it recorded."""

    seconds: float | None
    returncode: int | None
    stored_at_signal: int
    stored: int
    run_status: str
    shutdown_errors: int
    stderr: str


def count_articles(db_path: Path) -> int:
    try:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def settled_count(db_path: Path, *, quiet: float = 2.0, timeout: float = 60) -> int:
    """The article count once it has stopped changing for `quiet` seconds (at most `timeout`).

    A killed crawl's helpers live in a session of their own (crawler/helper_session.py): the
    store writer may still commit the batch it held before it sees its crawl gone and ends.
    """
    deadline = time.monotonic() + timeout
    count, since = count_articles(db_path), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(POLL_STORE_SECONDS)
        now = count_articles(db_path)
        if now != count:
            count, since = now, time.monotonic()
    return count


def signal_crawl(args: list[str], env: dict[str, str], db_path: Path, *, signum: int, group: bool,
                 after_articles: int, grace: float, workdir: Path, start_timeout: float = 120) -> SignalledCrawl:
    """Start `expowatch ARGS` in a process group of its own, send signum once `after_articles` are
    stored (to the whole group, as timeout(1) and Docker do, or to the crawl process alone), and
    wait up to `grace` seconds for it to end; a crawl still running then is killed (SIGKILL)."""
    err_path = workdir / "signalled.err"
    with err_path.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + start_timeout
        while proc.poll() is None and time.monotonic() < deadline and count_articles(db_path) < after_articles:
            time.sleep(POLL_STORE_SECONDS)  # polling the store: the crawl gives no other sign of progress
        at_signal = count_articles(db_path)
        started = time.monotonic()
        (os.killpg if group else os.kill)(proc.pid, signum)
        try:
            returncode = proc.wait(timeout=grace)
            seconds: float | None = time.monotonic() - started
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            returncode, seconds = None, None
    with sqlite3.connect(db_path) as conn:
        status, stats = conn.execute("SELECT status, stats FROM crawl_runs ORDER BY id DESC LIMIT 1").fetchone()
    shutdown = json.loads(stats or "{}").get("expowatch/articles_shutdown", 0)
    return SignalledCrawl(seconds, returncode, at_signal, count_articles(db_path), status, shutdown,
                          err_path.read_text(errors="replace"))
