"""The extraction process pool: same results as in-process, a time cap that kills a stuck worker."""

from __future__ import annotations

import pytest
from html_pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, page, paragraphs

from crawler.extract.extraction import ExtractionHints, extract_article
from crawler.extraction_pool import ExtractionPool
from crawler.page_work import PageTask
from storage.dedup import content_hash, text_signature
from storage.rawhtml import compress_html

# A real selector whose cost grows with the square of the page: it compares,
# for every paragraph, how many paragraphs come before and after it. On
# SLOW_PARAGRAPHS paragraphs it runs for several seconds, far past the cap.
QUADRATIC_SELECTOR = "//p[count(preceding::p) = count(following::p) + 1]"
SLOW_PARAGRAPHS = 20_000
TEST_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def pool():
    with ExtractionPool(workers=2, timeout=TEST_TIMEOUT_S) as running:
        yield running


def article_pages() -> list[tuple[bytes, str, str | None, ExtractionHints]]:
    en = page("<h1>Expo opens</h1><p>2024-06-21 09:30</p>" + paragraphs(EN_PARAGRAPHS), title="Expo opens - News")
    zh = page("<h1>大会召开</h1><p>2021年3月19日 10:20</p>" + paragraphs(ZH_PARAGRAPHS), title="大会召开_新闻")
    return [
        (en.encode("utf-8"), "http://a.example/1.html", "utf-8", ExtractionHints(timezone="Asia/Shanghai")),
        (zh.encode("gbk"), "http://b.example/2.html", "iso-8859-1", ExtractionHints(timezone="Asia/Shanghai")),
    ]


def test_pool_results_equal_in_process_extraction(pool):
    futures = [(pool.submit(html, url, charset, hints), (html, url, charset, hints)) for html, url, charset, hints in article_pages()]
    for future, (html, url, charset, hints) in futures:
        expected = extract_article(html, url, http_charset=charset, hints=hints)
        assert future.result(timeout=60).to_json_dict() == expected.to_json_dict()


def test_slow_document_times_out_and_the_pool_keeps_working(pool):
    slow_html = page("<p>row</p>" * SLOW_PARAGRAPHS).encode()
    slow = pool.submit(slow_html, "http://slow.example/x.html", None, ExtractionHints(title_selector=QUADRATIC_SELECTOR))
    html, url, charset, hints = article_pages()[0]
    alongside = pool.submit(html, url, charset, hints)

    timed_out = slow.result(timeout=60)
    assert timed_out.skip_reason == "timeout"
    assert timed_out.url == "http://slow.example/x.html"
    assert timed_out.text == ""
    assert alongside.result(timeout=60).skip_reason is None

    after = pool.submit(html, url, charset, hints).result(timeout=60)
    assert after.title == "Expo opens"
    assert after.skip_reason is None


def test_a_page_task_comes_back_extracted_tagged_and_fingerprinted(pool):
    html, url, charset, hints = article_pages()[0]
    done = pool.submit_page(PageTask(html, url, http_charset=charset, hints=hints)).result(timeout=60)
    doc = done.article
    assert doc.to_json_dict() == extract_article(html, url, http_charset=charset, hints=hints).to_json_dict()
    assert [(t.event, t.role) for t in done.tags] == [("world-intelligence-expo", "primary")]
    assert done.content_hash == content_hash(doc.text)
    assert done.minhash == text_signature(doc.text).to_bytes()
    assert done.html_zlib == compress_html(html)


def test_a_slow_page_task_times_out_as_a_skipped_page(pool):
    slow_html = page("<p>row</p>" * SLOW_PARAGRAPHS).encode()
    task = PageTask(slow_html, "http://slow.example/y.html", hints=ExtractionHints(title_selector=QUADRATIC_SELECTOR))
    done = pool.submit_page(task).result(timeout=60)
    assert done.article.skip_reason == "timeout" and done.article.url == "http://slow.example/y.html"
    assert (done.tags, done.content_hash, done.minhash, done.html_zlib) == ([], None, None, None)


def test_bad_hints_raise_through_the_future_with_the_url(pool):
    html, url, charset, _ = article_pages()[0]
    future = pool.submit(html, url, charset, ExtractionHints(timezone="Nowhere/Town"))
    with pytest.raises(ValueError, match=r"a\.example.*Nowhere/Town"):
        future.result(timeout=60)


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="timeout"):
        ExtractionPool(workers=1, timeout=0)
