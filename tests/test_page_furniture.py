"""Page furniture around the headline and byline, on pages written for the project in the shape real
Chinese and English news pages have: widget rows (bookmark, share, font size, print), table-layout
toolbars and breadcrumbs, related-links heads, and a "Read more" box in the middle of a story."""

from __future__ import annotations

from html_pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, page, paragraphs, site_chrome

from crawler.extract.boilerplate import clean_text, is_boilerplate_line
from crawler.extract.extraction import ExtractionHints, extract_article
from crawler.extract.htmltree import node_text, parse_html, strip_non_text
from crawler.extract.widgets import drop_widget_rows

URL = "http://expo.example.org/news/2024/0621/88.html"
ZH_HEADLINE = "第五届世界智能大会筹备工作推进会召开"
EN_HEADLINE = "Expo Draws Five Hundred Exhibitors to Tianjin"

# Widget rows with no class or id to give them away: only their shape does.
ZH_TOOLBAR = (
    '<div>【<a href="javascript:void(0)">收藏本页</a>】【字号：<a href="javascript:zoom(16)">大</a> '
    '<a href="javascript:zoom(14)">中</a> <a href="javascript:zoom(12)">小</a>】【<a href="javascript:print()">打印</a>】</div>'
)
ZH_SHARE_ICONS = '<div>分享到：<a href="/s?to=a"><img src="a.png"></a><a href="/s?to=b"><img src="b.png"></a><a href="/s?to=c"></a></div>'
EN_TOOLBAR = (
    '<div><span>Share this story</span> <a href="/share?n=1">Post</a> <a href="/share?n=2">Send</a> '
    '<a href="/share?n=3">Mail</a></div><div><button>Print</button> <button>A+</button> <button>A-</button></div>'
)


def zh_article(extra_head: str = "", tail: str = "") -> str:
    return page(
        site_chrome(
            f"<h1>{ZH_HEADLINE}</h1><div>发布时间：2024-06-21 10:20 来源：本网</div>"
            + extra_head
            + paragraphs(ZH_PARAGRAPHS)
            + tail
        ),
        title=f"{ZH_HEADLINE}_示例新闻网",
    )


def test_chinese_bookmark_font_size_print_and_share_rows_leave_the_text():
    doc = extract_article(
        zh_article(ZH_TOOLBAR + ZH_SHARE_ICONS).encode(), URL, hints=ExtractionHints(timezone="Asia/Shanghai")
    )
    assert doc.skip_reason is None
    for widget in ("收藏", "字号", "打印", "分享到"):
        assert widget not in doc.text
    assert all(paragraph in doc.text for paragraph in ZH_PARAGRAPHS)
    assert doc.title == ZH_HEADLINE


def test_english_share_and_print_rows_leave_the_text():
    html = page(site_chrome(f"<h1>{EN_HEADLINE}</h1>" + EN_TOOLBAR + paragraphs(EN_PARAGRAPHS)), title=EN_HEADLINE)
    doc = extract_article(html.encode(), URL)
    for widget in ("Share this story", "Print", "A+", "Mail"):
        assert widget not in doc.text
    assert all(paragraph in doc.text for paragraph in EN_PARAGRAPHS)


def rows_left(html: str) -> list[str]:
    tree = parse_html(html)
    assert tree is not None
    strip_non_text(tree)
    drop_widget_rows(tree, tree.find(".//h1"))
    body = tree.find("body")
    return [node_text(element) for element in body]


def test_rows_of_short_links_between_headline_and_story_go_whatever_their_words():
    share_links = '<div>分享到：<a href="/s?to=a"><img src="a.png"></a><a href="/s?to=b"><img src="b.png"></a></div>'
    plain_links = '<p><a href="/fav?id=88">存入书签</a> | <a href="/print?id=88">打印版</a> | <a href="/mail?id=88">发给朋友</a></p>'
    html = page(f"<h1>{ZH_HEADLINE}</h1>{share_links}{plain_links}" + paragraphs(ZH_PARAGRAPHS) + plain_links)
    left = rows_left(html)
    assert left[0] == ZH_HEADLINE
    assert left[1:4] == list(ZH_PARAGRAPHS)  # both head rows gone
    assert left[4] == "存入书签 | 打印版 | 发给朋友"  # the same links under the story are page links: kept


