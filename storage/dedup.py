"""Duplicate detection over plain text: exact content hashes and MinHash near-duplicates.

Pure functions (no Scrapy, no SQL). The store keeps the signature and its LSH band
hashes (storage/duplicates.py); the choices and thresholds are explained in docs/dedup.md.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import numpy as np

from storage.numerals import chinese_number

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)

# Han, kana and hangul: scripts written without spaces, shingled by character.
_CJK_RANGES = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\uf900-\ufaff"  # CJK compatibility ideographs
)
_TOKEN = re.compile(rf"[{_CJK_RANGES}]|[^\W_{_CJK_RANGES}]+", re.UNICODE)
_CJK_CHAR = re.compile(rf"[{_CJK_RANGES}]")

WORD_SHINGLE = 4  # words per shingle: long enough that event names alone ("world intelligence expo")
#                   are not shared evidence, short enough that one edited word spoils only 4 shingles
CJK_SHINGLE = 5  # characters per shingle: about 2-3 Chinese words, the same span as WORD_SHINGLE
CJK_DOMINANT = 0.3  # share of CJK tokens above which a text is shingled by character

NUM_PERM = 160  # MinHash permutations: standard error of a Jaccard estimate <= 0.04
BANDS = 40  # LSH bands of ROWS rows; BANDS * ROWS == NUM_PERM
ROWS = 4  # a pair becomes a candidate with probability 1-(1-J^4)^40: 0.92 at J=0.5, 0.994 at J=0.6,
#           so copies still carrying some site furniture are found; 0.06 at J=0.2
MINHASH_SCHEME = "affine32"  # datasketch's permutation scheme, pinned: signatures are persisted
MINHASH_SEED = 1  # permutation seed, pinned for the same reason

DEFAULT_THRESHOLD = 0.6  # Jaccard similarity from which two texts are one story: syndicated copies with
#                          a dateline, an editor's note or a footer score 0.8-0.95, one paragraph of three
#                          cut about 0.65; a site's two daily briefs on one template about 0.45 (replica)

_SIGNATURE_MAGIC = b"MHa1"  # format tag of a stored signature: affine32 scheme, layout version 1
_SIGNATURE_HEADER = struct.Struct("<4sHI")  # magic, number of permutations, number of shingles


def normalise_text(text: str) -> str:
    """Text reduced to what makes two copies the same story: NFKC, case, punctuation, spacing."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", text).strip()


def content_hash(text: str) -> str:
    """SHA-256 of the normalised text: equal for copies that differ only in spacing or punctuation."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def tokens(text: str) -> list[str]:
    """Words of the normalised text, with each CJK character a token of its own."""
    return _TOKEN.findall(normalise_text(text))


def is_cjk_text(toks: list[str]) -> bool:
    """True when enough tokens are CJK characters that the text is shingled by character."""
    if not toks:
        return False
    cjk = sum(1 for t in toks if len(t) == 1 and _CJK_CHAR.match(t))
    return cjk / len(toks) >= CJK_DOMINANT


def shingles(text: str) -> frozenset[str]:
    """The set of overlapping token n-grams of a text: word n-grams, or character n-grams for CJK.

    A text shorter than one shingle gives a single shingle of all its tokens (or none if empty).
    """
    toks = tokens(text)
    if not toks:
        return frozenset()
    cjk = is_cjk_text(toks)
    size = CJK_SHINGLE if cjk else WORD_SHINGLE
    # CJK tokens join without a space, so mixed text ("5G网络") keeps its reading.
    joiner = "" if cjk else " "
    if len(toks) <= size:
        return frozenset({joiner.join(toks)})
    return frozenset(joiner.join(toks[i:i + size]) for i in range(len(toks) - size + 1))


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """Exact Jaccard similarity of two shingle sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass(frozen=True)
class Signature:
    """A MinHash signature of a text's shingles, with the number of shingles it summarises."""

    hashvalues: np.ndarray  # uint32[NUM_PERM]
    shingle_count: int

    def to_bytes(self) -> bytes:
        """The stored form (articles.minhash): a small header, then little-endian uint32 values."""
        header = _SIGNATURE_HEADER.pack(_SIGNATURE_MAGIC, len(self.hashvalues), self.shingle_count)
        return header + self.hashvalues.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Signature:
        """Read a stored signature; a blob of another format is a clear error, not a wrong answer."""
        size = _SIGNATURE_HEADER.size
        if len(blob) < size:
            raise ValueError(f"minhash signature of {len(blob)} bytes is too short for its header")
        magic, num_perm, count = _SIGNATURE_HEADER.unpack_from(blob)
        if magic != _SIGNATURE_MAGIC or len(blob) != size + 4 * num_perm:
            raise ValueError(f"minhash signature has format {magic!r} with {len(blob)} bytes; "
                             f"expected {_SIGNATURE_MAGIC!r} with {size + 4 * num_perm} bytes")
        return cls(np.frombuffer(blob, dtype="<u4", offset=size).astype(np.uint32), count)


