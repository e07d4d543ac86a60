"""Reading around a matched event name: attached years and ordinals, and line roles.

Pure text helpers for the tagger: what edition a name or an edition noun names
("Fifth World Intelligence Congress", "WIC 2021", "第五届世界智能大会",
"2024世界智能产业博览会", "this year's SCE", "next year's edition"), and whether a
line is prose or a heading / caption / footer / promo line.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from storage.numerals import chinese_number

# How far before / after a name to look for its year or ordinal; "edition of the "
# plus "2021年第五届" fit in 40 characters, a parenthesised acronym in 24.
PRE_WINDOW = 40
POST_WINDOW = 24

# Lines at least this wide (CJK characters count double) that end like a sentence
# are prose; shorter or unpunctuated lines are headings, captions, menus, footers.
MIN_SENTENCE_WIDTH = 30
# A line this wide is prose even without end punctuation (extractors drop some).
LONG_LINE_WIDTH = 120

EN_ORDINALS = {
    "first": 1, "inaugural": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11,
    "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
    "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
}
_EN_ORD = r"(?:" + "|".join(EN_ORDINALS) + r"|\d{1,3}(?:st|nd|rd|th))"
_ZH_NUM = r"[\d零〇一二两三四五六七八九十百]+"
_YEAR = r"(?:19|20)\d{2}"
_SP = r"[ \t\u3000\xa0]"  # a gap inside one line
RELATIVE_YEARS = {"this": 0, "next": 1, "last": -1, "今年": 0, "明年": 1, "去年": -1}

# Tokens that may stand right before a name, peeled off from the end one at a time.
_PRE_TOKENS = (
    ("year", re.compile(rf"(?<!\d)(?P<v>{_YEAR})(?:{_SP}*年(?:的)?|['’]s)?{_SP}*\Z")),
    ("ordinal", re.compile(
        rf"(?i)(?<![A-Za-z0-9])(?P<v>{_EN_ORD}){_SP}+"
        rf"(?:(?:annual|(?:edition|session){_SP}+of(?:{_SP}+the)?){_SP}+)?\Z")),
    ("ordinal", re.compile(rf"(?:第(?P<v>{_ZH_NUM})|(?P<first>首))届{_SP}*(?:的)?\Z")),
    ("relative", re.compile(
        rf"(?i)(?<![A-Za-z])(?P<v>this|next|last){_SP}+year['’]?s{_SP}+"
        rf"(?:(?:edition|session){_SP}+of(?:{_SP}+the)?{_SP}+)?\Z")),
    ("relative", re.compile(r"(?P<v>今年|明年|去年)(?:的)?\Z")),
    ("article", re.compile(rf"(?i)(?<![A-Za-z])the{_SP}+\Z")),
)
_PAREN_AFTER = re.compile(rf"{_SP}*[(（][^()（）\n]{{1,20}}[)）]")
_YEAR_AFTER = re.compile(rf"{_SP}*(?:(?i:in){_SP}+|[-–—]{_SP}*)?(?P<v>{_YEAR})(?!\d)")

_SENTENCE_END = tuple(".!?。！？…\"”'’)）」』")
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
# Lines that are site furniture whatever their length.
_BOILERPLATE_LINE = re.compile(
    r"(?i)^\W*(?:(?:source|editor|related|tags?|photo|share|keywords?)\s*[:：]"
    r"|copyright|©|all rights reserved"
    r"|(?:来源|责任编辑|编辑|相关阅读|相关新闻|标签|关键词|分享到)\s*[:：]|版权所有)"
)


@dataclass(frozen=True)
class Attachment:
    """What stands right before / after a name: its year, ordinal or relative year."""

    start: int  # start of the attached words (== name start if none before)
    end: int  # end of the attached words (== name end if none after)
    year: int | None = None
    ordinal: int | None = None
    relative: int | None = None  # years after publication: this 0, next 1, last -1
    consumed: int = 0  # text up to here belongs to this mention ("(WIC)" after a name)


def read_attachment(text: str, start: int, end: int) -> Attachment:
    """The year / ordinal / relative year written around the name at text[start:end]."""
    found: dict[str, int] = {}
    prefix_start = max(0, start - PRE_WINDOW)
    prefix = text[prefix_start:start]
    while True:
        kind, match = _next_pre_token(prefix, found)
        if match is None or kind == "article":
            break  # nothing more, or "the" opens the phrase: nothing before it belongs
        if kind == "year":
            found[kind] = int(match["v"])
        elif kind == "ordinal":
            found[kind] = 1 if match.groupdict().get("first") else parse_ordinal(match["v"])
        else:
            found[kind] = RELATIVE_YEARS[match["v"].lower()]
        prefix = prefix[: match.start()]
    begin = prefix_start + len(prefix) if found else start
    finish = consumed = end
    paren = _PAREN_AFTER.match(text, end, end + POST_WINDOW)
    if paren:
        finish = consumed = paren.end()
    after = _YEAR_AFTER.match(text, finish, finish + POST_WINDOW)
    if after and "year" not in found:
        found["year"] = int(after["v"])
        finish = after.end()
    return Attachment(
        begin, finish, found.get("year"), found.get("ordinal"), found.get("relative"), consumed
    )


def _next_pre_token(prefix: str, found: dict[str, int]) -> tuple[str, re.Match[str] | None]:
    """The first token kind not yet found that ends the prefix."""
    for kind, pattern in _PRE_TOKENS:
        if kind not in found:
            match = pattern.search(prefix)
            if match is not None:
                return kind, match
    return "", None


def parse_ordinal(token: str) -> int | None:
    """1 for "first"/"1st"/"一"/"1"; 21 for "二十一"; None if not a number."""
    token = token.lower()
    if token in EN_ORDINALS:
        return EN_ORDINALS[token]
    digits = re.match(r"\d+", token)
    if digits:
        return int(digits.group())
    return chinese_number(token) or None  # 零 is no ordinal


class Lines:
    """A text's lines, with each line's heading / footer / promo verdict computed once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._labels: dict[int, bool] = {}

    def bounds(self, pos: int) -> tuple[int, int]:
        """Start and end offsets of the line holding text[pos]."""
        index = bisect_right(self.starts, pos) - 1
        end = self.starts[index + 1] - 1 if index + 1 < len(self.starts) else len(self.text)
        return self.starts[index], end

    def is_label(self, pos: int) -> bool:
        """Whether text[pos] sits on a heading / caption / footer / promo line."""
        start, end = self.bounds(pos)
        if start not in self._labels:
            self._labels[start] = is_label_line(self.text[start:end])
        return self._labels[start]

    def lead(self) -> tuple[int, int]:
        """Offsets of the first prose line, (0, 0) if there is none."""
        for start in self.starts:
            end = self.bounds(start)[1]
            if self.text[start:end].strip() and not self.is_label(start):
                return start, end
        return 0, 0


def is_label_line(line: str) -> bool:
    """True for headings, captions, menus, footers and promo lines; False for prose."""
    line = line.strip()
    if _BOILERPLATE_LINE.match(line):
        return True
    if len(line) >= LONG_LINE_WIDTH:
        return False
    width = len(line) + len(_CJK.findall(line))
    if width >= LONG_LINE_WIDTH:
        return False
    return width < MIN_SENTENCE_WIDTH or not line.endswith(_SENTENCE_END)
