"""Language detection: the CJK-share rule for Chinese / Japanese / Korean and mixed pages, py3langid otherwise."""

from __future__ import annotations

import pytest
from html_pages import EN_PARAGRAPHS, ZH_PARAGRAPHS, ZH_TRADITIONAL_PARAGRAPHS

from crawler.extract.language import MIXED_CJK_SHARE, detect_language, normalize_language, text_words

EN = " ".join(EN_PARAGRAPHS)
ZH = "".join(ZH_PARAGRAPHS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EN, "en"),
        (ZH, "zh"),
        ("".join(ZH_TRADITIONAL_PARAGRAPHS), "zh"),
        ("世界インテリジェンス博覧会は天津で開催され、多くの企業がロボットや自動運転の技術を展示しました。", "ja"),
        ("세계지능박람회가 톈진에서 열렸으며 많은 기업이 로봇과 자율주행 기술을 선보였습니다.", "ko"),
        ("Die Messe in Tianjin zeigt in diesem Jahr Roboter, fahrerlose Busse und neue Software für Fabriken.", "de"),
        ("La foire de Tianjin présente cette année des robots, des navettes sans chauffeur et des logiciels.", "fr"),
    ],
)
def test_languages(text, expected):
    assert detect_language(text) == expected


def test_chinese_page_with_english_names_and_acronyms_is_chinese():
    text = ZH + " WIC 2021 World Intelligence Congress, Tianjin Meijiang Convention Center, Wang Weidong"
    assert detect_language(text) == "zh"


def test_english_page_quoting_chinese_names_is_english():
    assert detect_language(EN + " (天津梅江会展中心, 乌镇)") == "en"


def test_the_rule_is_the_cjk_word_share():
    # 40 Chinese characters = 20 words against 20 English words sits exactly on the 50 % line.
    english = " ".join(["expo"] * 20)
    assert MIXED_CJK_SHARE == 0.5
    assert text_words("会" * 40) == text_words(english)
    assert detect_language("会" * 40 + " " + english) == "zh"
    assert detect_language("会" * 38 + " " + english) != "zh"


def test_too_little_text_falls_back_to_the_declared_language():
    assert detect_language("Expo", declared="en-GB") == "en"
    assert detect_language("大会", declared="zh-CN") == "zh"
    assert detect_language("", declared=None) is None


@pytest.mark.parametrize(
    ("code", "expected"),
    [("zh-CN", "zh"), ("en_US", "en"), ("EN", "en"), ("zh-Hans-CN", "zh"), ("x", None), ("", None), (None, None)],
)
def test_normalize_language(code, expected):
    assert normalize_language(code) == expected


def test_the_compacted_model_scores_exactly_as_py3langid_does():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from crawler.extract.language import _identifier

    stock = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    for text in (EN, ZH, "Die Messe in Tianjin zeigt Roboter.", "La foire présente des robots.", "x"):
        assert _identifier().classify(text) == stock.classify(text)
