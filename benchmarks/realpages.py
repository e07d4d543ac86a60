"""Real pages with answers (../shared/realpages): ours vs plain trafilatura vs htmldate, per folder.

Each folder has a manifest.jsonl (one page a line: html path, url, title,
text, with / without snippets, date). Every page is run through

  ours         extract_article(bytes, url) with default hints, as `expowatch extract PAGE --url URL` does
  trafilatura  trafilatura.extract(bytes, url=url, with_metadata=True) (text with comments, title, date)
  htmldate     htmldate.find_date(bytes, url=url, original_date=True) (date only)

and scored with the corpus's own conventions:

  text   bag-of-tokens precision and recall per page (NFKC, lower case, runs of \\w,
         each CJK character one token), averaged over pages, F1 from the averaged P
         and R. Pages with no reference text (trafilatura_eval) are scored on their
         snippets: recall = share of `with` snippets found, precision = found `with`
         / (found `with` + found `without`) (trafilatura's own evaluation).
  date   right when the day, in the page's own local time or in UTC, equals `date`.
  title  exact after whitespace normalisation and case folding.

Pages whose `text_quality` starts with "silver" are scored apart.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import htmldate
import trafilatura

from crawler.extract.extraction import extract_article

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+")
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
EXTRACTORS = ("ours", "trafilatura", "htmldate")


@dataclass(frozen=True)
class RealPage:
    """One page of the corpus and what a careful reader says it holds."""

    folder: str
    id: str
    body: bytes
    url: str | None
    title: str | None
    text: str | None
    with_snippets: tuple[str, ...]
    without_snippets: tuple[str, ...]
    day: date | None
    silver: bool


@dataclass(frozen=True)
class Outcome:
    """What one extractor made of one page: text, title, and the candidate days of its date."""

    text: str | None  # None: this extractor does not give text
    title: str | None
    days: tuple[date, ...]  # the date's day in the page's local time and in UTC
    failed: bool
    seconds: float
    date_source: str | None = None


@dataclass
class Tally:
    """Running scores of one extractor on one group of pages."""

    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    dates: list[bool] = field(default_factory=list)
    titles: list[bool] = field(default_factory=list)
    failures: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, page: RealPage, outcome: Outcome) -> None:
        self.seconds.append(outcome.seconds)
        self.failures += outcome.failed
        if outcome.text is not None:
            precision, recall = text_scores(outcome.text, page)
            self.precision.append(precision)
            self.recall.append(recall)
        if page.day is not None:
            self.dates.append(page.day in outcome.days)
        if page.title and outcome.text is not None:
            self.titles.append(same_title(outcome.title, page.title))

    @property
    def f1(self) -> float:
        p, r = _mean(self.precision), _mean(self.recall)
        return 2 * p * r / (p + r) if p + r else 0.0

    def row(self) -> dict[str, float | None]:
        return {
            "P": _mean(self.precision) if self.precision else None,
            "R": _mean(self.recall) if self.recall else None,
            "F1": self.f1 if self.precision else None,
            "date": _mean(self.dates) if self.dates else None,
            "title": _mean(self.titles) if self.titles else None,
            "fail": float(self.failures),
            "ms": 1000 * statistics.fmean(self.seconds) if self.seconds else None,
        }


def _mean(values: list[float] | list[bool]) -> float:
    return statistics.fmean(float(v) for v in values) if values else 0.0


def tokens(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for token in _TOKEN.findall(unicodedata.normalize("NFKC", text).lower()):
        counts[token] = counts.get(token, 0) + 1
    return counts


def token_scores(found: str, expected: str) -> tuple[float, float]:
    """Bag-of-tokens precision and recall of found against expected."""
    got, want = tokens(found), tokens(expected)
    common = sum(min(count, want.get(token, 0)) for token, count in got.items())
    precision = common / sum(got.values()) if got else 0.0
    recall = common / sum(want.values()) if want else 0.0
    return precision, recall


def _squeeze(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def snippet_scores(found: str, page: RealPage) -> tuple[float, float]:
    """trafilatura's evaluation: `with` snippets found are true positives, `without` found false positives."""
    text = _squeeze(found)
    hits = sum(_squeeze(snippet) in text for snippet in page.with_snippets)
    false_hits = sum(_squeeze(snippet) in text for snippet in page.without_snippets)
    recall = hits / len(page.with_snippets) if page.with_snippets else 1.0
    precision = hits / (hits + false_hits) if hits + false_hits else (1.0 if not page.with_snippets else 0.0)
    return precision, recall


def text_scores(found: str, page: RealPage) -> tuple[float, float]:
    return token_scores(found, page.text) if page.text else snippet_scores(found, page)


def same_title(found: str | None, expected: str) -> bool:
    return found is not None and " ".join(found.split()).casefold() == " ".join(expected.split()).casefold()


def load_corpus(root: Path) -> Iterator[RealPage]:
    """Every page of every folder under root (folders with a manifest.jsonl), in manifest order."""
    for manifest in sorted(root.glob("*/manifest.jsonl")):
        folder = manifest.parent
        for line in manifest.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            raw = (folder / entry["html"]).read_bytes()
            body = gzip.decompress(raw) if entry["html"].endswith(".gz") else raw
            yield RealPage(
                folder=folder.name,
                id=entry["id"],
                body=body,
                url=entry.get("url") or None,
                title=entry.get("title") or None,
                text=entry.get("text") or None,
                with_snippets=tuple(entry.get("with") or ()),
                without_snippets=tuple(entry.get("without") or ()),
                day=date.fromisoformat(entry["date"]) if entry.get("date") else None,
                silver=str(entry.get("text_quality", "")).startswith("silver"),
            )


