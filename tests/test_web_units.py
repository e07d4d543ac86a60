"""Pure parts of the web view: evidence highlighting, the SVG chart geometry, parameter reading."""

from __future__ import annotations

from types import SimpleNamespace

import asyncio
import socket

import pytest
from starlette.datastructures import QueryParams

from crawler.web.charts import Bar, bar_chart
from crawler.web.highlight import evidence_spans, segments
from crawler.web.params import BadParameter, search_params
from crawler.web.server import bind, is_loopback


def tag(*evidence):
    return SimpleNamespace(evidence=list(evidence))


def test_evidence_spans_use_offsets_and_fall_back_to_the_words():
    text = "The Smart China Expo opened; SCE 2019 drew crowds."
    tags = [tag({"field": "text", "match": "Smart China Expo", "start": 4, "end": 20}),
            tag({"field": "text", "match": "SCE 2019", "start": 0, "end": 3},  # stale offsets
                {"field": "title", "match": "Expo", "start": 0, "end": 4},
                {"field": "text", "match": "absent words", "start": None, "end": None}, "not a dict")]
    assert evidence_spans(tags, "text", text) == [(4, 20), (29, 37)]
    assert segments(text, [(4, 20), (29, 37)]) == [
        ("The ", False), ("Smart China Expo", True), (" opened; ", False), ("SCE 2019", True), (" drew crowds.", False)]


def test_overlapping_spans_merge_and_the_text_is_kept_whole():
    text = "智博会在重庆开幕"
    pieces = segments(text, [(0, 3), (2, 5), (7, 8)])
    assert "".join(p for p, _ in pieces) == text
    assert pieces == [("智博会在重", True), ("庆开", False), ("幕", True)]
    assert segments("", []) == []


def test_the_chart_scales_bars_and_marks_failed_runs():
    chart = bar_chart([Bar("a", 0), Bar("b", 10), Bar("c", 5), Bar("d", 0, failed=True)], title="t", slots=4,
                      width=400, height=62)
    heights = [b["h"] for b in chart["bars"]]
    assert heights == [0, 50, 25, 4] and chart["max"] == 10
    assert [b["x"] for b in chart["bars"]] == [0, 100, 200, 300]
    assert all(b["y"] + b["h"] == 62 for b in chart["bars"])
    assert bar_chart([], title="none")["bars"] == []
    assert bar_chart([Bar("one", 3)], title="t", slots=30, width=300)["bars"][0]["w"] == 9  # thin, not the width


@pytest.mark.parametrize("query, message", [
    ("limit=0", "limit=0"), ("year=1e3", "year='1e3'"), ("since=soon", "since: cannot read the date 'soon'"),
    ("x=1", "unknown parameter 'x'"), ("sort=best", "sort='best'"), ("tz=Nowhere", "tz='Nowhere': not a time zone"),
])
def test_bad_parameters_name_themselves(query, message):
    with pytest.raises(BadParameter, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        search_params(QueryParams(query))


def test_parameters_read_as_the_cli_reads_its_options():
    params = search_params(QueryParams("q=智博会+OR+expo&event=Smart-China-Expo&year=2019&lang=zh&copies=on"
                                       "&sort=first-seen&dates=first-seen&since=2019-01-01&tz=Asia/Shanghai&limit=5"))
    q = params.query
    assert (q.text, q.events, q.years, q.languages, q.all_copies, q.sort, q.date_field, q.limit) == (
        "智博会 OR expo", ("smart-china-expo",), (2019,), ("zh",), True, "first_seen", "first_seen", 5)
    assert q.since.isoformat() == "2019-01-01T00:00:00+08:00"
    empty = search_params(QueryParams("q=&event=&year=&since=")).query  # an empty form field is no filter
    assert (empty.text, empty.events, empty.years, empty.since, empty.limit) == ("", (), (), None, 20)


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("192.168.1.5", False), ("::", False), ("example.org", False),
])
def test_only_loopback_addresses_count_as_private(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("url, link", [
    ("https://example.org/a?b=1", "https://example.org/a?b=1"), ("HTTP://x.example/", "HTTP://x.example/"),
    ("javascript:alert(1)", "#"), (" javascript:alert(1)", "#"), ("data:text/html,x", "#"), ("", "#"), (None, "#"),
])
def test_stored_urls_become_links_only_when_http(url, link):
    from crawler.web.app import web_link

    assert web_link(url) == link


def test_connections_to_the_served_socket_send_without_waiting_for_acks():
    """asyncio turns Nagle off (TCP_NODELAY) on the connections it accepts only when the listening
    socket says TCP: else each answer on a kept-alive connection waited for a delayed ACK."""
    async def accept_one() -> int:
        accepted: asyncio.Future = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport):
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        listening = bind("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
            nodelay = await asyncio.wait_for(accepted, 10)
            writer.close()
            return nodelay

    assert asyncio.run(accept_one()) != 0
