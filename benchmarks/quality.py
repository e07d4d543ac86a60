"""Extraction quality and speed on the replica web: ours vs plain trafilatura, side by side.

For every replica source: token precision / recall / F1 of the extracted text
against the article's own paragraphs, title accuracy, and date accuracy (the
local day, and the exact instant at the precision the page shows), for

  ours      extract_article with the hints the source declares
  generic   extract_article with only language / time zone (no selectors, no phrase lists)
  baseline  trafilatura.extract(page, url=url) with its defaults (text),
            trafilatura.bare_extraction(..., with_metadata=True) (title, date)

and the time per page of each, measured in the same run.

With --corpus DIR (the real pages with answers, ../shared/realpages), each
folder of real pages is scored too: ours, plain trafilatura.extract with
metadata and htmldate's own date, side by side (see benchmarks/realpages.py).
Run:

    /work/venv/bin/python benchmarks/quality.py [--rounds 5] [--corpus ../shared/realpages [--details FILE] [--no-replica]]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import trafilatura

_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(_ROOT), str(_ROOT / "tests"), str(_ROOT / "benchmarks")]
from replica_cases import ReplicaCase, replica_cases  # noqa: E402

from realpages import evaluate, report  # noqa: E402

from crawler.extract.extraction import extract_article  # noqa: E402
from crawler.replica import ReplicaWeb  # noqa: E402

# Tokens for overlap scores: a Latin word (lowercased) or one CJK character,
# so English and Chinese pages are scored on the same footing.
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one extractor made of one page."""

    text: str
    title: str | None
    published: datetime | date | None  # datetime (UTC) when a time is known, else a local date


@dataclasses.dataclass(frozen=True)
class Score:
    """Scores of one extractor on one page."""

    precision: float
    recall: float
    f1: float
    title_ok: bool
    day_ok: bool
    exact_ok: bool


def tokens(text: str) -> Counter[str]:
    return Counter(token.lower() for token in _TOKEN.findall(text))


def overlap_scores(found: str, expected: str) -> tuple[float, float, float]:
    got, want = tokens(found), tokens(expected)
    common = sum((got & want).values())
    precision = common / sum(got.values()) if got else 0.0
    recall = common / sum(want.values()) if want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def ours(case: ReplicaCase, generic: bool = False) -> Outcome:
    hints = case.hints
    if generic:
        hints = dataclasses.replace(
            hints, title_selector=None, date_selector=None, body_selector=None, drop_selectors=(), drop_phrases=()
        )
    doc = extract_article(case.body, case.url, http_charset=case.http_charset, hints=hints)
    published: datetime | date | None = doc.published_at
    if doc.published_at and doc.published_precision == "day":
        published = doc.published_at.astimezone(ZoneInfo(case.expected["timezone"])).date()
    return Outcome(doc.text, doc.title, published)


def baseline(case: ReplicaCase) -> Outcome:
    text = trafilatura.extract(case.body, url=case.url) or ""
    meta = trafilatura.bare_extraction(case.body, url=case.url, with_metadata=True)
    title = meta.title if meta is not None else None
    day = date.fromisoformat(meta.date[:10]) if meta is not None and meta.date else None
    return Outcome(text, title, day)


def score(outcome: Outcome, case: ReplicaCase) -> Score:
    expected = case.expected
    precision, recall, f1 = overlap_scores(outcome.text, case.expected_text)
    zone = ZoneInfo(expected["timezone"])
    shown = expected["published"]
    want_day = date.fromisoformat(shown[:10])
    got = outcome.published
    got_day = got.astimezone(zone).date() if isinstance(got, datetime) else got
    if len(shown) == len("2021-03-19"):
        exact = got_day == want_day and not isinstance(got, datetime)
    else:
        exact = isinstance(got, datetime) and got == datetime.fromisoformat(shown)
    return Score(precision, recall, f1, outcome.title == expected["title"], got_day == want_day, exact)


def timed(runs: dict[str, Callable[[ReplicaCase], object]], cases: list[ReplicaCase], rounds: int) -> dict[str, float]:
    """Median over rounds of the mean seconds per page, the extractors interleaved within each round
    so that load from other processes falls on all of them alike."""
    per_round: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            for case in cases:
                run(case)
            per_round[name].append((time.perf_counter() - start) / len(cases))
    return {name: statistics.median(values) for name, values in per_round.items()}


