"""Quality gates: pages that are not articles come back with a skip reason, articles do not."""

from __future__ import annotations

import pytest
from html_pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, page, paragraphs, site_chrome

from crawler.extract import quality
from crawler.extract.extraction import ExtractionHints, extract_article
from crawler.extract.language import text_words

URL = "http://expo.example.org/news/88.html"


def reason(html: str | bytes, **kwargs) -> str | None:
    raw = html.encode("utf-8") if isinstance(html, str) else html
    return extract_article(raw, URL, **kwargs).skip_reason


def test_a_real_article_passes_every_gate():
    assert reason(page(site_chrome("<h1>Expo opens</h1>" + paragraphs(EN_PARAGRAPHS)), title="Expo opens")) is None
    assert reason(page("<h1>大会召开</h1>" + paragraphs(ZH_PARAGRAPHS), title="大会召开")) is None


@pytest.mark.parametrize(
    "body",
    [
        '<noscript>Please enable JavaScript to view this page.</noscript><div id="app"></div>',
        '<div id="root"></div>',
        "<noscript>您的浏览器未启用JavaScript，请开启JavaScript后访问。</noscript><div id='app'></div>",
        "<p>This site requires JavaScript.</p><div id='__next'></div>",
    ],
)
def test_javascript_shell(body):
    html = page(body, title="Expo News", head='<script defer src="/static/js/app.8f3c1d.js"></script>')
    assert reason(html) == "js_shell"


def test_a_short_static_page_without_scripts_is_too_short_not_a_shell():
    assert reason(page("<h1>Expo</h1><p>The fair opens on Monday in Tianjin.</p>")) == "too_short"


@pytest.mark.parametrize(
    ("title", "body"),
    [
        ("404 Not Found", "<h1>Not Found</h1><p>The requested URL was not found on this server.</p>"),
        ("Page not found - Example Expo News", "<h1>Oops!</h1><p>We looked everywhere.</p>"),
        ("Example Expo News", "<h1>Sorry</h1><p>The page you are looking for does not exist or has been removed.</p>"),
        ("世界智能大会", "<div class='err'><p>抱歉，您访问的页面不存在！</p><a href='/'>返回首页</a></div>"),
        ("页面未找到_世界智能大会", "<p>请检查网址是否正确。</p>"),
        ("404", "<p>Error 404</p>"),
    ],
)
def test_soft_404_served_with_status_200(title, body):
    assert reason(page(site_chrome(body), title=title)) == "soft_404"


def test_an_article_mentioning_404_and_not_found_is_still_an_article():
    text = (
        "404 companies signed up before the deadline, and organisers said the booth they had not found "
        "a use for will host a robotics demo. " + EN_PARAGRAPHS[0],
        *EN_PARAGRAPHS[1:],
    )
    html = page(f"<h1>404 Companies Sign Up for the Expo</h1>{paragraphs(text)}", title="404 Companies Sign Up for the Expo")
    assert reason(html) is None


def test_list_page_of_headlines():
    items = "".join(
        f"<li><a href='/news/2024/06{day:02d}/{day}.html'>Expo update number {day}: halls, robots and visitors</a>"
        f"<span>2024-06-{day:02d}</span></li>"
        for day in range(1, 21)
    )
    html = page(site_chrome(f"<h2>News Center</h2><ul class='news-list'>{items}</ul>"), title="News Center")
    assert reason(html) == "list_page"


def test_chinese_list_page_of_headlines():
    items = "".join(
        f"<li><a href='/xw/{n}.html'>智能大会第{n}场专题活动顺利举行</a><span>2024-06-{n:02d}</span></li>" for n in range(1, 16)
    )
    html = page(f"<div class='list'><ul>{items}</ul></div><div class='page'><a href='?p=2'>下一页</a></div>")
    assert reason(html) == "list_page"


def test_article_with_heavy_navigation_is_not_a_list_page():
    menu = "".join(f"<li><a href='/s/{n}'>Section {n} of the expo site</a></li>" for n in range(40))
    html = page(f"<nav><ul>{menu}</ul></nav><h1>Expo opens</h1>{paragraphs(EN_PARAGRAPHS)}")
    assert reason(html) is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (" ".join(["Word"] * (quality.MIN_ARTICLE_WORDS - 1)), "en"),
        ("会" * (2 * quality.MIN_ARTICLE_WORDS - 2), "zh"),
    ],
)
def test_too_short_in_english_words_and_chinese_characters(text, language):
    assert reason(page(f"<p>{text}</p>")) == "too_short"
    longer = text + (" Word Word" if language == "en" else "会会会会")
    assert reason(page(f"<p>{longer}</p>")) is None


def test_chinese_counts_two_characters_per_word():
    assert text_words("会议" * 10) == 10
    assert text_words("The expo opens 大会开幕") == 5


def test_empty_body_has_no_content():
    assert reason(page("<div></div>", title="Expo")) == "no_content"
    assert reason(b"   ") == "no_content"


def test_too_large_is_refused_before_parsing():
    filler = "<p>" + "x" * 1000 + "</p>"
    html = page(filler * (quality.MAX_HTML_BYTES // 1000 + 1))
    doc = extract_article(html.encode(), URL)
    assert doc.skip_reason == "too_large"
    assert doc.text == ""


@pytest.mark.parametrize(
    "raw",
    [
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>x</title></channel></rss>',
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>',
        b'{"status": "ok", "items": []}',
    ],
)
def test_not_html(raw):
    assert reason(raw) == "not_html"


def test_xhtml_with_xml_declaration_is_html():
    html = '<?xml version="1.0" encoding="utf-8"?>' + page("<h1>Expo</h1>" + paragraphs(EN_PARAGRAPHS))
    assert reason(html) is None


def test_skip_reason_does_not_depend_on_hints_language():
    html = page("<p>Too short.</p>")
    assert reason(html, hints=ExtractionHints(language="zh")) == "too_short"


def test_markup_decides_not_a_stray_nul_byte():
    from crawler.extract.quality import not_html

    page = b"<!DOCTYPE html><html><head><title>A\x00</title></head><body><p>Hall 5\x00\x00 opens.</p></body></html>"
    assert not not_html(page)
    assert not_html(b"\x00\x01\x02\x00" * 256)  # a binary file: NUL bytes everywhere
    assert not_html(b"%PDF-1.7 <html>")


def test_long_fields_are_cut_with_a_warning():
    from crawler.extract.quality import FIELD_CAPS, cap_field

    warnings: list[str] = []
    assert cap_field("title", "short", warnings) == "short" and warnings == []
    assert cap_field("published_raw", None, warnings) is None
    cut = cap_field("title", "x" * 1_000_000, warnings)
    assert len(cut) == FIELD_CAPS["title"]
    assert warnings == [f"title cut to {FIELD_CAPS['title']} characters (was 1000000)"]
