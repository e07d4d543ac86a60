"""SSRF guard: a source reaches only public addresses, on the first request and on every
redirect, after resolving the host itself; unless it sets allow_private_addresses = true.

The address rules and the resolver check are unit-tested with an injected resolver (no
name on an offline machine resolves to a public address). The crawl proves the rest end
to end against servers on 127.0.0.1: a source without the flag is refused before any
request (robots.txt included) and exits 1, and a host allowed through the operator
allow-list cannot redirect, refresh, or point a sitemap at a host that is not allowed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections import Counter

import pytest
from scrapy.http import Request
from scrapy.http.request import NO_CALLBACK

from crawler.safety import (
    ALLOW_ENV, REFUSAL_HINT, STAT_CHECKED, STAT_REFUSED, AddressGuardMiddleware, AddressRefused, AllowList, check_url, non_public_reason,
    system_resolver,
)
from hostile_server import (
    HostileServer, article, crawl_env, declared_huge, endless_body, feed, page, redirect, run_measured, runs, stored, write_sources,
)

REFUSED = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "cloud metadata",
    "169.254.1.1": "link-local",
    "100.64.0.1": "not globally routable",  # carrier-grade NAT
    "100.100.100.200": "cloud metadata",
    "0.0.0.0": "unspecified",
    "224.0.0.1": "multicast",
    "240.0.0.1": "private",
    "192.0.2.1": "private",  # documentation range
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "fec0::1": "site-local",
    "fd00::1": "private",
    "fd12:3456::1": "private",
    "fd00:ec2::254": "cloud metadata",
    "ff02::1": "multicast",
    "2001:db8::1": "private",
    "::ffff:127.0.0.1": "loopback address (IPv4 127.0.0.1 inside IPv6)",
    "::ffff:169.254.169.254": "cloud metadata",
    "::ffff:10.0.0.1": "private address (IPv4 10.0.0.1",
    "2002:7f00:1::": "loopback address (IPv4 127.0.0.1",  # 6to4
    "64:ff9b::a00:1": "private address (IPv4 10.0.0.1",  # NAT64
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "loopback address (IPv4 127.0.0.1",  # Teredo client 127.0.0.1
}
PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700::1111", "2a00:1450:4001::1",
          "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "reason"), sorted(REFUSED.items()))
def test_non_public_addresses_are_named(address, reason):
    assert reason in non_public_reason(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert non_public_reason(ipaddress.ip_address(address)) is None


def resolver_of(table: dict[str, list[str]]):
    """A resolver answering from a table (what DNS would say), recording what it was asked."""
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    resolve.asked = asked
    return resolve


DNS = resolver_of({
    "news.example": ["93.184.216.34", "2606:2800:220:1::1"],
    "mixed.example": ["93.184.216.34", "10.0.0.5"],  # one bad answer is enough to refuse
    "rebound.example": ["::ffff:127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "intranet.example": ["10.2.3.4"],
    "empty.example": [],
    "garbage.example": ["not-an-address"],
})


def test_a_name_with_only_public_addresses_passes():
    found = check_url("https://news.example/a/1.html", resolver=DNS)
    assert [str(a) for a in found] == ["93.184.216.34", "2606:2800:220:1::1"]
    assert DNS.asked[-1] == ("news.example", 443)


@pytest.mark.parametrize(("url", "words"), [
    ("http://mixed.example/", "mixed.example resolves to 10.0.0.5, which is a private address; only public"),
    ("http://rebound.example:8080/", "loopback address (IPv4 127.0.0.1 inside IPv6)"),
    ("http://metadata.example/latest/meta-data/", "cloud metadata"),
    ("http://unknown.example/", "could not be resolved"),
    ("http://empty.example/", "resolves to no address"),
    ("http://garbage.example/", "not an IP address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://[::1]:8000/", "::1 is a loopback address"),
    ("file:///etc/passwd", "scheme 'file' is never fetched"),
    ("ftp://news.example/x", "scheme 'ftp'"),
    ("data:text/html,<p>hi</p>", "scheme 'data'"),
    ("http:///no-host", "no host"),
    ("http://news.example:99999/", "malformed URL"),
])
def test_refusals_name_host_address_and_reason(url, words):
    with pytest.raises(AddressRefused, match=r".*") as refused:
        check_url(url, resolver=DNS)
    assert words in str(refused.value)
    assert str(refused.value).startswith("refused: ")


def test_literal_addresses_are_judged_without_a_lookup():
    def no_dns(host: str, port: int):
        raise AssertionError(f"looked up {host}")

    assert [str(a) for a in check_url("http://93.184.216.34/x", resolver=no_dns)] == ["93.184.216.34"]
    with pytest.raises(AddressRefused, match="loopback"):
        check_url("http://127.0.0.1:8080/x", resolver=no_dns)


@pytest.mark.parametrize("url", [
    "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://0/",
    "http://localhost/", "http://LOCALHOST./", "http://[::ffff:127.0.0.1]/", "http://[0:0:0:0:0:0:0:1]/",
])
def test_spellings_of_loopback_are_refused_with_the_system_resolver(url):
    with pytest.raises(AddressRefused, match="loopback|unspecified"):
        check_url(url, resolver=system_resolver)


def test_allow_list_admits_exactly_its_hosts_ports_and_networks():
    allow = AllowList.parse(["127.0.0.1:8080", "Intranet.Example", "10.2.0.0/16", " "])
    assert check_url("http://127.0.0.1:8080/feed.xml", allow=allow) == []
    with pytest.raises(AddressRefused, match="loopback"):
        check_url("http://127.0.0.1:8081/feed.xml", allow=allow)  # another port is another host
    assert check_url("http://intranet.example:9000/", resolver=DNS, allow=allow) == []
    assert [str(a) for a in check_url("http://10.2.9.9/", allow=allow)] == ["10.2.9.9"]
    with pytest.raises(AddressRefused, match="10.0.0.5"):
        check_url("http://mixed.example/", resolver=DNS, allow=allow)  # 10.0.0.5 is outside 10.2.0.0/16


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "http://a b", ":80"])
def test_bad_allow_list_entries_are_named(entry):
    with pytest.raises(ValueError, match=ALLOW_ENV):
        AllowList.parse([entry])


def test_the_guard_runs_before_robots_txt():
    """Every request passes the guard before RobotsTxtMiddleware could ask for robots.txt."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    order = settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    assert order["scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"] is None  # the store-cached one instead
    assert order["crawler.safety.AddressGuardMiddleware"] < order["crawler.robots.CachedRobotsTxtMiddleware"]


