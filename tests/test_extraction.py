"""extract_article end to end on pages written for the project: titles, boilerplate, hints, output."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from html_pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, page, paragraphs, site_chrome

from crawler.extract.extraction import EXTRACTOR_VERSION, ExtractedArticle, ExtractionHints, extract_article

URL = "http://expo.example.org/news/2024/0621/88.html"
EN_HEADLINE = "Expo Draws Five Hundred Exhibitors to Tianjin"
ZH_HEADLINE = "第五届世界智能大会筹备工作推进会召开"


def extract(html: str, *, encoding: str = "utf-8", url: str = URL, **hint_fields) -> ExtractedArticle:
    hint_fields.setdefault("timezone", "Asia/Shanghai")
    return extract_article(html.encode(encoding), url, hints=ExtractionHints(**hint_fields))


@pytest.mark.parametrize(
    "doc_title",
    [
        f"{EN_HEADLINE} - Example Expo News",
        f"{EN_HEADLINE} | Example Expo News",
        f"{EN_HEADLINE} – News Center – Example Expo News",
        f"Example Expo News | {EN_HEADLINE}",
        EN_HEADLINE,
    ],
)
def test_title_without_site_name(doc_title):
    html = page(site_chrome(f"<h2>{EN_HEADLINE}</h2>" + paragraphs(EN_PARAGRAPHS)), title=doc_title)
    assert extract(html).title == EN_HEADLINE


def test_chinese_title_suffix_with_underscores_and_a_logo_heading():
    body = (
        '<div class="top"><h1><a href="/">世界智能大会</a></h1></div>'
        f'<div class="detail"><div class="tit">{ZH_HEADLINE}</div>{paragraphs(ZH_PARAGRAPHS)}</div>'
    )
    html = page(body, title=f"{ZH_HEADLINE}_新闻中心_世界智能大会")
    assert extract(html).title == ZH_HEADLINE


def test_title_that_is_only_the_site_name_gives_way_to_the_headline_element():
    body = (
        '<div class="top"><h1><a href="/index.html">世界智能大会</a></h1></div>'
        f'<div class="article-title">{ZH_HEADLINE}</div>{paragraphs(ZH_PARAGRAPHS)}'
    )
    assert extract(page(body, title="世界智能大会")).title == ZH_HEADLINE


def test_short_headline_is_not_confused_with_a_long_site_name_heading():
    body = "<h1>World Intelligence Congress</h1><h2>Expo Opens</h2>" + paragraphs(EN_PARAGRAPHS)
    assert extract(page(body, title="Expo Opens - World Intelligence Congress")).title == "Expo Opens"


def test_og_title_used_when_no_heading_matches():
    head = f'<meta property="og:title" content="{EN_HEADLINE}"><meta property="og:site_name" content="Expo">'
    html = page(paragraphs(EN_PARAGRAPHS), title=f"Expo | {EN_HEADLINE}", head=head)
    assert extract(html).title == EN_HEADLINE


def test_title_kept_when_a_separator_is_part_of_the_headline():
    headline = "Smart China Expo: Robots - and the People Who Build Them"
    html = page(site_chrome(f"<h1>{headline}</h1>" + paragraphs(EN_PARAGRAPHS)), title=f"{headline} | CQ News")
    assert extract(html).title == headline


def test_generic_boilerplate_removed_from_an_english_article():
    content = (
        '<div class="crumbs">Your current location: <a href="/">Home</a> &gt; <a href="/news/">News</a></div>'
        f"<h1>{EN_HEADLINE}</h1>"
        '<div class="info"><span>2021-03-19 10:20:36</span><span class="fav">Collection Collection</span></div>'
        + paragraphs(EN_PARAGRAPHS[:2])
        + '<figure><img src="a.jpg"><figcaption>Photo by Li Ming</figcaption></figure>'
        + paragraphs(EN_PARAGRAPHS[2:])
        + "<p>Collection Collection</p>"
        + "<h3>Related News</h3><p><a href='/n/1'>Robots shine at the opening</a></p><p><a href='/n/2'>Drones over the river</a></p>"
        + "<p>Scan the QR code to follow our official account</p>"
    )
    doc = extract(page(site_chrome(content), title=f"{EN_HEADLINE} - Example Expo News"))
    assert doc.skip_reason is None
    for paragraph in EN_PARAGRAPHS:
        assert paragraph in doc.text
    for junk in ("Collection", "current location", "Photo by", "Related News", "Robots shine", "QR code", "Copyright"):
        assert junk not in doc.text
    assert doc.published_at == datetime(2021, 3, 19, 2, 20, 36, tzinfo=UTC)
    assert doc.title == EN_HEADLINE
    assert doc.language == "en"


def test_generic_boilerplate_removed_from_a_chinese_article():
    content = (
        '<div class="weizhi">当前位置：<a href="/">首页</a> &gt; <a href="/xw/">新闻中心</a></div>'
        f"<h1>{ZH_HEADLINE}</h1>"
        "<div class='msg'>来源：天津日报　发布时间：2021年3月19日 10:20　【字号 大 中 小】</div>"
        + paragraphs(ZH_PARAGRAPHS)
        + "<p>图为会议现场。（记者 王力 摄）</p>"
        + "<p>相关新闻</p><ul><li><a href='/1'>智能大会开幕在即</a></li><li><a href='/2'>展馆布置完成</a></li></ul>"
        + "<div class='foot'>版权所有：世界智能大会组委会 津ICP备12345678号</div>"
    )
    doc = extract(page(content, title=f"{ZH_HEADLINE}_世界智能大会"), encoding="gb18030")
    assert doc.encoding == "gb18030"
    for paragraph in ZH_PARAGRAPHS:
        assert paragraph in doc.text
    for junk in ("当前位置", "摄", "相关新闻", "开幕在即", "ICP", "发布时间", "字号"):
        assert junk not in doc.text
    assert doc.published_at == datetime(2021, 3, 19, 2, 20, tzinfo=UTC)
    assert doc.published_raw == "2021年3月19日 10:20"
    assert doc.language == "zh"


def test_gbk_page_with_wrong_header_extracts_correctly():
    html = page(f"<h1>{ZH_HEADLINE}</h1><p>2021-03-19 10:20</p>" + paragraphs(ZH_PARAGRAPHS), title=ZH_HEADLINE)
    for header in ("utf-8", "iso-8859-1", None):
        doc = extract_article(html.encode("gbk"), URL, http_charset=header)
        assert doc.title == ZH_HEADLINE, header
        assert ZH_PARAGRAPHS[1] in doc.text
        assert (doc.encoding, doc.language, doc.skip_reason) == ("gb18030", "zh", None)


def test_selectors_from_hints_css_and_xpath():
    html = page(
        "<div class='hd'><span class='headline'>The Real Headline</span><em class='stamp'>2022-08-08 20:08</em></div>"
        "<h1>Site Banner Heading</h1><p>2020-01-01 10:00</p>"
        "<div id='story'>" + paragraphs(EN_PARAGRAPHS[:2]) + "<div class='ad'>Buy tickets now at the box office</div></div>"
        "<div class='other'>" + paragraphs(EN_PARAGRAPHS[2:]) + "</div>",
        title="Site Banner Heading",
    )
    doc = extract(
        html,
        title_selector="span.headline",
        date_selector="//em[@class='stamp']",
        body_selector="#story",
        drop_selectors=("div.ad",),
    )
    assert doc.title == "The Real Headline"
    assert doc.published_at == datetime(2022, 8, 8, 12, 8, tzinfo=UTC)
    assert doc.date_source == "selector"
    assert EN_PARAGRAPHS[0] in doc.text and EN_PARAGRAPHS[1] in doc.text
    assert EN_PARAGRAPHS[2] not in doc.text
    assert "Buy tickets" not in doc.text


def test_drop_phrases_remove_lines():
    html = page(f"<h1>{EN_HEADLINE}</h1>" + paragraphs((*EN_PARAGRAPHS, "Editor's pick: subscribe for more.")))
    doc = extract(html, drop_phrases=("subscribe for more",))
    assert "subscribe" not in doc.text
    assert EN_PARAGRAPHS[2] in doc.text


def test_unmatched_body_selector_falls_back_with_a_warning():
    html = page(f"<h1>{EN_HEADLINE}</h1>" + paragraphs(EN_PARAGRAPHS))
    doc = extract(html, body_selector="div.nothing-here")
    assert EN_PARAGRAPHS[0] in doc.text
    assert any("body_selector" in warning for warning in doc.warnings)


@pytest.mark.parametrize("field", ["title_selector", "body_selector", "date_selector"])
def test_invalid_selector_is_a_clear_error_naming_the_url(field):
    html = page(f"<h1>{EN_HEADLINE}</h1>" + paragraphs(EN_PARAGRAPHS))
    with pytest.raises(ValueError, match=r"expo\.example\.org.*selector"):
        extract(html, **{field: "div[[["})


def test_unknown_time_zone_is_a_clear_error_naming_the_url():
    with pytest.raises(ValueError, match=r"expo\.example\.org.*Nowhere/Town"):
        extract(page("<p>x</p>"), timezone="Nowhere/Town")


def test_mixed_page_language_follows_the_cjk_share():
    zh_with_english = page(f"<h1>{ZH_HEADLINE}</h1>" + paragraphs(tuple(p + "（WIC 2021, Tianjin）" for p in ZH_PARAGRAPHS)))
    en_with_chinese = page(f"<h1>{EN_HEADLINE}</h1>" + paragraphs(tuple(p + " (天津)" for p in EN_PARAGRAPHS)))
    assert extract(zh_with_english).language == "zh"
    assert extract(en_with_chinese).language == "en"


def test_to_json_dict_shows_every_stored_field():
    head = (
        '<meta property="article:published_time" content="2024-06-21T09:30:00+08:00">'
        '<meta property="article:modified_time" content="2024-06-22T10:00:00+08:00">'
        '<meta name="author" content="Zhang Wei"><link rel="canonical" href="/news/88.html">'
    )
    doc = extract(page(f"<h1>{EN_HEADLINE}</h1>" + paragraphs(EN_PARAGRAPHS), title=EN_HEADLINE, head=head))
    out = json.loads(json.dumps(doc.to_json_dict()))
    assert out["published_at"] == "2024-06-21T01:30:00+00:00"
    assert out["published_raw"] == "2024-06-21T09:30:00+08:00"
    assert out["updated_at"] == "2024-06-22T02:00:00+00:00"
    assert out["date_timezone"] == "+08:00"
    assert out["published_precision"] == "second"
    assert out["canonical_url"] == "http://expo.example.org/news/88.html"
    assert out["author"] == "Zhang Wei"
    assert (out["language"], out["encoding"], out["skip_reason"]) == ("en", "ascii", None)
    assert out["extractor_version"] == EXTRACTOR_VERSION
    expected_keys = {
        "url", "title", "text", "published_at", "published_raw", "updated_at", "updated_raw", "date_flag",
        "date_source", "published_precision", "date_timezone", "language", "author", "canonical_url", "encoding", "encoding_source",
        "skip_reason", "extractor_version", "warnings",
    }  # fmt: skip
    assert set(out) == expected_keys


def test_future_date_flagged_in_the_article():
    html = page(f"<h1>{EN_HEADLINE}</h1><p class='time'>2099-01-01 09:00</p>" + paragraphs(EN_PARAGRAPHS))
    doc = extract(html, url="http://expo.example.org/news/88.html")
    assert (doc.published_at, doc.date_flag, doc.published_raw) == (None, "future", "2099-01-01 09:00")


def test_implausible_byline_gives_way_to_the_url_date_with_a_warning():
    html = page(f"<h1>{EN_HEADLINE}</h1><p class='time'>2099-01-01 09:00</p>" + paragraphs(EN_PARAGRAPHS))
    doc = extract(html, url="http://expo.example.org/news/2024/0621/88.html")
    assert (doc.published_at, doc.date_flag, doc.date_source) == (datetime(2024, 6, 20, 16, tzinfo=UTC), None, "url")
    assert any("2099-01-01 09:00" in warning for warning in doc.warnings)


def _trafilatura_passes(monkeypatch) -> list[bool]:
    """Record the `fast` flag of every trafilatura.bare_extraction call the extractor makes."""
    import trafilatura

    passes: list[bool] = []
    real = trafilatura.bare_extraction

    def spy(*args, **kwargs):
        passes.append(kwargs["options"].fast)
        return real(*args, **kwargs)

    monkeypatch.setattr(trafilatura, "bare_extraction", spy)
    return passes


def test_an_article_takes_one_fast_trafilatura_pass(monkeypatch):
    passes = _trafilatura_passes(monkeypatch)
    article = extract(page(site_chrome(f"<h1>{EN_HEADLINE}</h1>" + paragraphs(EN_PARAGRAPHS)), title=EN_HEADLINE))
    assert article.skip_reason is None
    assert passes == [True]


def test_a_short_fast_result_gets_trafilaturas_full_cascade(monkeypatch):
    passes = _trafilatura_passes(monkeypatch)
    article = extract(page(site_chrome("<h1>Expo</h1><p>The expo opens on Friday in Tianjin.</p>"), title="Expo"))
    assert article.skip_reason == "too_short"
    assert passes == [True, False]


def test_a_heading_with_its_own_site_suffix_gives_the_headline_part():
    html = page(
        f'<h1>{EN_HEADLINE}<span class="hidden"> | Example Expo News</span></h1>' + paragraphs(EN_PARAGRAPHS),
        title=f"{EN_HEADLINE} | EXPO.EXAMPLE",
        head=f'<meta property="og:title" content="{EN_HEADLINE}">',
    )
    assert extract(html).title == EN_HEADLINE