def trafilatura_text_only(case: ReplicaCase) -> object:
    return trafilatura.extract(case.body, url=case.url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (median is reported)")
    parser.add_argument("--corpus", type=Path, help="folder of real pages with answers (../shared/realpages)")
    parser.add_argument("--details", type=Path, help="write per-page results of the corpus run to this JSONL file")
    parser.add_argument("--no-replica", action="store_true", help="with --corpus: skip the replica part")
    args = parser.parse_args()

    status = 0
    if args.corpus is not None:
        if not any(args.corpus.glob("*/manifest.jsonl")):
            print(f"--corpus {args.corpus}: no */manifest.jsonl there", file=sys.stderr)
            return 2
        print(f"real pages: {args.corpus}")
        lines = report(evaluate(args.corpus, args.details))
        print("\n".join(lines))
        status = int(lines[-1].startswith("ours is behind"))
        if args.no_replica:
            return status
        print()
    return max(status, replica_report(args.rounds))


def replica_report(rounds: int) -> int:
    """The replica part: per source, ours (declared hints), generic and plain trafilatura; 1 if ours is worse."""
    with ReplicaWeb() as web:
        cases = [case for case in replica_cases(web).values() if case.kind == "article"]
    extractors: dict[str, Callable[[ReplicaCase], Outcome]] = {
        "ours": ours,
        "generic": lambda case: ours(case, generic=True),
        "baseline": baseline,
    }
    scores: dict[str, dict[str, list[Score]]] = defaultdict(lambda: defaultdict(list))
    for case in cases:
        for name, run in extractors.items():
            scores[case.site][name].append(score(run(case), case))

    header = (
        f"{'source':<14}{'pages':>6}  {'extractor':<9}{'P':>7}{'R':>7}{'F1':>7}"
        f"{'title':>8}{'day':>7}{'exact':>7}"
    )
    print(header)
    print("-" * len(header))
    worse: list[str] = []
    totals: dict[str, list[Score]] = defaultdict(list)
    for site in sorted(scores):
        for name in extractors:
            rows = scores[site][name]
            totals[name] += rows
            print(f"{site if name == 'ours' else '':<14}{len(rows) if name == 'ours' else '':>6}  {name:<9}" + _row(rows))
        ours_f1, base_f1 = _mean(scores[site]["ours"], "f1"), _mean(scores[site]["baseline"], "f1")
        print(f"{'':<22}F1 ratio ours/baseline = {ours_f1 / base_f1 if base_f1 else float('inf'):.3f}")
        if _worse(scores[site]["ours"], scores[site]["baseline"]):
            worse.append(site)
    print("-" * len(header))
    for name in extractors:
        print(f"{'all' if name == 'ours' else '':<14}{len(totals[name]) if name == 'ours' else '':>6}  {name:<9}" + _row(totals[name]))

    times = timed({"ours": ours, "text": trafilatura_text_only, "meta": baseline}, cases, rounds)
    ours_time, base_time, meta_time = times["ours"], times["text"], times["meta"]
    print()
    print(f"time per page (median of {rounds} rounds over {len(cases)} pages):")
    print(f"  ours (text + title + dates + language + gates)  {ours_time * 1000:7.2f} ms")
    print(f"  trafilatura.extract (text only)                 {base_time * 1000:7.2f} ms   ratio ours/baseline {ours_time / base_time:.2f}")
    print(f"  trafilatura text + bare_extraction metadata     {meta_time * 1000:7.2f} ms   ratio ours/baseline {ours_time / meta_time:.2f}")
    print()
    if worse:
        print(f"ours is worse than the baseline on: {', '.join(worse)}")
        return 1
    print("ours is at least as good as the baseline on every source (F1, title, day and exact date)")
    return 0


def _mean(rows: list[Score], field: str) -> float:
    return statistics.fmean(float(getattr(row, field)) for row in rows) if rows else 0.0


def _row(rows: list[Score]) -> str:
    return (
        f"{_mean(rows, 'precision'):7.3f}{_mean(rows, 'recall'):7.3f}{_mean(rows, 'f1'):7.3f}"
        f"{_mean(rows, 'title_ok'):8.2f}{_mean(rows, 'day_ok'):7.2f}{_mean(rows, 'exact_ok'):7.2f}"
    )


def _worse(mine: list[Score], theirs: list[Score]) -> bool:
    return any(_mean(mine, field) < _mean(theirs, field) for field in ("f1", "title_ok", "day_ok", "exact_ok"))


if __name__ == "__main__":
    sys.exit(main())