# -- end to end -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_crawl(tmp_path_factory):
    """One crawl of two sources without allow_private_addresses; only host A is on the allow-list."""
    tmp = tmp_path_factory.mktemp("ssrf")
    with HostileServer({r"/a/\d+\.html": article}) as private, \
            HostileServer({r"/a/\d+\.html": article}) as other, \
            HostileServer({r"/a/[15]\.html": article}) as allowed:
        private.routes["/feed.xml"] = feed([private.url("/a/1.html")])
        local_sitemap = tmp / "local-sitemap.txt"
        local_sitemap.write_text(allowed.url("/a/7.html") + "\n")
        allowed.routes.update({
            "/feed.xml": feed([allowed.url("/a/1.html"), allowed.url("/a/2.html"), allowed.url("/a/3.html"),
                               allowed.url("/a/4.html"), other.url("/a/6.html")]),
            "/a/2.html": redirect(other.url("/a/2.html")),  # an allowed host redirects to one that is not
            "/a/3.html": page(f'<html><head><meta http-equiv="refresh" content="0; url={other.url("/a/3.html")}">'
                              f"</head><body>moved</body></html>".encode()),
            "/a/4.html": redirect("/a/5.html", 301),  # a redirect within the allowed host is fine
            "/index.xml": page(
                f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{local_sitemap.as_uri()}</loc></sitemap>"
                f'<sitemap><loc>{other.url("/sitemap.xml")}</loc></sitemap></sitemapindex>'.encode(),
                content_type="application/xml"),
        })
        sources = write_sources(tmp / "sources.toml", {
            "private": {"feeds": [private.url("/feed.xml")], "allow_private_addresses": None},
            "guarded": {"feeds": [allowed.url("/feed.xml")], "sitemaps": [allowed.url("/index.xml")],
                        "article_pattern": r"/a/\d+\.html$", "allow_private_addresses": None},
        })
        env = crawl_env(tmp, **{ALLOW_ENV: f"127.0.0.1:{allowed.port}"})
        db = tmp / "store.db"
        outcome = run_measured(["crawl", "--sources-file", str(sources), "--db", str(db)], env, timeout=90, workdir=tmp)
        yield {"outcome": outcome, "runs": runs(db), "stored": stored(db), "private": private, "other": other,
               "allowed": allowed}