def test_a_row_of_page_links_inside_the_story_stays_a_control_row_anywhere_goes():
    links_in_story = '<div><a href="/a">Tianjin</a> <a href="/b">Robots</a></div>'
    close_row = '<div>【<a href="/comments">Comment</a>】【<a href="javascript:window.close()">Close</a>】</div>'
    html = page(f"<h1>{EN_HEADLINE}</h1><p>{EN_PARAGRAPHS[0]}</p>{links_in_story}<p>{EN_PARAGRAPHS[1]}</p>{close_row}")
    left = rows_left(html)
    assert "Tianjin Robots" in left  # after the first paragraph, links to pages: not a widget row
    assert not any("Close" in text for text in left)  # a script control: a toolbar wherever it stands
    assert EN_HEADLINE in left and EN_PARAGRAPHS[1] in left


def test_a_block_with_links_and_real_text_is_not_a_row():
    sentence = '<div>Visitors can <a href="/t">buy tickets online</a> or at <a href="/g">the east gate</a> from Monday.</div>'
    html = page(f"<h1>{EN_HEADLINE}</h1>{sentence}<p>{EN_PARAGRAPHS[0]}</p>")
    assert any(text.startswith("Visitors can buy tickets") for text in rows_left(html))


def test_a_row_holding_the_headline_is_kept():
    html = page(f'<div><h1>Expo</h1><a href="#">Share</a> <a href="#">Print</a></div><p>{EN_PARAGRAPHS[0]}</p>')
    assert any("Expo" in text for text in rows_left(html))


def test_table_layout_toolbar_and_breadcrumb_lines_are_furniture():
    assert is_boilerplate_line("| 页面功能 【我来说两句】【推荐】【字体：大 中 小】【打印】 【关闭】 |  |  |")
    assert is_boilerplate_line("【发表评论】【关闭窗口】")
    assert is_boilerplate_line("[Print] [Email] [Save]")
    assert is_boilerplate_line("| 示例首页 > 示例财经 > 产业新闻 > 正文 |  |")
    assert is_boilerplate_line("Home > World > Asia")
    assert is_boilerplate_line("|  | 您的位置：主页>>新闻中心>>本地新闻 |  |")
    # One bracketed kicker before a headline, a comparison in prose, a data table row: kept.
    assert not is_boilerplate_line("【新春走基层】山村里的新年")
    assert not is_boilerplate_line("Sales rose from 2 > 1 to 3 over the past five years, the report said in its summary.")
    assert not is_boilerplate_line("| 050401 艺术学 |  | 7 |  |")


def test_chinese_related_heads_end_the_text():
    text = "\n".join((*ZH_PARAGRAPHS, "相关推荐", "另一条新闻的标题", "又一条新闻的标题"))
    assert clean_text(text) == "\n".join(ZH_PARAGRAPHS)


def test_a_read_more_box_inside_the_story_drops_only_itself():
    text = "\n".join((EN_PARAGRAPHS[0], "Read more", "Robots take over the night shift", EN_PARAGRAPHS[1], EN_PARAGRAPHS[2]))
    assert clean_text(text) == "\n".join(EN_PARAGRAPHS)
    tail = "\n".join((*EN_PARAGRAPHS, "Read more", "Robots take over the night shift", "Tianjin opens a new hall"))
    assert clean_text(tail) == "\n".join(EN_PARAGRAPHS)


def test_a_sentence_about_an_official_account_is_news_a_plug_is_not():
    news = "今晚，主办方通过官方微博发布消息称：网传的闭幕日期调整信息不实，大会将按原计划举行。"
    assert not is_boilerplate_line(news)
    assert is_boilerplate_line("官方微信：expo_example")


def test_a_noscript_that_holds_the_post_is_read_and_a_notice_is_not():
    post = "<noscript><h1>{0}</h1>{1}</noscript>".format(EN_HEADLINE, paragraphs(EN_PARAGRAPHS))
    html = page("<noscript>Please enable JavaScript.</noscript><div id='app'></div>" + post, title=EN_HEADLINE)
    doc = extract_article(html.encode(), URL)
    assert doc.skip_reason is None
    assert EN_PARAGRAPHS[0] in doc.text and "enable JavaScript" not in doc.text


def test_control_characters_do_not_cost_the_text():
    html = page(f"<h1>{EN_HEADLINE}</h1>" + paragraphs(EN_PARAGRAPHS) + "<p>Source:\x07 organisers\x0b (2024).</p>")
    doc = extract_article(html.encode(), URL)
    assert EN_PARAGRAPHS[0] in doc.text
    assert "\x07" not in doc.text
