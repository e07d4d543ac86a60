"""Published / updated dates: formats, time zones, metadata vs bylines vs URL, plausibility."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from html_pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, page, paragraphs

from crawler.extract.dates import find_dates, parse_date, source_zone, url_date
from crawler.extract.htmltree import jsonld_objects, meta_values, parse_html

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected", "precision"),
    [
        ("2021-03-19 10:20:36", utc(2021, 3, 19, 2, 20, 36), "second"),
        ("Release:Chongqing Daily Time:2019-07-19 17:30:36", utc(2019, 7, 19, 9, 30, 36), "second"),
        ("2021年3月19日", utc(2021, 3, 18, 16, 0), "day"),
        ("2021年3月19日 10:20", utc(2021, 3, 19, 2, 20), "minute"),
        ("发布时间：2021年03月19日10时20分", utc(2021, 3, 19, 2, 20), "minute"),
        ("2021/03/19", utc(2021, 3, 18, 16, 0), "day"),
        ("2021.3.9 08:05", utc(2021, 3, 9, 0, 5), "minute"),
        ("June 21, 2024", utc(2024, 6, 20, 16, 0), "day"),
        ("Jun. 21, 2024 3:05 PM", utc(2024, 6, 21, 7, 5), "minute"),
        ("21 June 2024, 09:15", utc(2024, 6, 21, 1, 15), "minute"),
        ("Updated: September 3rd, 2023 at 11:45 a.m.", utc(2023, 9, 3, 3, 45), "minute"),
        ("2024-06-21T09:30:00+08:00", utc(2024, 6, 21, 1, 30), "second"),
        ("2024-06-21T09:30:00Z", utc(2024, 6, 21, 9, 30), "second"),
        ("2024-06-21 09:30 GMT+2", utc(2024, 6, 21, 7, 30), "minute"),
        ("2021年3月19日 下午3:20", utc(2021, 3, 19, 7, 20), "minute"),
    ],
)
def test_formats_read_in_the_source_zone(text, expected, precision):
    found = parse_date(text, SHANGHAI, "Asia/Shanghai")
    assert found is not None
    assert found.value == expected
    assert found.precision == precision
    assert found.value.tzinfo is UTC


@pytest.mark.parametrize("text", ["2021-02-30", "2021-13-01 10:00", "version 2.0.21", "Room 2021", ""])
def test_non_dates_are_not_dates(text):
    assert parse_date(text, SHANGHAI) is None


@pytest.mark.parametrize(
    ("text", "zone"),
    [("June 21, 2024, 09:30 ET", "America/New_York"), ("Jun 21, 2024 9:30 AM (HKT)", "Asia/Hong_Kong")],
)
def test_zone_abbreviation_after_the_time_names_the_zone(text, zone):
    found = parse_date(text, ZoneInfo("UTC"), "UTC")
    assert found.zone == zone
    assert found.value == datetime(2024, 6, 21, 9, 30, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_ambiguous_cst_and_lowercase_words_are_not_zones():
    assert parse_date("2024-06-21 09:30 CST", SHANGHAI, "Asia/Shanghai").value == utc(2024, 6, 21, 1, 30)
    assert parse_date("le 21 June 2024 09:30 et puis", SHANGHAI, "Asia/Shanghai").zone == "Asia/Shanghai"


def test_naive_time_follows_daylight_saving_of_the_source_zone():
    new_york = ZoneInfo("America/New_York")
    summer = parse_date("2024-07-01 10:00", new_york)
    winter = parse_date("2024-01-15 10:00", new_york)
    assert summer.value == utc(2024, 7, 1, 14, 0)
    assert winter.value == utc(2024, 1, 15, 15, 0)


def test_explicit_offset_is_reported_as_the_zone_used():
    found = parse_date("2024-06-21T09:30:00+08:00", ZoneInfo("Europe/London"), "Europe/London")
    assert found.zone == "+08:00"
    assert parse_date("2024-06-21 09:30", ZoneInfo("Europe/London"), "Europe/London").zone == "Europe/London"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://news.example.cn/2021/0319/c1234.html", (2021, 3, 19)),
        ("http://example.org/news/2021-03-19/expo-opens/", (2021, 3, 19)),
        ("http://example.org/a/20210319/567.shtml", (2021, 3, 19)),
        ("http://example.org/2021/03/19/expo/", (2021, 3, 19)),
        ("http://example.cn/xwzx/202103/t20210319_123.html", (2021, 3, 19)),
        ("http://example.org/news/123456789.html", None),
        ("http://example.org/2021/expo.html", None),
        ("http://20210319.example.org/news/a.html", None),
    ],
)
def test_dates_written_in_the_url(url, expected):
    found = url_date(url, SHANGHAI)
    if expected is None:
        assert found is None
    else:
        assert found.value.astimezone(SHANGHAI).date() == datetime(*expected).date()
        assert found.precision == "day"


def dates_of(html: str, url: str = "http://example.org/news/a.html", **kwargs):
    tree = parse_html(html)
    headline = tree.find(".//h1")
    kwargs.setdefault("zone_name", "Asia/Shanghai")
    kwargs.setdefault("now", NOW)
    return find_dates(tree, url, headline=headline, meta=meta_values(tree), jsonld=jsonld_objects(tree), **kwargs)


def test_byline_after_the_headline_wins_over_sidebar_dates():
    html = page(
        '<aside><ul><li><a href="/b">Older story</a> 2020-01-02 08:00</li></ul></aside>'
        "<h1>Expo opens</h1><div class='info'>Release:Chongqing Daily Time:2019-07-19 17:30:36</div>"
        + paragraphs(EN_PARAGRAPHS)
        + "<ul class='related'><li><a href='/c'>Another story 2019-07-20 09:00</a></li></ul>"
    )
    dates = dates_of(html)
    assert dates.published_at == utc(2019, 7, 19, 9, 30, 36)
    assert dates.published_raw == "2019-07-19 17:30:36"
    assert dates.date_source == "byline"
    assert dates.date_timezone == "Asia/Shanghai"


def test_metadata_date_without_time_is_refined_by_the_byline():
    html = page(
        "<h1>Expo opens</h1><p class='date'>2021-03-19 10:20:36</p>" + paragraphs(EN_PARAGRAPHS),
        head='<meta name="PubDate" content="2021-03-19">',
    )
    dates = dates_of(html)
    assert dates.published_at == utc(2021, 3, 19, 2, 20, 36)
    assert dates.published_raw == "2021-03-19 10:20:36"


def test_metadata_with_offset_beats_the_byline_and_keeps_updated():
    head = (
        '<meta property="article:published_time" content="2024-06-21T09:30:00+08:00">'
        '<meta property="article:modified_time" content="2024-06-22T18:05:00+08:00">'
    )
    html = page("<h1>Expo</h1><p>June 21, 2024</p>" + paragraphs(EN_PARAGRAPHS), head=head)
    dates = dates_of(html, zone_name="America/New_York")
    assert dates.published_at == utc(2024, 6, 21, 1, 30)
    assert dates.date_source == "meta"
    assert dates.date_timezone == "+08:00"
    assert dates.updated_at == utc(2024, 6, 22, 10, 5)
    assert dates.updated_raw == "2024-06-22T18:05:00+08:00"


def test_json_ld_and_time_elements():
    jsonld = (
        '<script type="application/ld+json">{"@context":"https://schema.org","@graph":['
        '{"@type":"WebSite","name":"Example"},'
        '{"@type":"NewsArticle","headline":"Expo","datePublished":"2023-05-20T08:00:00Z",'
        '"dateModified":"2023-05-21T08:00:00Z"}]}</script>'
    )
    dates = dates_of(page("<h1>Expo</h1>" + paragraphs(EN_PARAGRAPHS), head=jsonld))
    assert (dates.published_at, dates.updated_at) == (utc(2023, 5, 20, 8), utc(2023, 5, 21, 8))
    assert dates.date_source == "jsonld"

    timed = page('<h1>Expo</h1><time datetime="2023-05-20T16:00">May 20</time>' + paragraphs(EN_PARAGRAPHS))
    assert dates_of(timed).published_at == utc(2023, 5, 20, 8)


def test_byline_labels_separate_published_and_updated():
    html = page(
        "<h1>Expo</h1><div>发布时间：2021年3月19日 10:20 更新时间：2021年3月20日 08:00</div>"
        + paragraphs(ZH_PARAGRAPHS)
    )
    dates = dates_of(html)
    assert dates.published_at == utc(2021, 3, 19, 2, 20)
    assert dates.updated_at == utc(2021, 3, 20, 0, 0)
    assert dates.updated_raw == "2021年3月20日 08:00"


def test_wire_dateline_in_the_first_paragraph():
    html = page(
        "<h1>Expo</h1><p>BEIJING, June 21, 2024 /PRNewswire/ -- A report on the expo follows. "
        + EN_PARAGRAPHS[0]
        + "</p>"
        + paragraphs(EN_PARAGRAPHS[1:])
    )
    dates = dates_of(html, zone_name="Asia/Shanghai")
    assert dates.date_source == "dateline"
    assert dates.published_at == utc(2024, 6, 20, 16)


def no_second_opinion(*_args: object) -> None:
    """Our own rules alone: no htmldate."""
    return None


def test_a_date_mentioned_in_prose_is_not_the_publication_date():
    html = page("<h1>Expo</h1>" + paragraphs(("The fair runs from June 20, 2024 in Tianjin. " + EN_PARAGRAPHS[0],)))
    assert dates_of(html, second_opinion=no_second_opinion).published_at is None


def test_htmldate_dates_a_page_our_rules_cannot_read():
    # A European byline ("13.01.2022") is no format of ours; htmldate reads it, at day precision.
    html = page("<h1>Expo opens</h1><p class='meta'>Pressemitteilung 13.01.2022</p>" + paragraphs(EN_PARAGRAPHS))
    assert dates_of(html, second_opinion=no_second_opinion).published_at is None
    dates = dates_of(html)
    assert dates.published_at == datetime(2022, 1, 13, tzinfo=SHANGHAI)
    assert (dates.date_source, dates.published_precision, dates.published_raw) == ("htmldate", "day", "2022-01-13")


def test_htmldate_is_not_asked_when_the_page_has_strong_evidence():
    asked: list[str] = []

    def opinion(_tree, url, _earliest, _latest):
        asked.append(url)
        return None

    html = page("<h1>Expo opens</h1><p class='time'>Time: 2021-03-19 10:20</p>" + paragraphs(EN_PARAGRAPHS))
    assert dates_of(html, second_opinion=opinion).published_at == utc(2021, 3, 19, 2, 20)
    assert asked == []
    assert dates_of(page("<h1>Expo opens</h1>" + paragraphs(EN_PARAGRAPHS)), second_opinion=opinion).published_at is None
    assert len(asked) == 1


def test_htmldates_day_picks_our_timed_candidate_on_that_day():
    # Two weak candidates (bylines before the headline); htmldate's day decides, ours keeps the time.
    html = page(
        "<div class='top'>2021-03-18 08:00</div><div class='top2'>2021-03-19 10:20</div><h1>Expo opens</h1>"
        + paragraphs(EN_PARAGRAPHS)
    )
    dates = dates_of(html, second_opinion=lambda *_args: date(2021, 3, 19))
    assert (dates.published_at, dates.date_source, dates.published_precision) == (
        utc(2021, 3, 19, 2, 20), "byline", "minute"
    )
    assert dates_of(html, second_opinion=no_second_opinion).published_at == utc(2021, 3, 18, 0, 0)


def test_an_unconfirmed_first_of_january_from_htmldate_is_a_year_not_a_date():
    html = page("<h1>Expo opens</h1>" + paragraphs(EN_PARAGRAPHS))
    assert dates_of(html, second_opinion=lambda *_args: date(2019, 1, 1)).published_at is None
    assert dates_of(html, second_opinion=lambda *_args: date(2019, 1, 2)).date_source == "htmldate"


def test_utc_metadata_takes_the_local_offset_the_byline_shows():
    # The metadata gives the instant in UTC; the byline shows the same minute as the local wall clock.
    html = page(
        "<h1>Expo opens</h1><p class='byline'>February 24, 2020 | 9:25pm</p>" + paragraphs(EN_PARAGRAPHS),
        head='<meta property="article:published_time" content="2020-02-25T02:25:54+00:00">',
    )
    dates = dates_of(html, zone_name="UTC")
    assert dates.published_at == utc(2020, 2, 25, 2, 25, 54)
    assert dates.date_timezone == "-05:00"
    assert dates.date_source == "meta"
    # A byline at another minute is another event (an update, a sidebar): the offset stays UTC.
    other = html.replace("9:25pm", "9:40pm")
    assert dates_of(other, zone_name="UTC").date_timezone == "UTC"


def test_metadata_with_a_zone_under_another_name_beats_naive_json_ld():
    html = page(
        "<h1>Expo opens</h1>" + paragraphs(EN_PARAGRAPHS),
        head='<meta name="cXenseParse:recs:publishtime" content="2022-05-11T04:10:00-03:00">'
        '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2022-05-10T23:35:55"}</script>',
    )
    dates = dates_of(html, zone_name="UTC")
    assert dates.published_at == utc(2022, 5, 11, 7, 10)
    assert dates.date_timezone == "-03:00"
    # A "publisher" meta is a name, never a date.
    named = page("<h1>Expo</h1>" + paragraphs(EN_PARAGRAPHS), head='<meta name="publisher" content="Daily 2022-05-11">')
    assert dates_of(named, second_opinion=no_second_opinion).published_at is None


def test_url_date_is_the_last_resort():
    dates = dates_of(page("<h1>Expo</h1>" + paragraphs(EN_PARAGRAPHS)), url="http://example.cn/2021/0319/a.html")
    assert dates.date_source == "url"
    assert dates.published_at == utc(2021, 3, 18, 16)


def test_future_date_is_flagged_not_stored():
    html = page("<h1>Expo</h1><p class='time'>2031-01-01 09:00</p>" + paragraphs(EN_PARAGRAPHS))
    dates = dates_of(html)
    assert dates.published_at is None
    assert dates.date_flag == "future"
    assert dates.published_raw == "2031-01-01 09:00"


def test_small_clock_skew_is_tolerated():
    html = page("<h1>Expo</h1><p class='time'>2025-01-15 23:30</p>" + paragraphs(EN_PARAGRAPHS))
    dates = dates_of(html, zone_name="UTC")
    assert dates.published_at == utc(2025, 1, 15, 23, 30)
    assert dates.date_flag is None


@pytest.mark.parametrize(("raw", "founded"), [("2009-05-01 10:00", 2016), ("1990-05-01 10:00", None)])
def test_date_before_the_site_existed_is_flagged(raw, founded):
    html = page(f"<h1>Expo</h1><p class='time'>{raw}</p>" + paragraphs(EN_PARAGRAPHS))
    dates = dates_of(html, founded_year=founded)
    assert (dates.published_at, dates.date_flag, dates.published_raw) == (None, "before_site", raw)


def test_implausible_metadata_gives_way_to_a_plausible_byline():
    html = page(
        "<h1>Expo</h1><p class='time'>2021-03-19 10:20</p>" + paragraphs(EN_PARAGRAPHS),
        head='<meta name="pubdate" content="1970-01-01">',
    )
    dates = dates_of(html)
    assert dates.published_at == utc(2021, 3, 19, 2, 20)
    assert dates.date_flag is None
    assert any("1970-01-01" in warning for warning in dates.warnings)


@pytest.mark.parametrize("selector", [".when", "//span[@class='when']", "//span[@class='when']/@data-ts"])
def test_date_selector_overrides_everything(selector):
    html = page(
        "<h1>Expo</h1><p>2020-01-01 10:00</p><span class='when' data-ts='2022-08-08 20:08'>2022-08-08 20:08</span>"
        + paragraphs(EN_PARAGRAPHS),
        head='<meta property="article:published_time" content="2020-01-01T00:00:00Z">',
    )
    dates = dates_of(html, date_selector=selector)
    assert dates.published_at == utc(2022, 8, 8, 12, 8)
    assert dates.date_source == "selector"


def test_unknown_time_zone_is_a_clear_error():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        source_zone("Mars/Olympus")
