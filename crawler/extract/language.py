"""Language of an article's text: a script rule for Chinese / Japanese / Korean, py3langid for the rest.

Rule for mixed pages: text is measured in words, a CJK character counting as
half a word (CJK_CHARS_PER_WORD). When CJK words make up at least
MIXED_CJK_SHARE of all words the page is CJK: "ja" if it has kana, "ko" if
Hangul dominates, else "zh" (simplified and traditional alike). So a Chinese
release quoting "WIC 2021" and English names is "zh", an English report
giving "乌镇" in brackets is "en". Other texts go to py3langid; a text too short
to judge falls back to the language the page or the source declares.
"""

from __future__ import annotations

import re
from array import array
from functools import lru_cache

# A Chinese word is 1–2 characters (1.5 on average in news text); counting two
# characters as one word puts a Chinese and an English page of the same
# content on the same scale.
CJK_CHARS_PER_WORD = 2.0

# CJK share of words from which a page counts as Chinese/Japanese/Korean.
MIXED_CJK_SHARE = 0.5

# Below this many words no detector is reliable; use the declared language.
MIN_DETECT_WORDS = 8

# The CJK share is measured on this many characters: a long article's
# worth, so a Chinese page opening with an English quote is still Chinese.
SCRIPT_SAMPLE_CHARS = 5000

# py3langid reads this many characters at most: five or six sentences are
# plenty for py3langid, whose cost is linear in the sample (~2 ms per 1000
# characters, the largest single cost of an extraction before this cap).
DETECT_SAMPLE_CHARS = 600

# py3langid's normalised probability under which a declared language is kept.
MIN_LANGID_CONFIDENCE = 0.6

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")
_CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff"
_CJK = re.compile(f"[{_CJK_RANGES}]")  # Han, kana or Hangul
_WORD = re.compile(f"[^\\W\\d_{_CJK_RANGES}]+")

# A "Kana share" above which a CJK page is Japanese: Japanese prose is 30–40 %
# kana, Chinese has none, but a Chinese page may quote a Japanese name.
KANA_MIN_SHARE = 0.1


def script_counts(text: str) -> tuple[int, int, int, int]:
    """Han characters, kana, Hangul syllables and other-script words in text."""
    if not _CJK.search(text):  # most non-CJK pages: one scan instead of three
        return 0, 0, 0, len(_WORD.findall(text))
    return (
        len(_HAN.findall(text)),
        len(_KANA.findall(text)),
        len(_HANGUL.findall(text)),
        len(_WORD.findall(text)),
    )


def text_words(text: str) -> float:
    """Size of a text in words, CJK characters counted as 1/CJK_CHARS_PER_WORD of a word."""
    cjk_chars = len(text) - len(_CJK.sub("", text))
    return len(_WORD.findall(text)) + cjk_chars / CJK_CHARS_PER_WORD


def normalize_language(code: str | None) -> str | None:
    """Primary subtag of a language code, lowercased ("zh-CN" → "zh", "en_US" → "en")."""
    if not code:
        return None
    primary = re.split(r"[-_\s]", code.strip().lower(), maxsplit=1)[0]
    return primary if primary.isalpha() and 2 <= len(primary) <= 3 else None


def detect_language(text: str, declared: str | None = None) -> str | None:
    """ISO 639-1 code of the text's language; the declared one when the text is too short to tell."""
    declared = normalize_language(declared)
    han, kana, hangul, other_words = script_counts(text[:SCRIPT_SAMPLE_CHARS])
    cjk_words = (han + kana + hangul) / CJK_CHARS_PER_WORD
    if cjk_words + other_words < MIN_DETECT_WORDS:
        return declared
    if cjk_words / (cjk_words + other_words) >= MIXED_CJK_SHARE:
        if hangul > han + kana:
            return "ko"
        return "ja" if kana and kana >= KANA_MIN_SHARE * (han + kana) else "zh"
    code, probability = _identifier().classify(text[:DETECT_SAMPLE_CHARS])
    if declared and code != declared and probability < MIN_LANGID_CONFIDENCE:
        return declared
    return code


@lru_cache(maxsize=1)
def _identifier():  # -> py3langid LanguageIdentifier; loads the model once per process
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return _compact(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))


def _compact(identifier):  # -> the same identifier, laid out for speed; every score stays bit-identical
    import numpy as np

    # The weights ship as float16, which numpy multiplies without BLAS; float32 is an exact widening.
    identifier.nb_ptc = np.asarray(identifier.nb_ptc, dtype=np.float32)
    # The byte walk reads two per-state tables: as Python lists of int objects they
    # spread over ~8 MB that trafilatura evicts from the cache between pages; as
    # flat arrays they take 1.6 MB (a quarter less time in the walk).
    if isinstance(getattr(identifier, "_rowbase", None), list):
        identifier._rowbase = array("q", identifier._rowbase)
    if isinstance(identifier.tk_output, list):
        identifier.tk_output = array("q", identifier.tk_output)
    return identifier
