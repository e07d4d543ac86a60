"""Encoding decisions on real legacy-encoded bytes: BOM, meta, HTTP header, detection."""

from __future__ import annotations

import codecs

import pytest
from html_pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, ZH_TRADITIONAL_PARAGRAPHS, page, paragraphs

from crawler.extract.encoding import decode_html, normalize_charset, sniff_meta_charset

ZH_TITLE = "第五届世界智能大会筹备工作推进会召开"
ZH_TRADITIONAL_TITLE = "第五屆世界智能大會籌備工作推進會召開"


def zh_page(charset_meta: str | None = None) -> str:
    return page(paragraphs(ZH_PARAGRAPHS), title=ZH_TITLE, charset_meta=charset_meta)


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ("x-gbk", "gb18030"),
        ("gb18030", "gb18030"),
        ("big5", "big5hkscs"),
        ("Big5-HKSCS", "big5hkscs"),
        ("ISO-8859-1", "cp1252"),
        ("latin_1", "cp1252"),
        ("us-ascii", "cp1252"),
        ("UTF8", "utf-8"),
        ('"utf-8"', "utf-8"),
        ("shift_jis", "cp932"),
        ("no-such-charset", None),
        (None, None),
    ],
)
def test_labels_map_to_the_superset_browsers_use(label, codec):
    assert normalize_charset(label) == codec


def test_gbk_page_with_meta_beats_a_lying_utf8_header():
    raw = zh_page("gbk").encode("gbk")
    decoded = decode_html(raw, http_charset="utf-8")
    assert decoded.encoding == "gb18030"
    assert decoded.source == "meta"
    assert ZH_TITLE in decoded.text and ZH_PARAGRAPHS[1] in decoded.text
    assert any("utf-8" in warning for warning in decoded.warnings)


@pytest.mark.parametrize("header", ["iso-8859-1", "utf-8", "windows-1252"])
def test_gbk_page_without_meta_under_a_wrong_header_is_detected(header):
    raw = zh_page().encode("gbk")
    decoded = decode_html(raw, http_charset=header)
    assert decoded.encoding == "gb18030"
    assert decoded.source == "detected"
    assert ZH_PARAGRAPHS[0] in decoded.text


def test_gbk_page_with_no_charset_anywhere_is_detected():
    decoded = decode_html(zh_page().encode("gbk"))
    assert (decoded.encoding, decoded.source) == ("gb18030", "detected")
    assert ZH_PARAGRAPHS[2] in decoded.text


def test_gb2312_header_on_gbk_only_characters_decodes_with_the_superset():
    # 镕 and 喆 are outside GB2312 but inside GBK: pages labelled gb2312 carry them all the time.
    text = page(paragraphs((ZH_PARAGRAPHS[0] + "朱镕基、王喆出席。",)), title=ZH_TITLE)
    decoded = decode_html(text.encode("gbk"), http_charset="gb2312")
    assert (decoded.encoding, decoded.source) == ("gb18030", "http")
    assert "朱镕基、王喆出席。" in decoded.text


def test_big5_page_with_and_without_declaration():
    text = page(paragraphs(ZH_TRADITIONAL_PARAGRAPHS), title=ZH_TRADITIONAL_TITLE)
    raw = text.encode("big5")
    for header in (None, "big5", "iso-8859-1"):
        decoded = decode_html(raw, http_charset=header)
        assert decoded.encoding == "big5hkscs", header
        assert ZH_TRADITIONAL_PARAGRAPHS[1] in decoded.text


def test_big5_meta_covers_hkscs_characters():
    # 㗎 (a Cantonese particle) exists in Big5-HKSCS only.
    text = page(paragraphs((ZH_TRADITIONAL_PARAGRAPHS[0] + "好正㗎。",)), charset_meta="big5")
    decoded = decode_html(text.encode("big5hkscs"))
    assert (decoded.encoding, decoded.source) == ("big5hkscs", "meta")
    assert "好正㗎。" in decoded.text


def test_http_equiv_content_type_meta_is_read():
    head = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
    raw = page(paragraphs(ZH_PARAGRAPHS), head=head).encode("gb2312")
    assert sniff_meta_charset(raw) == "gb2312"
    decoded = decode_html(raw, http_charset="iso-8859-1")
    assert (decoded.encoding, decoded.source) == ("gb18030", "meta")


def test_meta_after_a_long_head_is_still_found():
    filler = "<!-- " + "x" * 3000 + " -->" + "<script>var a = 1;</script>" * 40
    raw = (f"<html><head>{filler}<meta charset='gbk'><title>{ZH_TITLE}</title></head><body>"
           f"{paragraphs(ZH_PARAGRAPHS)}</body></html>").encode("gbk")  # fmt: skip
    assert sniff_meta_charset(raw) == "gbk"


def test_charset_mentioned_in_the_body_is_not_a_declaration():
    raw = page(paragraphs(ZH_PARAGRAPHS) + "<p>&lt;meta charset=big5&gt;</p><meta charset='big5'>").encode("gbk")
    assert sniff_meta_charset(raw) is None


@pytest.mark.parametrize(("bom", "codec"), [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16")])
def test_bom_wins_over_meta_and_header(bom, codec):
    text = zh_page("gbk")
    raw = bom + text.encode("utf-16-le" if codec == "utf-16" else "utf-8")
    decoded = decode_html(raw, http_charset="gbk")
    assert (decoded.encoding, decoded.source) == (codec, "bom")
    assert ZH_PARAGRAPHS[0] in decoded.text
    assert not decoded.text.startswith("\ufeff")


def test_valid_utf8_beats_a_legacy_declaration():
    raw = zh_page("gb2312").encode("utf-8")
    decoded = decode_html(raw, http_charset="gbk")
    assert decoded.encoding == "utf-8"
    assert ZH_PARAGRAPHS[0] in decoded.text
    assert decoded.warnings  # the mismatch is reported


def test_western_page_without_charset_falls_back_to_cp1252():
    text = page(paragraphs((EN_PARAGRAPHS[0] + " The café served crème brûlée — “naïvely” priced.",)))
    decoded = decode_html(text.encode("cp1252"))
    assert decoded.encoding == "cp1252"
    assert "crème brûlée — “naïvely”" in decoded.text


def test_latin1_header_on_a_western_page_is_kept():
    text = page(paragraphs((EN_PARAGRAPHS[1] + " Entrée: 5 €.",)))
    decoded = decode_html(text.encode("cp1252"), http_charset="ISO-8859-1")
    assert (decoded.encoding, decoded.source) == ("cp1252", "http")
    assert "Entrée: 5 €." in decoded.text


def test_pure_ascii_needs_no_decision():
    decoded = decode_html(page(paragraphs(EN_PARAGRAPHS)).encode("ascii"), http_charset="big5")
    assert decoded.encoding == "ascii"
    assert EN_PARAGRAPHS[2] in decoded.text


def test_unknown_declared_charset_is_reported_and_ignored():
    decoded = decode_html(zh_page("x-made-up").encode("utf-8"))
    assert decoded.encoding == "utf-8"
    assert any("x-made-up" in warning for warning in decoded.warnings)


def test_a_few_broken_bytes_do_not_discard_a_true_declaration():
    raw = zh_page("gbk").encode("gbk")
    damaged = raw.replace("梅江".encode("gbk"), b"\xff\xff", 1)  # one invalid pair in a long page
    decoded = decode_html(damaged, http_charset="gbk")
    assert (decoded.encoding, decoded.source) == ("gb18030", "meta")
    assert ZH_PARAGRAPHS[0] in decoded.text
