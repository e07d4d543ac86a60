"""Hostile XML in feeds and sitemaps: no external entity is ever fetched or read, entity
expansion cannot blow up (billion laughs, quadratic blow-up), and deep nesting or a cut-off
document ends in entries or a DiscoveryError, in bounded time and memory.

The readers are called directly (they are plain functions over bytes); the external
entities point at a real file and a real server on 127.0.0.1, which must never be read.
The same documents are crawled end to end in tests/test_hostile_web.py (source "xml").
"""

from __future__ import annotations

import resource
import time

import pytest

from hostile_server import HostileServer, billion_laughs, page, rss, urlset
from spiders.discovery import DiscoveryError, read_feed, read_sitemap

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]  # a real server; time and memory caps measured

BASE = "http://news.example"
SECONDS = 10.0  # CPU per document: about 2 s here; an expansion would take hours
# (CPU, not wall: on a loaded CI machine a 2 s read took 11 s of wall while it waited for a core)
MEMORY_GROWTH_MB = 200  # a billion laughs expanded is ~3 GB; a quadratic blow-up here ~500 MB
NESTING = 50_000
SECRET = "leak-5c1e7"


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read(reader, body: bytes):
    """Entries (or the DiscoveryError) of a document, checking time and memory on the way."""
    before, started = max_rss_mb(), time.process_time()
    try:
        result = reader(body, f"{BASE}/doc.xml")
    except DiscoveryError as exc:
        result = exc
    assert time.process_time() - started < SECONDS
    assert max_rss_mb() - before < MEMORY_GROWTH_MB
    if isinstance(result, DiscoveryError):
        return result
    return result.entries if hasattr(result, "entries") else result


def read_doc(kind: str, doctype: bytes, entity_use: bytes, links: list[str]):
    """A feed (entity used in its title) or a sitemap (entity used in a URL) read with read()."""
    if kind == "feed":
        body = rss(links).split(b"?>", 1)[1].replace(b"<title>news</title>", b"<title>" + entity_use + b"</title>")
        return read(read_feed, doctype + body)
    links = [*links, f"{BASE}/a/{entity_use.decode()}.html"]
    return read(read_sitemap, doctype + urlset(links).split(b"?>", 1)[1])


def entry_urls(found) -> list[str]:
    """The URLs read from a document that must have been readable."""
    assert not isinstance(found, DiscoveryError), found
    return [entry.url for entry in found]


@pytest.fixture
def probe():
    """A server that must never be asked for anything, and a secret file that must never be read."""
    with HostileServer({}) as server:
        yield server


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


def external_doctype(secret_file, probe) -> bytes:
    return (f'<?xml version="1.0"?><!DOCTYPE doc [<!ENTITY secret SYSTEM "{secret_file.as_uri()}">'
            f'<!ENTITY net SYSTEM "{probe.url("/entity")}"><!ENTITY % dtd SYSTEM "{probe.url("/dtd")}"> %dtd;]>'
            ).encode()


@pytest.mark.parametrize("kind", ["feed", "sitemap"])
def test_external_entities_are_neither_read_nor_fetched(kind, secret_file, probe):
    urls = entry_urls(read_doc(kind, external_doctype(secret_file, probe), b"&secret;&net;",
                               [f"{BASE}/a/&secret;.html", f"{BASE}/a/2.html"]))
    assert probe.paths() == []
    assert f"{BASE}/a/2.html" in urls
    assert not any(SECRET in url for url in urls)


@pytest.mark.parametrize("kind", ["feed", "sitemap"])
@pytest.mark.parametrize(("depth", "fan_out"), [(9, 10), (30, 2)])
def test_billion_laughs_does_not_expand(kind, depth, fan_out):
    urls = entry_urls(read_doc(kind, billion_laughs(depth, fan_out), f"&lol{depth};".encode(), [f"{BASE}/a/1.html"]))
    assert f"{BASE}/a/1.html" in urls
    assert all(len(url) < 1000 for url in urls)


@pytest.mark.parametrize("kind", ["feed", "sitemap"])
def test_quadratic_blowup_does_not_expand(kind):
    """One 100 kB entity used 5,000 times: 500 MB if expanded."""
    doctype = b'<?xml version="1.0"?><!DOCTYPE doc [<!ENTITY big "' + b"A" * 100_000 + b'">]>'
    urls = entry_urls(read_doc(kind, doctype, b"&big;" * 5000, [f"{BASE}/a/1.html"]))
    assert f"{BASE}/a/1.html" in urls
    assert all(len(url) < 100_000 for url in urls)


@pytest.mark.parametrize("kind", ["feed", "sitemap"])
def test_deep_nesting_ends_in_entries_or_a_reason(kind):
    nest = b"<x>" * NESTING + b"</x>" * NESTING
    if kind == "feed":
        body = rss([f"{BASE}/a/1.html"]).replace(b"</channel>", nest + b"</channel>")
        found = read(read_feed, body)
    else:
        found = read(read_sitemap, urlset([f"{BASE}/a/1.html"]).replace(b"</urlset>", nest + b"</urlset>"))
    assert isinstance(found, DiscoveryError) or [e.url for e in found] == [f"{BASE}/a/1.html"]


@pytest.mark.parametrize(("reader", "body"), [
    (read_feed, rss([f"{BASE}/a/1.html", f"{BASE}/a/2.html"])[:-40]),
    (read_sitemap, urlset([f"{BASE}/a/1.html", f"{BASE}/a/2.html"])[:-25]),
    (read_feed, b"<?xml version='1.0'?><rss version='2.0'><channel><item><link>" + bytes(range(256)) * 4),
    (read_sitemap, f"<?xml version='1.0' encoding='klingon'?><urlset><url><loc>{BASE}/a/1.html</loc></url></urlset>"
     .encode()),
    (read_sitemap, b"\x00" * 1000),
    (read_feed, b"\xff\xfe" + "<rss><channel>".encode("utf-16-le") + b"\x00\xd8"),
])
def test_malformed_documents_end_in_entries_or_a_reason(reader, body):
    """Cut-off, binary or mis-declared documents: what can be read is kept, else a DiscoveryError."""
    found = read(reader, body)
    if not isinstance(found, DiscoveryError):
        assert all(entry.url.startswith(BASE) for entry in found)
        assert f"{BASE}/a/1.html" in [entry.url for entry in found] or found == []


def test_a_server_probe_would_have_been_seen(probe):
    """The probe server is real: a plain request reaches it (so 'never asked' means something)."""
    import urllib.request

    probe.routes["/entity"] = page(b"x")
    with urllib.request.urlopen(probe.url("/entity"), timeout=5) as response:
        assert response.status == 200
    assert probe.paths() == ["/entity"]