@pytest.mark.timeout(120)
@pytest.mark.integration  # a crawl in a subprocess
def test_a_loopback_source_is_refused_before_any_request_and_exits_1(guarded_crawl):
    outcome, run, private = guarded_crawl["outcome"], guarded_crawl["runs"]["private"], guarded_crawl["private"]
    assert outcome.returncode == 1
    assert private.paths() == []  # not even robots.txt
    feed_url = private.url("/feed.xml")
    assert run.status == "failed"
    assert run.errors_for(feed_url) == ["AddressRefused: refused: 127.0.0.1 is a loopback address; only public "
                                        "addresses are fetched unless the source sets allow_private_addresses = true"]
    assert "expowatch: error: source private: source unreachable" in outcome.stderr
    assert f"{feed_url}: AddressRefused: refused: 127.0.0.1 is a loopback address" in outcome.stderr


@pytest.mark.timeout(120)
@pytest.mark.integration  # a crawl in a subprocess
def test_redirects_refreshes_and_sitemaps_cannot_lead_an_allowed_host_elsewhere(guarded_crawl):
    run, other, allowed = guarded_crawl["runs"]["guarded"], guarded_crawl["other"], guarded_crawl["allowed"]
    assert other.paths() == []
    assert "/a/7.html" not in allowed.paths()  # listed only by the file:// sitemap
    assert run.status == "ok"
    assert set(guarded_crawl["stored"]) == {allowed.url("/a/1.html"), allowed.url("/a/5.html")}
    refused = {e["url"]: e["reason"] for e in run.errors}
    local_sitemap = next(url for url in refused if url.startswith("file:"))
    assert "scheme 'file' is never fetched" in refused.pop(local_sitemap)
    assert set(refused) == {other.url(p) for p in ("/a/2.html", "/a/3.html", "/a/6.html", "/sitemap.xml")}
    assert all("127.0.0.1 is a loopback address" in reason for reason in refused.values())


@pytest.mark.timeout(120)
@pytest.mark.integration  # a crawl in a subprocess
def test_every_request_robots_txt_included_passes_the_guard(guarded_crawl):
    run, allowed = guarded_crawl["runs"]["guarded"], guarded_crawl["allowed"]
    assert allowed.paths().count("/robots.txt") == 1
    stats = run.stats
    assert stats[STAT_CHECKED] == stats["downloader/request_count"] + stats[STAT_REFUSED]
    assert stats[STAT_REFUSED] == 5


# -- the middleware on its own (literal addresses need no reactor thread) ------------------


class Recorder:
    """A spider's error list and a crawler's stats, as the middleware uses them."""

    def __init__(self, allow_private: bool = False):
        from spiders.sources import Source

        self.source = Source(name="probe", feeds=("http://127.0.0.1/feed.xml",), allow_private_addresses=allow_private)
        self.errors: list[tuple[str, str, str]] = []
        self.counts: Counter[str] = Counter()
        self.spider, self.stats = self, self

    def record_error(self, url: str, reason: str, kind: str = "discovery") -> None:
        self.errors.append((url, reason, kind))

    def inc_value(self, key: str, count: int = 1) -> None:
        self.counts[key] += count


