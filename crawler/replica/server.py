"""ReplicaWeb: the six replica sites served on 127.0.0.1, one port each.

Routes are rebuilt whenever a round is published; each request is counted by
(site, kind) and logged with the headers a politeness test needs.
"""

from __future__ import annotations

import hashlib
import json
import math
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from . import render
from .catalog import SITE_NAMES, Entry, SiteSpec, load_catalog
from .synthetic import generate_entries

REQUEST_KINDS = ("article", "list", "feed", "sitemap", "robots", "other", "not_found")
SITE_MODES = ("ok", "down", "js_shell")
LOGGED_HEADERS = ("User-Agent", "If-None-Match", "If-Modified-Since")
# A "down" site asks clients to come back after this many seconds (Retry-After).
DOWN_RETRY_AFTER_SECONDS = 120
# Default list page size: small, so the 40-odd fixture articles span 3+ pages per site.
DEFAULT_PAGE_SIZE = 5
# serve_forever's poll interval: how long stop() waits for each server loop to notice.
SHUTDOWN_POLL_SECONDS = 0.05
# How many headlines a homepage shows.
HOME_HEADLINES = 5


@dataclass(frozen=True)
class Site:
    """A running replica site."""

    name: str
    base_url: str


@dataclass
class ExpectedArticle:
    """A published replica page and what a correct crawl should make of it."""

    site: str
    url: str
    expected: dict[str, Any]
    entry: Entry
    _web: "ReplicaWeb" = field(repr=False)

    @property
    def raw_path(self) -> Path | None:
        """The data file the page is rendered from (None for synthetic articles)."""
        return self.entry.source_file

    def render(self) -> bytes:
        """The exact bytes the server sends for this URL in mode "ok"."""
        return self._web.render_entry(self.entry)


@dataclass
class Route:
    """How one path answers: a kind for counting, a status, and a lazily rendered page."""

    kind: str
    status: int
    make: Callable[[], render.Page] | None = None
    location: str | None = None
    conditional: bool = False
    last_modified: datetime | None = None
    is_article: bool = False
    _page: render.Page | None = None

    def page(self) -> render.Page:
        if self._page is None:
            assert self.make is not None
            self._page = self.make()
        return self._page


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, web: "ReplicaWeb", site: str, port: int = 0) -> None:
        self.web = web
        self.site_name = site
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _SiteServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus the
        # client's delayed ACK cost ~40 ms per keep-alive response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.server.web._answer(self, self.server.site_name, send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.web._answer(self, self.server.site_name, send_body=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence per-request stderr lines; ReplicaWeb.request_log records requests."""


