"""One reading of Chinese numerals for dedup's title check and the event tagger's editions."""

from __future__ import annotations

import pytest

from crawler.events.mentions import parse_ordinal
from storage.dedup import title_numbers
from storage.numerals import chinese_number


@pytest.mark.parametrize(("numeral", "value"), [
    ("五", 5), ("十", 10), ("十五", 15), ("二十", 20), ("二十一", 21), ("两百", 200),
    ("一百零五", 105), ("一百一十", 110), ("三千零二十", 3020),  # positional
    ("二〇二四", 2024), ("二零一七", 2017), ("一九九九", 1999), ("〇", 0),  # digit by digit
])
def test_positional_and_digit_by_digit_numerals(numeral, value):
    assert chinese_number(numeral) == value


@pytest.mark.parametrize("text", ["", "二十a", "第五", "2024", "十 五"])
def test_anything_else_is_not_a_numeral(text):
    assert chinese_number(text) is None


@pytest.mark.parametrize(("numeral", "value"), [("二〇二四", 2024), ("二十一", 21), ("一百零五", 105)])
def test_dedup_and_event_mentions_read_a_numeral_alike(numeral, value):
    assert parse_ordinal(numeral) == value
    assert title_numbers(f"第{numeral}届世界智能大会") == {value}


def test_zero_is_no_edition():
    assert parse_ordinal("零") is None