def test_a_refused_robots_txt_request_is_recorded_by_the_guard_itself():
    """robots.txt requests have no errback of the spider's: the guard records the refusal."""
    recorder = Recorder()
    robots = Request("http://127.0.0.1:8000/robots.txt", meta={"dont_obey_robotstxt": True}, callback=NO_CALLBACK)
    with pytest.raises(AddressRefused):
        asyncio.run(AddressGuardMiddleware(recorder).process_request(robots))
    (url, reason, kind), = recorder.errors
    assert (url, kind) == ("http://127.0.0.1:8000/robots.txt", "robots")
    assert reason.startswith("refused: 127.0.0.1 is a loopback address")
    assert recorder.counts == {STAT_CHECKED: 1, STAT_REFUSED: 1}


def test_a_refused_request_with_an_errback_is_left_to_the_errback():
    recorder = Recorder()
    request = Request("http://10.0.0.7/a/1.html", errback=lambda failure: None)
    with pytest.raises(AddressRefused, match="10.0.0.7 is a private address"):
        asyncio.run(AddressGuardMiddleware(recorder).process_request(request))
    assert recorder.errors == []  # recorded once, by the spider's errback


def test_allow_private_addresses_lets_private_hosts_through_but_never_file_urls():
    recorder = Recorder(allow_private=True)
    assert asyncio.run(AddressGuardMiddleware(recorder).process_request(Request("http://127.0.0.1:8000/feed.xml"))) is None
    with pytest.raises(AddressRefused, match="scheme 'file'"):
        asyncio.run(AddressGuardMiddleware(recorder).process_request(Request("file:///etc/passwd", callback=NO_CALLBACK)))


# -- DNS rebinding: the checked address is the address connected to ------------------------

TESTS_DIR = str(__import__("pathlib").Path(__file__).parent)
DNS_PRELUDE = f"import sys; sys.path.insert(0, {TESTS_DIR!r}); import rebinding_dns; rebinding_dns.install()"
REBOUND_NAME = "rebind.test"


def servers_on_one_port(checked: str, routes_checked, routes_rebound, tries: int = 10):
    """A server on the checked address and one on 127.0.0.1, both on the same port number."""
    for _ in range(tries):
        first = HostileServer(routes_checked, address=checked)
        try:
            return first, HostileServer(routes_rebound, address="127.0.0.1", port=first.port)
        except OSError:  # that port is taken on 127.0.0.1: try another
            first.close()
    raise RuntimeError(f"no port free on both {checked} and 127.0.0.1 after {tries} tries")


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize(("checked", "allowed", "extra"), [
    ("::1", "::1/128", []),  # IPv6 at the check, IPv4 later: the case Scrapy's IPv4-only DNS cache missed
    ("127.0.0.2", "127.0.0.2/32", ["--set", "DNSCACHE_ENABLED=False"]),  # the setting that turned the pin off
], ids=["ipv6-then-ipv4", "ipv4-dnscache-off"])
def test_a_rebinding_name_reaches_only_the_checked_address(checked, allowed, extra, tmp_path):
    """The name answers an allowed address to its first lookup and 127.0.0.1 to every later one."""
    checked_site, rebound_site = servers_on_one_port(checked, {}, {r"/.*": article})
    with checked_site, rebound_site:
        port = checked_site.port
        links = [f"http://{REBOUND_NAME}:{port}/a/{n}.html" for n in (1, 2)]
        checked_site.routes["/feed.xml"] = feed(links)
        sources = write_sources(tmp_path / "sources.toml", {"rebind": {
            "feeds": [f"http://{REBOUND_NAME}:{port}/feed.xml"], "article_pattern": r"/a/\d+\.html$",
            "allow_private_addresses": None}})
        env = crawl_env(tmp_path, **{ALLOW_ENV: allowed, "REBINDING_DNS": json.dumps({REBOUND_NAME: [checked, "127.0.0.1"]})})
        db = tmp_path / "store.db"
        outcome = run_measured(["crawl", "--sources-file", str(sources), "--db", str(db), *extra], env,
                               timeout=90, workdir=tmp_path, prelude=DNS_PRELUDE)
        assert rebound_site.paths() == [], outcome.stderr  # nothing ever reached 127.0.0.1
        assert checked_site.paths() == ["/feed.xml"]  # the checked address served the checked request
    run = runs(db)["rebind"]
    assert stored(db) == {}
    for link in links:  # looked up again: the new answer is checked, and refused
        assert run.errors_for(link) == [f"AddressRefused: refused: {REBOUND_NAME} resolves to 127.0.0.1, which is a "
                                        f"loopback address; {REFUSAL_HINT}"]