class ReplicaWeb:
    """The bundled replica web: six sites, two publishing rounds, optional synthetic bulk."""

    def __init__(self, scale: int = 0, page_size: int = DEFAULT_PAGE_SIZE, base_port: int = 0) -> None:
        """base_port: serve the sites on base_port, base_port + 1, ... (0: any free ports)."""
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        if scale < 0:
            raise ValueError(f"scale must be >= 0, got {scale}")
        self._specs, entries = load_catalog()
        self._entries: list[Entry] = entries + generate_entries(self._specs, scale)
        self.page_size = page_size
        self.base_port = base_port
        self.phase = 1
        self.sites: dict[str, Site] = {}
        self._servers: dict[str, _SiteServer] = {}
        self._threads: list[threading.Thread] = []
        self._modes: dict[str, str] = {name: "ok" for name in SITE_NAMES}
        self._robots: dict[str, str] = {}
        self._routes: dict[str, dict[str, Route]] = {}
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self.request_log: list[tuple[float, str, str, str, str, int, dict[str, str]]] = []

    # ---- lifecycle -------------------------------------------------------
    def start(self) -> "ReplicaWeb":
        """Bind every site to its own 127.0.0.1 port and serve in daemon threads."""
        if self._servers:
            return self
        for index, name in enumerate(SITE_NAMES):
            try:
                server = _SiteServer(self, name, self.base_port + index if self.base_port else 0)
            except OSError:  # the port is taken: release the sites already bound (none is serving yet)
                for bound in self._servers.values():
                    bound.server_close()
                self._servers.clear()
                self.sites.clear()
                raise
            self._servers[name] = server
            self.sites[name] = Site(name, f"http://127.0.0.1:{server.server_address[1]}")
        self._rebuild_routes()
        for name, server in self._servers.items():
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
                name=f"replica-{name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Shut every site down and close its socket."""
        stoppers = [threading.Thread(target=s.shutdown) for s in self._servers.values()]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in self._servers.values():
            server.server_close()
        for thread in self._threads:
            thread.join()
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> "ReplicaWeb":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- publishing ------------------------------------------------------
    @property
    def max_phase(self) -> int:
        return max(e.phase for e in self._entries)

    def publish_next_round(self) -> list[str]:
        """Publish the next phase; return the absolute URLs of its new articles."""
        if self.phase >= self.max_phase:
            return []
        self.phase += 1
        self._rebuild_routes()
        return [
            self._base(e.site) + e.path
            for e in self._entries
            if e.phase == self.phase and e.kind == "article"
        ]

    def _published(self, site: str | None = None) -> list[Entry]:
        found = [
            e for e in self._entries
            if e.phase <= self.phase and (site is None or e.site == site)
        ]  # fmt: skip
        return sorted(found, key=lambda e: (e.published, e.path), reverse=True)

    # ---- expectations ----------------------------------------------------
    def expected_articles(self, phase: int | None = None) -> list[ExpectedArticle]:
        """Published real articles (optionally of one phase), with expectations."""
        return [
            self._expected(e)
            for e in self._published()
            if e.kind == "article" and (phase is None or e.phase == phase)
        ]

    def expected_non_articles(self) -> list[ExpectedArticle]:
        """Published pages that are not articles: JS shells (skip) and dead links (error)."""
        return [self._expected(e) for e in self._published() if e.kind != "article"]

    def _expected(self, entry: Entry) -> ExpectedArticle:
        return ExpectedArticle(
            site=entry.site,
            url=self._base(entry.site) + entry.path,
            expected=json.loads(json.dumps(entry.expected)),
            entry=entry,
            _web=self,
        )

    def render_entry(self, entry: Entry) -> bytes:
        """Bytes served for ``entry`` when its site is in mode "ok"."""
        spec = self._specs[entry.site]
        if entry.kind == "js_shell":
            return render.render_js_shell(spec).body
        if entry.kind == "missing":
            return _not_found_page().body
        return render.render_article(spec, entry, self._bases()).body

    # ---- sources ---------------------------------------------------------
    def sources_toml(self) -> str:
        """TOML ``[[source]]`` declarations for the six running sites."""
        from .sources import sources_toml

        self._base(SITE_NAMES[0])  # refuses before start(): ports are not known yet
        return sources_toml(self._specs, self._bases())

    def write_sources_file(self, path: str | Path) -> Path:
        """Write :meth:`sources_toml` to ``path`` and return it."""
        target = Path(path)
        target.write_text(self.sources_toml(), encoding="utf-8")
        return target

    # ---- behaviour switches and counters -------------------------------------
    def set_mode(self, site: str, mode: str) -> None:
        """"ok", "down" (every request 503) or "js_shell" (article pages become a shell)."""
        self._check_site(site)
        if mode not in SITE_MODES:
            raise ValueError(f"mode must be one of {SITE_MODES}, got {mode!r}")
        self._modes[site] = mode

    def set_robots(self, site: str, text: str | None) -> None:
        """Serve ``text`` as the site's robots.txt (None restores the default)."""
        self._check_site(site)
        if text is None:
            self._robots.pop(site, None)
        else:
            self._robots[site] = text

    def request_counts(self) -> Counter[tuple[str, str]]:
        """Requests so far keyed by (site, kind)."""
        with self._lock:
            return Counter(self._counts)

    def reset_counts(self) -> None:
        """Forget counted and logged requests."""
        with self._lock:
            self._counts.clear()
            self.request_log.clear()

    def _check_site(self, site: str) -> None:
        if site not in SITE_NAMES:
            raise KeyError(f"unknown replica site {site!r}; sites: {', '.join(SITE_NAMES)}")

    def _base(self, site: str) -> str:
        if site not in self.sites:
            raise RuntimeError("ReplicaWeb is not started; call start() first")
        return self.sites[site].base_url

    def _bases(self) -> dict[str, str]:
        return {name: site.base_url for name, site in self.sites.items()}

    # ---- routing ---------------------------------------------------------
    def _rebuild_routes(self) -> None:
        routes = {name: self._site_routes(self._specs[name]) for name in SITE_NAMES}
        with self._lock:
            self._routes = routes

    def _site_routes(self, spec: SiteSpec) -> dict[str, Route]:
        base = self._base(spec.name)
        bases = self._bases()
        entries = self._published(spec.name)
        newest = entries[0].published if entries else None
        routes: dict[str, Route] = {}

        def listing(kind: str, make: Callable[[], render.Page]) -> Route:
            return Route(kind, 200, make, conditional=True, last_modified=newest)

        pages = max(1, math.ceil(len(entries) / self.page_size))
        for page in range(1, pages + 1):
            chunk = entries[(page - 1) * self.page_size : page * self.page_size]
            routes[spec.list_path(page)] = listing(
                "list", lambda c=chunk, p=page: render.render_list(spec, base, c, p, pages)
            )
        routes.setdefault(
            "/", Route("other", 200, lambda: render.render_home(spec, base, entries[:HOME_HEADLINES]))
        )
        if spec.config.get("feed"):
            routes[spec.config["feed"]] = listing(
                "feed", lambda: render.render_rss(spec, base, entries)
            )
        sitemaps = spec.config.get("sitemaps") or {}
        children = []
        if sitemaps.get("urlset"):
            routes[sitemaps["urlset"]] = listing(
                "sitemap", lambda: render.render_sitemap(base, entries)
            )
            children.append((sitemaps["urlset"], newest))
        if sitemaps.get("news"):
            routes[sitemaps["news"]] = listing(
                "sitemap", lambda: render.render_news_sitemap(spec, base, entries)
            )
            children.append((sitemaps["news"], newest))
        if sitemaps.get("index"):
            routes[sitemaps["index"]] = listing(
                "sitemap", lambda: render.render_sitemap_index(base, children)
            )
        for entry in entries:
            if entry.kind == "missing":
                continue
            if entry.kind == "js_shell":
                make = lambda: render.render_js_shell(spec)  # noqa: E731
            else:
                make = lambda e=entry: render.render_article(spec, e, bases)  # noqa: E731
            routes[entry.path] = Route("article", 200, make, is_article=True)
            if entry.moved_from:
                routes[entry.moved_from] = Route("article", 301, location=base + entry.path)
        return routes

    def _lookup(self, site: str, target: str) -> Route | None:
        parts = urlsplit(target)
        routes = self._routes[site]
        if parts.query and f"{parts.path}?{parts.query}" in routes:
            return routes[f"{parts.path}?{parts.query}"]
        return routes.get(parts.path)

    # ---- answering -------------------------------------------------------
    def _answer(self, handler: BaseHTTPRequestHandler, site: str, send_body: bool) -> None:
        target = handler.path
        route = None if urlsplit(target).path == "/robots.txt" else self._lookup(site, target)
        mode = self._modes[site]
        headers: dict[str, str] = {}
        if urlsplit(target).path == "/robots.txt":
            kind, status = "robots", 200
            text = self._robots.get(site) or render.default_robots(
                self._specs[site], self._base(site)
            )
            page = render.Page(text.encode("utf-8"), "text/plain; charset=utf-8")
        elif route is None:
            kind, status, page = "not_found", 404, _not_found_page()
        else:
            kind, status = route.kind, route.status
            page = None
            if route.location:
                headers["Location"] = route.location
                page = render.Page(b"", "text/html")
            elif route.is_article and mode == "js_shell":
                page = render.render_js_shell(self._specs[site])
            else:
                page = route.page()
                if route.conditional:
                    status = self._conditional(handler, route, page, headers)
        if mode == "down":
            status, page, headers = 503, _unavailable_page(), {
                "Retry-After": str(DOWN_RETRY_AFTER_SECONDS)
            }
        body = page.body if status not in (304,) else b""
        self._record(handler, site, kind, status)
        handler.send_response(status)
        handler.send_header("Content-Type", page.content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        if send_body and body:
            handler.wfile.write(body)

    @staticmethod
    def _conditional(
        handler: BaseHTTPRequestHandler, route: Route, page: render.Page, headers: dict[str, str]
    ) -> int:
        etag = '"' + hashlib.sha1(page.body).hexdigest()[:20] + '"'
        headers["ETag"] = etag
        if route.last_modified:
            headers["Last-Modified"] = _http_date(route.last_modified)
        inm = handler.headers.get("If-None-Match")
        if inm is not None:
            tags = {t.strip() for t in inm.split(",")}
            return 304 if etag in tags or "*" in tags else 200
        ims = handler.headers.get("If-Modified-Since")
        if ims and route.last_modified:
            try:
                since = parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return 200
            if since.tzinfo and since >= route.last_modified.replace(microsecond=0):
                return 304
        return 200

    def _record(self, handler: BaseHTTPRequestHandler, site: str, kind: str, status: int) -> None:
        subset = {h: handler.headers[h] for h in LOGGED_HEADERS if handler.headers.get(h)}
        with self._lock:
            self._counts[(site, kind)] += 1
            self.request_log.append(
                (time.time(), site, handler.command, handler.path, kind, status, subset)
            )


def _http_date(value: datetime) -> str:
    """An RFC 7231 HTTP date (GMT)."""
    return format_datetime(value.astimezone(timezone.utc), usegmt=True)


def _not_found_page() -> render.Page:
    return render.Page(
        b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
        b"<body><h1>404 Not Found</h1><p>The page you requested does not exist.</p></body></html>",
        "text/html; charset=utf-8",
    )


def _unavailable_page() -> render.Page:
    return render.Page(
        b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
        b"<body><h1>Service Unavailable</h1><p>Down for maintenance.</p></body></html>",
        "text/html; charset=utf-8",
    )