def _zone(name: str | None) -> tzinfo:
    if name and (match := _OFFSET.match(name)):
        sign = -1 if match[1] == "-" else 1
        return timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return UTC


def run_ours(page: RealPage) -> Outcome:
    start = time.perf_counter()
    try:
        doc = extract_article(page.body, page.url or "")
    except Exception:  # noqa: BLE001 - a benchmark counts a crash as a failure and goes on
        return Outcome("", None, (), True, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    days: tuple[date, ...] = ()
    if doc.published_at is not None:
        days = (doc.published_at.astimezone(_zone(doc.timezone)).date(), doc.published_at.astimezone(UTC).date())
    return Outcome(doc.text, doc.title, days, not doc.text, seconds, doc.date_source)


def run_trafilatura(page: RealPage) -> Outcome:
    start = time.perf_counter()
    try:
        output = trafilatura.extract(page.body, url=page.url, with_metadata=True, output_format="json")
    except Exception:  # noqa: BLE001
        output = None
    seconds = time.perf_counter() - start
    if not output:
        return Outcome("", None, (), True, seconds)
    data = json.loads(output)
    text = "\n".join(part for part in (data.get("text"), data.get("comments")) if part)
    day = _day(data.get("date"))
    return Outcome(text, data.get("title"), (day,) if day else (), not text, seconds)


def run_htmldate(page: RealPage) -> Outcome:
    start = time.perf_counter()
    try:
        found = htmldate.find_date(page.body, url=page.url, original_date=True)
    except Exception:  # noqa: BLE001
        found = None
    seconds = time.perf_counter() - start
    day = _day(found)
    return Outcome(None, None, (day,) if day else (), day is None, seconds)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


RUNNERS: dict[str, Callable[[RealPage], Outcome]] = {
    "ours": run_ours,
    "trafilatura": run_trafilatura,
    "htmldate": run_htmldate,
}


def evaluate(root: Path, details: Path | None = None) -> dict[str, dict[str, Tally]]:
    """Tallies per group ("folder", or "folder (silver)") and extractor; per-page rows to details if given."""
    tallies: dict[str, dict[str, Tally]] = {}
    out = details.open("w", encoding="utf-8") if details else None
    try:
        for page in load_corpus(root):
            group = f"{page.folder} (silver)" if page.silver else page.folder
            row: dict[str, object] = {"id": page.id, "folder": page.folder, "date": str(page.day)}
            for name, run in RUNNERS.items():
                outcome = run(page)
                tallies.setdefault(group, {}).setdefault(name, Tally()).add(page, outcome)
                if out is not None:
                    row[name] = _detail(page, outcome)
            if out is not None:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if out is not None:
            out.close()
    return tallies


def _detail(page: RealPage, outcome: Outcome) -> dict[str, object]:
    detail: dict[str, object] = {"days": [str(day) for day in outcome.days], "ms": round(outcome.seconds * 1000, 1)}
    if outcome.text is not None:
        detail["P"], detail["R"] = (round(value, 3) for value in text_scores(outcome.text, page))
        detail["title"] = outcome.title
    if outcome.date_source:
        detail["date_source"] = outcome.date_source
    return detail


def report(tallies: dict[str, dict[str, Tally]]) -> list[str]:
    """The table, one block per group and an all-gold total, and the groups where ours is behind trafilatura."""
    lines = [f"{'folder':<26}{'pages':>6}  {'extractor':<12}{'P':>7}{'R':>7}{'F1':>7}{'date':>7}{'title':>7}{'fail':>6}{'ms/page':>9}"]
    lines.append("-" * len(lines[0]))
    gold: dict[str, Tally] = {name: Tally() for name in EXTRACTORS}
    behind: list[str] = []
    for group in sorted(tallies, key=lambda g: (g.endswith("(silver)"), g)):
        for name in EXTRACTORS:
            tally = tallies[group][name]
            if not group.endswith("(silver)"):
                _merge(gold[name], tally)
            lines.append(_line(group if name == "ours" else "", len(tally.seconds) if name == "ours" else None, name, tally))
        if not group.endswith("(silver)") and _behind(tallies[group]["ours"], tallies[group]["trafilatura"]):
            behind.append(group)
    lines.append("-" * len(lines[0]))
    for name in EXTRACTORS:
        lines.append(_line("all gold" if name == "ours" else "", len(gold[name].seconds) if name == "ours" else None, name, gold[name]))
    if behind:
        lines.append(f"ours is behind trafilatura (text F1, date or title) on: {', '.join(behind)}")
    else:
        lines.append("ours is at least trafilatura's on text F1 and date, and above it on title, on every gold folder")
    return lines


def _merge(into: Tally, tally: Tally) -> None:
    into.precision += tally.precision
    into.recall += tally.recall
    into.dates += tally.dates
    into.titles += tally.titles
    into.failures += tally.failures
    into.seconds += tally.seconds


def _line(group: str, pages: int | None, name: str, tally: Tally) -> str:
    row = tally.row()
    cells = "".join(f"{_cell(row[key], 3):>7}" for key in ("P", "R", "F1", "date", "title"))
    fail = f"{int(row['fail'] or 0):>6}"
    ms = f"{_cell(row['ms'], 1):>9}"
    return f"{group:<26}{'' if pages is None else pages:>6}  {name:<12}{cells}{fail}{ms}"


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _behind(ours: Tally, theirs: Tally) -> bool:
    if ours.precision and ours.f1 < theirs.f1:
        return True
    if ours.dates and _mean(ours.dates) < _mean(theirs.dates):
        return True
    return bool(ours.titles) and _mean(ours.titles) <= _mean(theirs.titles)