def test_the_pinned_resolver_answers_only_pins_and_literals():
    from crawler.safety import PinnedNameResolver

    resolver = PinnedNameResolver(capacity=2)
    resolver.pin("News.Example.", [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("2606:2800:220:1::1")],
                 checked=True)
    resolver.pin("news.example", [ipaddress.ip_address("127.0.0.1")], checked=False)  # a private source's lookup
    assert [str(a) for a in resolver.addresses_for("news.example")] == ["93.184.216.34", "2606:2800:220:1::1"]
    assert resolver.addresses_for("other.example") == ()
    assert [str(a) for a in resolver.addresses_for("::1")] == ["::1"]
    resolver.pin("a.example", [ipaddress.ip_address("8.8.8.8")], checked=True)
    resolver.pin("b.example", [ipaddress.ip_address("1.1.1.1")], checked=True)
    resolver.pin("c.example", [ipaddress.ip_address("1.0.0.1")], checked=True)
    assert resolver.addresses_for("a.example") == ()  # the oldest pin made room: the guard looks it up again


# -- settings that would disable a safety mechanism --------------------------------------

@pytest.mark.parametrize(("override", "words"), [
    ('DOWNLOADER_MIDDLEWARES={"crawler.safety.AddressGuardMiddleware": null}', "must keep crawler.safety.AddressGuardMiddleware"),
    ('DOWNLOADER_MIDDLEWARES={"crawler.safety.AddressGuardMiddleware": 900}', "must come before RobotsTxtMiddleware"),
    ('DOWNLOAD_HANDLERS={"http": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler"}',
     "DOWNLOAD_HANDLERS['http'] must stay crawler.http_handler.KeepAliveDownloadHandler"),
    ("DOWNLOAD_MAXSIZE=0", "DOWNLOAD_MAXSIZE = 0 is outside 1..104857600 bytes"),
    ("DOWNLOAD_MAXSIZE=10000000000", "DOWNLOAD_MAXSIZE = 10000000000 is outside"),
    ("DOWNLOAD_TIMEOUT=0", "DOWNLOAD_TIMEOUT = 0 is outside"),
    ("REDIRECT_MAX_TIMES=1000", "REDIRECT_MAX_TIMES = 1000 is outside 0..20 hops"),
    ("RETRY_TIMES=lots", "RETRY_TIMES must be a number"),
])
def test_settings_that_would_disable_a_safety_mechanism_are_refused(override, words):
    from crawler.crawl import crawl_settings

    name, _, value = override.partition("=")
    with pytest.raises(ValueError, match="refused settings") as refused:
        crawl_settings(db_url="sqlite://", overrides={name: value})
    assert words in str(refused.value)


@pytest.mark.parametrize("override", ["DNSCACHE_ENABLED=False", "TWISTED_DNS_RESOLVER=scrapy.resolver.CachingHostnameResolver",
                                      "DOWNLOAD_TIMEOUT=10", "DOWNLOAD_MAXSIZE=20000000"])
def test_settings_the_guard_does_not_depend_on_are_accepted(override):
    from crawler.crawl import crawl_settings

    name, _, value = override.partition("=")
    assert crawl_settings(db_url="sqlite://", overrides={name: value}).get(name) == value


