"""The web view's JSON API, downloads, feeds and errors, over real HTTP (uvicorn on 127.0.0.1:0).

The store is test_search's corpus (English and Chinese articles, tags with editions,
a near-copy, an exact copy seen at another source, an undated note). Each filter is
checked against the answer storage.queries gives for the same SearchQuery, and
against the corpus itself where the meaning is simple to state.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime, timezone

import feedparser
import httpx
import pytest

from crawler.feeds import entry_id
from crawler.web.app import WebConfig
from crawler.web.params import SEARCH_PARAMETERS
from crawler.web.server import WebServer
from storage.engine import make_read_only_engine, session_factory
from storage.exports import read_csv
from storage.queries import EXPORT_COLUMNS, SearchQuery, search
from test_search import CORPUS, build_store, url_of
from web_server import ServeProcess

WIE = "world-intelligence-expo"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The corpus in a SQLite store and the web view over it (tests only read)."""
    db_url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'store.db'}"
    ids = build_store(db_url)
    with WebServer(WebConfig(db_url=db_url)) as web, httpx.Client(base_url=web.url, timeout=30) as client:
        yield client, db_url, ids


def keys_of(ids: dict[str, int], results: list[dict]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[r["id"]] for r in results]


def api(client, **params) -> dict:
    response = client.get("/api/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def expected(db_url: str, query: SearchQuery) -> list[int]:
    with session_factory(db_url, for_writing=False)() as session:
        return [h.id for h in search(session, query)]


@pytest.mark.parametrize("params, query", [
    ({}, SearchQuery()),
    ({"q": "robots"}, SearchQuery("robots")),
    ({"q": "智博会"}, SearchQuery("智博会")),
    ({"q": '"brain-computer interface" -wire'}, SearchQuery('"brain-computer interface" -wire')),
    ({"q": "Tianjin OR 天津"}, SearchQuery("Tianjin OR 天津")),
    ({"event": WIE}, SearchQuery(events=(WIE,))),
    ({"event": ["smart-china-expo", "world-internet-conference"]},
     SearchQuery(events=("smart-china-expo", "world-internet-conference"))),
    ({"event": "smart-china-expo", "year": 2019}, SearchQuery(events=("smart-china-expo",), years=(2019,))),
    ({"event": WIE, "edition": 8}, SearchQuery(events=(WIE,), editions=(8,))),
    ({"event": "smart-china-expo", "role": "mentioned"}, SearchQuery(events=("smart-china-expo",), roles=("mentioned",))),
    ({"source": "mirror"}, SearchQuery(sources=("mirror",))),
    ({"source": ["zh-organiser", "wire"]}, SearchQuery(sources=("zh-organiser", "wire"))),
    ({"lang": "en"}, SearchQuery(languages=("en",))),
    ({"lang": "zh"}, SearchQuery(languages=("zh",))),
    ({"since": "2020-01-01"}, SearchQuery(since=datetime(2020, 1, 1, tzinfo=timezone.utc))),
    ({"until": "2019-08-26", "tz": "Asia/Shanghai"},
     SearchQuery(until=datetime(2019, 8, 26, 16, tzinfo=timezone.utc))),
    ({"since": "2024-06-20T09:00+08:00", "dates": "first-seen"},
     SearchQuery(since=datetime(2024, 6, 20, 1, tzinfo=timezone.utc), date_field="first_seen")),
    ({"copies": "true"}, SearchQuery(all_copies=True)),
    ({"sort": "first-seen"}, SearchQuery(sort="first_seen")),
    ({"q": "robots", "sort": "relevance"}, SearchQuery("robots", sort="relevance")),
    ({"limit": 2, "offset": 1}, SearchQuery(limit=2, offset=1)),
])
def test_every_filter_gives_what_the_cli_query_gives(site, params, query):
    client, db_url, _ = site
    body = api(client, **params)
    assert [r["id"] for r in body["results"]] == expected(db_url, query)
    assert body["limit"] == query.limit and body["offset"] == query.offset


def test_filters_mean_what_the_corpus_says(site):
    client, _, ids = site
    assert set(keys_of(ids, api(client, q="智博会")["results"])) == {"sce-zh"}
    assert set(keys_of(ids, api(client, event=WIE, edition=8)["results"])) == {"wie-en", "wie-zh"}
    assert set(keys_of(ids, api(client, event=WIE, edition=8, copies="true")["results"])) == {"wie-en", "wie-zh", "wie-en-copy"}
    assert set(keys_of(ids, api(client, source="mirror")["results"])) == {"wic-wuzhen"}
    assert set(keys_of(ids, api(client, lang="zh")["results"])) == {"wie-zh", "sce-zh"}
    assert keys_of(ids, api(client, sort="published")["results"])[:2] == ["wie-en", "wie-zh"]


def test_paging_walks_every_match_once_by_next_links(site):
    client, db_url, _ = site
    everything = expected(db_url, SearchQuery(all_copies=True, limit=None))
    seen, url, pages = [], "/api/search?copies=true&limit=2", 0
    while url and pages < 10:
        body = client.get(url).json()
        assert body["total"] == len(everything)
        seen += [r["id"] for r in body["results"]]
        url, pages = body["next"], pages + 1
    assert seen == everything and pages == (len(everything) + 1) // 2
    assert client.get("/api/search?copies=true&limit=2&offset=2").json()["previous"].endswith("limit=2")


@pytest.mark.parametrize("query, message", [
    ("limit=0", "limit=0: expected a number from 1 to 200"),
    ("limit=201", "limit=201: expected a number from 1 to 200"),
    ("limit=ten", "limit='ten': expected a whole number"),
    ("offset=-1", "offset=-1: expected a number from 0 up"),
    ("year=twenty", "year='twenty': expected a whole number"),
    ("edition=0", "edition=0: expected a number from 1 to 9999"),
    ("sort=oldest", "sort='oldest': expected one of published, first-seen, relevance"),
    ("dates=updated", "dates='updated': expected one of published, first-seen"),
    ("role=host", "role='host': expected one of primary, mentioned"),
    ("copies=maybe", "copies='maybe': expected true or false"),
    ("since=last%20week", "since: cannot read the date 'last week'"),
    ("until=2024-02-30", "until: cannot read the date '2024-02-30'"),
    ("tz=Mars/Olympus", "tz='Mars/Olympus': not a time zone"),
    ("source=nowhere", "source='nowhere': no such source in the store"),
    ("event=no-such-event", "event='no-such-event': no such event"),
    ("colour=red", "unknown parameter 'colour'"),
    ("sort=published&sort=relevance", "sort: given 2 times; give it once"),
    ("q=" + "+".join(f"w{i}" for i in range(100)), "q: search query has 100 terms"),
    ("q=" + "x" * 2001, "q: a value longer than 2000 characters"),
])
def test_bad_parameters_are_400_with_a_clear_message(site, query, message):
    client, _, _ = site
    for path in ("/api/search", "/api/facets", "/export.csv", "/export.jsonl", "/feed.atom"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, response.text)
        assert response.json() == {"error": message + response.json()["error"][len(message):], "status": 400}
        assert response.json()["error"].startswith(message)
    page = client.get(f"/?{query}")
    assert page.status_code == 400 and "Traceback" not in page.text
    assert message.replace("'", "&#39;") in page.text


def test_unknown_article_event_and_path_are_404_and_odd_ids_never_500(site):
    client, _, _ = site
    assert client.get("/api/articles/999999").json() == {"error": "no article 999999 in the store", "status": 404}
    for path in ("/articles/0", f"/articles/{2**70}", "/articles/abc", "/events/no-such-event", "/nowhere",
                 "/events/no-such-event/feed.atom", "/api/articles/-1"):
        assert client.get(path).status_code == 404, path
    assert client.get("/articles/1?x=1").status_code == 400


def test_facets_count_the_matches_per_event_year_source_language(site):
    client, _, _ = site
    body = client.get("/api/facets", params={"q": "Tianjin OR 天津 OR 重庆"}).json()
    assert body["total"] == 3
    assert {f["value"]: f["count"] for f in body["events"]} == {WIE: 2, "world-intelligence-congress": 1,
                                                                 "smart-china-expo": 1}
    assert {f["value"]: f["count"] for f in body["years"]} == {2024: 2, 2019: 1}
    assert {f["value"]: f["count"] for f in body["sources"]} == {"wie-org": 1, "zh-organiser": 2}
    assert {f["value"]: f["count"] for f in body["languages"]} == {"en": 1, "zh": 2}


def test_article_events_and_sources_endpoints(site):
    client, _, ids = site
    article = client.get(f"/api/articles/{ids['wie-en']}").json()
    assert article["article"]["url"] == url_of(CORPUS[0])
    assert [c["id"] for c in article["copies"]] == [ids["wie-en-copy"]]
    assert {t["event"] for t in article["article"]["events"]} == {WIE, "world-intelligence-congress"}
    events = {e["slug"]: e for e in client.get("/api/events").json()}
    assert {(e["year"], e["primary"]) for e in events[WIE]["editions"] if e["primary"]} == {(2024, 3)}
    sources = {s["source"]: s for s in client.get("/api/sources").json()}
    assert set(sources) >= {"wie-org", "zh-organiser", "wire", "mirror"}
    assert sources["wire"]["health"]["status"] == "new"


def test_csv_and_jsonl_downloads_stream_every_field_of_every_match(site):
    client, db_url, _ = site
    matches = expected(db_url, SearchQuery(all_copies=True, limit=None))
    with client.stream("GET", "/export.jsonl", params={"copies": "true"}) as response:
        assert response.headers.get("transfer-encoding") == "chunked"  # streamed, no Content-Length
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert [r["id"] for r in lines] == matches and set(lines[0]) == set(EXPORT_COLUMNS)
    response = client.get("/export.csv", params={"copies": "true", "lang": "zh"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(read_csv(io.StringIO(response.text, newline="")))
    assert [int(r["id"]) for r in rows] == expected(db_url, SearchQuery(all_copies=True, limit=None, languages=("zh",)))
    assert list(csv.reader(io.StringIO(response.text)))[0] == list(EXPORT_COLUMNS)


def test_feeds_of_a_search_and_an_event_read_back_with_stable_ids(site):
    client, _, _ = site
    first = client.get("/feed.atom", params={"q": "Tianjin OR 天津"})
    feed = feedparser.parse(first.content)
    assert not feed.bozo and feed.version == "atom10"
    assert {e.id for e in feed.entries} == {entry_id(url_of(d)) for d in CORPUS if d.key in ("wie-en", "wie-zh")}
    assert {e.link for e in feed.entries} == {url_of(d) for d in CORPUS if d.key in ("wie-en", "wie-zh")}
    assert feed.feed.links[0].href.startswith(str(client.base_url) + "feed.atom?")  # rel=self
    assert client.get("/feed.atom", params={"q": "Tianjin OR 天津"}).content == first.content
    event = feedparser.parse(client.get(f"/events/{WIE}/feed.atom").content)
    assert not event.bozo and len(event.entries) == 2


def test_the_openapi_schema_documents_every_route_and_parameter(site):
    client, _, _ = site
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    search_op = schema["paths"]["/api/search"]["get"]
    assert [p["name"] for p in search_op["parameters"]] == [p.name for p in SEARCH_PARAMETERS]
    from crawler.web import api

    documented = set(schema["paths"])
    for route in api.ROUTES:
        if route.path.startswith(("/api/", "/export", "/feed", "/events/")):
            assert route.path.replace(":int", "") in documented, route.path
    assert "400" in search_op["responses"]
    docs = client.get("/docs/api").text
    assert all(f"<code>{p.name}</code>" in docs for p in SEARCH_PARAMETERS)


def test_a_hostile_title_is_escaped_in_every_page(tmp_path):
    evil = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    doc = replace(CORPUS[0], key="evil", title=evil, text=CORPUS[0].text + " " + evil)
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    ids = build_store(db_url, (doc,))
    with WebServer(WebConfig(db_url=db_url)) as web, httpx.Client(base_url=web.url) as client:
        for path in ("/", "/?q=Meijiang", f"/articles/{ids['evil']}", f"/events/{WIE}"):
            page = client.get(path)
            assert "<script>window.pwned" not in page.text and "<img src=x" not in page.text, path
            assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page.text, path
            assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none' covers it
            assert "default-src 'none'" in page.headers["content-security-policy"]


def test_the_store_is_opened_read_only(sqlite_url):
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    build_store(sqlite_url, CORPUS[:1])
    engine = make_read_only_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM articles")).scalar() == 1
            with pytest.raises(OperationalError, match="readonly|read-only|query_only"):
                conn.execute(text("DELETE FROM articles"))
    finally:
        engine.dispose()
    with pytest.raises(FileNotFoundError):
        make_read_only_engine(sqlite_url.replace("store.db", "missing.db"))


@pytest.mark.integration
def test_postgresql_is_read_in_read_only_transactions(postgres_server):
    from sqlalchemy import text
    from sqlalchemy.exc import InternalError, OperationalError, ProgrammingError

    db_url = postgres_server.create_database()
    ids = build_store(db_url)
    engine = make_read_only_engine(db_url)
    try:
        with engine.connect() as conn:
            with pytest.raises((InternalError, OperationalError, ProgrammingError), match="read-only transaction"):
                conn.execute(text("DELETE FROM article_events"))
    finally:
        engine.dispose()
    with WebServer(WebConfig(db_url=db_url)) as web, httpx.Client(base_url=web.url) as client:
        body = client.get("/api/search", params={"q": "智博会 OR Nanjing"}).json()
        assert set(keys_of(ids, body["results"])) == {"sce-zh", "wimc-en"}
        assert client.get("/", params={"q": "robots", "sort": "relevance"}).status_code == 200


# ---- expowatch serve, the command -----------------------------------------------------------

@pytest.mark.integration
def test_serve_refuses_a_public_address_without_a_token_and_a_missing_store(run_cli, sqlite_url, tmp_path):
    build_store(sqlite_url, CORPUS[:1])
    proc = run_cli("serve", "--host", "0.0.0.0", "--db", sqlite_url)
    assert proc.returncode == 2 and "--host 0.0.0.0: other machines could read the store; give --token" in proc.stderr
    proc = run_cli("serve", "--db", str(tmp_path / "nothing.db"))
    assert proc.returncode == 1 and "cannot read the store" in proc.stderr and "no store at" in proc.stderr
    assert not (tmp_path / "nothing.db").exists()
    assert "Traceback" not in proc.stderr


@pytest.mark.integration
def test_serve_with_a_token_lets_in_only_who_has_it(cli_env, sqlite_url):
    build_store(sqlite_url, CORPUS[:2])
    with ServeProcess("--db", sqlite_url, "--token", "s3cret-token", env=cli_env) as server:
        assert server.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/api/search").status_code == 401
            assert client.get("/api/search", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
            assert client.get("/api/search", headers={"Authorization": "Bearer s3cret-token"}).json()["total"] == 2
            entry = client.get("/?token=s3cret-token&q=expo")
            assert entry.status_code == 303 and entry.headers["location"] == "/?q=expo"
            assert client.get("/?q=expo").status_code == 200  # the cookie now carries it
        assert server.stop() == 0  # SIGTERM: a clean stop


@pytest.mark.integration
def test_serve_on_a_public_address_with_public_warns_loudly(cli_env, sqlite_url):
    build_store(sqlite_url, CORPUS[:1])
    with ServeProcess("--db", sqlite_url, "--host", "0.0.0.0", "--public", env=cli_env) as server:
        assert any("anyone who can reach this machine on the network can read the whole store" in line
                   for line in server.stderr)
        port = server.url.rsplit(":", 1)[1].strip("/")
        assert httpx.get(f"http://127.0.0.1:{port}/api/search").json()["total"] == 1


@pytest.mark.integration
def test_demo_serve_prints_the_address_of_the_web_view_of_the_demo_store(cli_env, tmp_path):
    import re
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "demo", "--serve", "--db", str(tmp_path / "demo.db")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_env)
    try:
        deadline, address = time.monotonic() + 300, None
        while address is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            found = re.search(r"# web view of the demo store \(.*\): (http://127\.0\.0\.1:\d+/)", line)
            address = found.group(1) if found else None
        assert address, "demo --serve printed no web view address"
        body = httpx.get(address + "api/search", params={"q": "智能 OR Intelligence"}, timeout=30).json()
        assert body["total"] > 0
        assert httpx.get(address + "sources", timeout=30).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "stopped" in out


def test_the_search_page_pages_through_every_match_and_says_when_facets_are_a_sample(site, monkeypatch):
    import re as regex

    from crawler.web import pages

    client, db_url, _ = site
    everything = expected(db_url, SearchQuery(all_copies=True, limit=None))
    monkeypatch.setattr(pages, "FACET_SAMPLE", 3)
    first = client.get("/", params={"copies": "true", "limit": 2}).text
    assert "of more than <strong id=\"total\">3</strong>" in first and 'id="facet-note"' in first
    seen, url, pages_read = [], "/?copies=true&limit=2", 0
    while url and pages_read < 10:
        page = client.get(url).text
        seen += [int(i) for i in regex.findall(r'<a href="/articles/(\d+)" class="hit-title">', page)]
        found = regex.search(r'<a href="(/\?[^"]+)" id="next-page">', page)
        url, pages_read = (found.group(1).replace("&amp;", "&") if found else None), pages_read + 1
    assert seen == everything
    monkeypatch.setattr(pages, "FACET_SAMPLE", 100)
    exact = client.get("/", params={"copies": "true"}).text
    assert f'of <strong id="total">{len(everything)}</strong>' in exact and 'id="facet-note"' not in exact
