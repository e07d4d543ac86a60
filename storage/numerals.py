"""Chinese numerals: one reading for every module that meets them (dedup's title check, event mentions).

Pure and import-free, below everything that uses it: storage's near-duplicate check reads
numbers in titles with it, and the event tagger reads editions (第二十一届) with it.
"""

from __future__ import annotations

ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
             "六": 6, "七": 7, "八": 8, "九": 9}
ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
ZH_NUMERAL_CHARS = "".join(ZH_DIGITS) + "".join(ZH_UNITS)  # for regex character classes


def chinese_number(text: str) -> int | None:
    """Value of a Chinese numeral, or None if text is not one.

    Positional when it has a unit (二十一 = 21, 一百零五 = 105, 十 = 10); digit by digit
    when it has none (二〇二四 = 2024, 五 = 5).
    """
    if not text or any(ch not in ZH_DIGITS and ch not in ZH_UNITS for ch in text):
        return None
    if not any(ch in ZH_UNITS for ch in text):
        value = 0
        for ch in text:
            value = value * 10 + ZH_DIGITS[ch]
        return value
    total = current = 0
    for ch in text:
        if ch in ZH_UNITS:
            total += (current or 1) * ZH_UNITS[ch]
            current = 0
        else:
            current = ZH_DIGITS[ch]
    return total + current