def test_a_refused_setting_on_the_command_line_is_one_line_and_exit_2(run_cli, tmp_path):
    sources = write_sources(tmp_path / "s.toml", {"a": {"feeds": ["http://127.0.0.1:9/feed.xml"]}})
    proc = run_cli("crawl", "--sources-file", str(sources), "--db", str(tmp_path / "x.db"),
                   "--set", 'DOWNLOADER_MIDDLEWARES={"crawler.safety.AddressGuardMiddleware": null}')
    assert proc.returncode == 2
    assert proc.stderr.startswith("expowatch: error: --set: refused settings: DOWNLOADER_MIDDLEWARES must keep")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.db").exists()  # refused before the store was touched


def test_the_handler_refuses_a_request_the_guard_did_not_pass():
    from crawler.safety import GUARDED, guarded_host

    with pytest.raises(AddressRefused, match="127.0.0.1 was not checked by the address guard"):
        guarded_host(Request("http://127.0.0.1:8000/a.html"))
    with pytest.raises(AddressRefused, match="not checked"):  # passed for another host (a redirect's meta copy)
        guarded_host(Request("http://10.0.0.1/a.html", meta={GUARDED: "news.example"}))
    assert guarded_host(Request("http://News.Example/a.html", meta={GUARDED: "news.example"})) == "news.example"


# -- `expowatch extract URL`: the same guard and caps as a crawl ---------------------------


@pytest.fixture(scope="module")
def extract_web():
    """A site allowed by the operator (A) that redirects to another loopback site (B), and B itself."""
    with HostileServer({r"/a/\d+\.html": article}) as other, \
            HostileServer({r"/a/\d+\.html": article}) as allowed:
        allowed.routes.update({
            "/away": redirect(other.url("/a/2.html")),
            "/home": redirect("/a/3.html", 301),
            r"/r/\d+": redirect(lambda ex: f"/r/{int(ex.path[3:]) + 1}"),
            "/endless": endless_body(),
            "/huge": declared_huge(64 * 1024 * 1024),
        })
        yield allowed, other


def test_extract_refuses_a_loopback_url_in_one_line(extract_web, run_cli):
    _, other = extract_web
    proc = run_cli("extract", other.url("/a/1.html"))
    assert proc.returncode == 1
    assert proc.stderr == (f"expowatch: error: cannot fetch {other.url('/a/1.html')}: refused: 127.0.0.1 is a "
                           f"loopback address; {REFUSAL_HINT}\n")
    assert other.paths() == []


def test_extract_does_not_follow_a_redirect_to_a_loopback_host(extract_web, run_cli):
    allowed, other = extract_web
    env = {ALLOW_ENV: f"127.0.0.1:{allowed.port}"}
    proc = run_cli("extract", allowed.url("/away"), env=env)
    assert proc.returncode == 1 and "refused: 127.0.0.1 is a loopback address" in proc.stderr
    assert "/a/2.html" not in other.paths()
    followed = run_cli("extract", allowed.url("/home"), "--json", env=env)  # within the allowed host: fine
    assert followed.returncode == 0, followed.stderr
    assert json.loads(followed.stdout)["url"] == allowed.url("/a/3.html")


@pytest.mark.parametrize(("path", "words"), [
    ("/endless", "body larger than DOWNLOAD_MAXSIZE (10485760 bytes)"),
    ("/huge", "body of 67108864 bytes is larger than DOWNLOAD_MAXSIZE"),
    ("/r/1", "max redirections reached (5)"),
])
def test_extract_keeps_the_crawl_caps(extract_web, run_cli, path, words):
    allowed, _ = extract_web
    proc = run_cli("extract", allowed.url(path), "--allow-private-addresses")
    assert proc.returncode == 1
    assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_extract_with_allow_private_addresses_fetches_loopback(extract_web, run_cli):
    _, other = extract_web
    proc = run_cli("extract", other.url("/a/4.html"), "--allow-private-addresses", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["title"].startswith("Story 4:")