def signature(shingle_set: Iterable[str], num_perm: int = NUM_PERM) -> Signature:
    """MinHash signature of a shingle set (datasketch, scheme and seed pinned)."""
    from datasketch import MinHash  # imported here: datasketch pulls in scipy (~1 s per process)

    items = [s.encode("utf-8") for s in shingle_set]
    mh = MinHash(num_perm=num_perm, seed=MINHASH_SEED, scheme=MINHASH_SCHEME, permutations=_permutations(num_perm))
    mh.update_batch(items)
    return Signature(mh.hashvalues.astype(np.uint32), len(items))


@lru_cache(maxsize=4)
def _permutations(num_perm: int) -> np.ndarray:
    """The pinned scheme's permutation parameters, drawn once per process (datasketch draws them per MinHash)."""
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=MINHASH_SEED, scheme=MINHASH_SCHEME).permutations


def text_signature(text: str) -> Signature:
    """Signature of a text's shingles."""
    return signature(shingles(text))


def estimate_jaccard(a: Signature, b: Signature) -> float:
    """Jaccard similarity estimated from two signatures (fraction of equal MinHash values)."""
    if len(a.hashvalues) != len(b.hashvalues):
        raise ValueError(f"signatures of {len(a.hashvalues)} and {len(b.hashvalues)} permutations "
                         "cannot be compared")
    if a.shingle_count == 0 or b.shingle_count == 0:
        return 1.0 if a.shingle_count == b.shingle_count else 0.0
    return float(np.count_nonzero(a.hashvalues == b.hashvalues)) / len(a.hashvalues)


def band_hashes(sig: Signature, bands: int = BANDS, rows: int = ROWS) -> list[int]:
    """One signed 64-bit hash per LSH band (fits BIGINT): texts sharing any band are candidates.

    An empty text has no bands: it is nobody's near-duplicate.
    """
    if sig.shingle_count == 0:
        return []
    if bands * rows != len(sig.hashvalues):
        raise ValueError(f"{bands} bands x {rows} rows does not cover {len(sig.hashvalues)} permutations")
    values = sig.hashvalues.astype("<u4")
    out = []
    for band in range(bands):
        digest = hashlib.blake2b(values[band * rows:(band + 1) * rows].tobytes(), digest_size=8).digest()
        out.append(int.from_bytes(digest, "little", signed=True))
    return out


# Numbers in titles: two stories on one template usually differ in a date, a year or an edition.
_DIGITS = re.compile(r"\d+")
_ORDINAL_WORDS = {
    word: n for n, word in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
        "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split(),
        start=1)
}
_ORDINAL_WORD = re.compile(r"\b(" + "|".join(_ORDINAL_WORDS) + r")\b")
_ZH_NUMBER_CONTEXT = re.compile("第([零〇一二两三四五六七八九十百]+)|([零〇一二两三四五六七八九十百]+)(?=[届期次号月日年])")


def title_numbers(title: str | None) -> frozenset[int]:
    """The numbers a title states: digits, English ordinal words, Chinese numerals (第五届, 十月)."""
    if not title:
        return frozenset()
    text = unicodedata.normalize("NFKC", title).casefold()
    found = {int(d) for d in _DIGITS.findall(text)}
    found.update(_ORDINAL_WORDS[w] for w in _ORDINAL_WORD.findall(text))
    for match in _ZH_NUMBER_CONTEXT.finditer(text):
        found.add(chinese_number(match.group(1) or match.group(2)))
    return frozenset(found)


def titles_conflict(title_a: str | None, title_b: str | None) -> bool:
    """True when the titles state numbers that cannot belong to one story.

    A copy may add a date to its title or drop the edition, so one title's numbers
    being a subset of the other's is no conflict; 2023 against 2024, the 5th against
    the 6th, or brief No. 12 against No. 13 is.
    """
    a, b = title_numbers(title_a), title_numbers(title_b)
    return not (a <= b or b <= a)
