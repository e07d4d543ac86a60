"""Canonical URLs: every spelling of one page becomes one URL; different pages stay apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.urls import (
    TRACKING_PARAMS,
    URLError,
    canonical_url,
    is_tracking_param,
    page_canonical_url,
    same_site,
)


@pytest.mark.parametrize("spelling", [
    "https://expo.example.cn/news/2024/0620.html",
    "HTTPS://Expo.Example.CN/news/2024/0620.html",
    "https://expo.example.cn:443/news/2024/0620.html",
    "https://expo.example.cn/news/2024/0620.html#comments",
    "https://expo.example.cn/news/2024/0620.html?utm_source=wechat&utm_medium=social",
    "https://expo.example.cn/news/2024/0620.html?spm=a2c4g.11186623&from=groupmessage&isappinstalled=0",
    "https://expo.example.cn/news/2024/0620.html?share_token=9f8e&fbclid=IwAR0",
    "https://expo.example.cn/news/2024/0620.html?UTM_Campaign=Expo",
    "https://expo.example.cn./news/2024/0620.html",
    "  https://expo.example.cn/news/2024/0620.html  ",
])
def test_spellings_of_one_page_share_a_canonical_url(spelling):
    assert canonical_url(spelling) == "https://expo.example.cn/news/2024/0620.html"


@pytest.mark.parametrize(("spelling", "canonical"), [
    ("http://example.org:80/a/", "http://example.org/a"),
    ("http://example.org:8080/a", "http://example.org:8080/a"),
    ("https://example.org/news/index.html", "https://example.org/news"),
    ("https://example.org/news/default.aspx", "https://example.org/news"),
    ("https://example.org/index.html", "https://example.org/"),
    ("https://example.org", "https://example.org/"),
    ("https://example.org/a/./b/../c/", "https://example.org/a/c"),
    ("https://example.org/p?b=2&a=1", "https://example.org/p?a=1&b=2"),
    ("https://example.org/p?id=7&flag", "https://example.org/p?flag=&id=7"),
    ("https://example.org/%e6%96%b0%e9%97%bb/1.html", "https://example.org/%E6%96%B0%E9%97%BB/1.html"),
    ("https://example.org/新闻/1.html", "https://example.org/%E6%96%B0%E9%97%BB/1.html"),
    ("https://展会.中国/a", f"https://{'展会.中国'.encode('idna').decode()}/a"),
])
def test_normalisation_rules(spelling, canonical):
    assert canonical_url(spelling) == canonical


@pytest.mark.parametrize(("a", "b"), [
    ("https://example.org/news?id=1", "https://example.org/news?id=2"),
    ("https://example.org/news/1.html", "https://example.org/News/1.html"),  # paths are case-sensitive
    ("http://example.org/a", "https://example.org/a"),
    ("https://example.org/a", "https://example.org:8443/a"),
    ("https://example.org/a?page=2", "https://example.org/a"),
    ("https://example.org/index.html.bak", "https://example.org/"),
])
def test_different_pages_keep_different_canonical_urls(a, b):
    assert canonical_url(a) != canonical_url(b)


def test_tracking_parameters_are_one_documented_list():
    assert {"spm", "from", "fbclid", "gclid"} <= TRACKING_PARAMS
    assert is_tracking_param("utm_content") and is_tracking_param("UTM_TERM")
    assert not is_tracking_param("id") and not is_tracking_param("page")
    text = (Path(__file__).resolve().parent.parent / "docs" / "dedup.md").read_text(encoding="utf-8")
    missing = [name for name in sorted(TRACKING_PARAMS) if f"`{name}`" not in text]
    assert missing == [], f"tracking parameters not documented in docs/dedup.md: {missing}"


@pytest.mark.parametrize("bad", ["ftp://example.org/a", "mailto:press@example.org", "http:///no-host",
                                 "http://example.org:99999/", "http://[::1/x", "/relative/path"])
def test_a_url_that_names_no_web_page_is_a_clear_error(bad):
    with pytest.raises(URLError, match="URL"):
        canonical_url(bad)


def test_same_site_ignores_www_and_mobile_hosts_only():
    assert same_site("https://www.example.org/a", "https://example.org/b")
    assert same_site("https://m.example.org/a", "https://www.example.org/a")
    assert not same_site("https://example.org/a", "https://example.com/a")
    assert not same_site("https://news.example.org/a", "https://expo.example.org/a")
    assert not same_site("https://m.org/a", "https://org/a")  # 'm.' is a name here, not a prefix


PAGE = "https://m.expo.example.cn/news/88.html?utm_source=feed"


@pytest.mark.parametrize(("declared", "canonical"), [
    (None, "https://m.expo.example.cn/news/88.html"),
    ("", "https://m.expo.example.cn/news/88.html"),
    ("https://www.expo.example.cn/news/88.html", "https://www.expo.example.cn/news/88.html"),
    ("/news/88.html#top", "https://m.expo.example.cn/news/88.html"),
    ("88.html?from=timeline", "https://m.expo.example.cn/news/88.html"),
    ("https://wire.example.com/story/88", "https://m.expo.example.cn/news/88.html"),  # other site
    ("https://www.expo.example.cn/", "https://m.expo.example.cn/news/88.html"),  # home page: a template bug
    ("javascript:void(0)", "https://m.expo.example.cn/news/88.html"),
    ("http://[broken", "https://m.expo.example.cn/news/88.html"),
])
def test_rel_canonical_is_honoured_only_when_same_site_and_plausible(declared, canonical):
    assert page_canonical_url(PAGE, declared) == canonical


def test_the_home_page_may_declare_itself():
    assert page_canonical_url("https://example.org/?utm_source=x", "https://www.example.org/") == \
        "https://www.example.org/"
