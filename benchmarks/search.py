"""Search latency with the full-text index vs a naive LIKE scan, and export rows per second.

    python benchmarks/search.py [--articles 100000] [--repeat 5] [--store PATH]

Builds a SQLite store of generated articles (the replica's synthetic English and
Chinese articles, one in six Chinese, one in twenty a copy of the one before, each
tagged with its event), inserted in bulk through the same triggers the crawler's
inserts fire. Then runs a fixed set of 20 searches (words, phrases, exclusions, OR,
Chinese words of 2+ characters, filters, sort orders; a page of 20 results each):
ten broad (terms in over 1% of the articles) and ten selective, --repeat times each
through search() (the full-text index, or the date index when a query is broad)
and through a LIKE scan of the same store in the same run, and prints p50/p95
latency of each and their ratio. Last, it exports every
article (all fields, JSON Lines to a null sink) and prints rows per second next to a
bare `SELECT *` read of the same rows.

--store PATH reuses (or creates and keeps) a store there, to skip the build.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text  # noqa: E402

from crawler.replica.catalog import body_text, load_catalog  # noqa: E402
from crawler.replica.synthetic import generate_entries  # noqa: E402
from storage.dedup import content_hash  # noqa: E402
from storage.engine import session_factory  # noqa: E402
from storage.exports import write_jsonl  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Article, ArticleEvent, ArticleUrl  # noqa: E402
from storage.queries import SearchQuery, iter_articles, search  # noqa: E402
from storage.store import ensure_source, insert_many_or_ignore  # noqa: E402

INSERT_BATCH = 5_000  # articles per transaction while building
COPY_EVERY = 20  # every 20th article is recorded as a copy of the one before (one row per story hides it)
FIRST_SEEN = datetime(2025, 1, 1, tzinfo=timezone.utc)
PERCENTILES = (50, 95)

# Ten broad searches (each term in over 1% of the generated articles, most in a third: the
# generator draws from few topics) and ten selective ones (under 1%, as most real searches are).
BROAD: tuple[SearchQuery, ...] = (
    SearchQuery("robotics"),
    SearchQuery("autonomous driving"),
    SearchQuery('"smart ports"'),
    SearchQuery("chip OR battery"),
    SearchQuery("机器人 OR robotics"),
    SearchQuery("自动驾驶"),
    SearchQuery("重庆"),  # two characters: below a trigram, LIKE fallback
    SearchQuery("AI"),  # two Latin letters: LIKE fallback
    SearchQuery("shuttle routes -Nanjing", sort="first_seen"),
    SearchQuery(events=("world-intelligence-expo",), years=(2024,)),
)
SELECTIVE: tuple[SearchQuery, ...] = (
    SearchQuery('"Session 42"'),
    SearchQuery("47213"),
    SearchQuery('"Fifth World Internet Conference"'),
    SearchQuery("第五届世界互联网大会"),
    SearchQuery('"517 companies"'),
    SearchQuery("智慧港口专场活动第17期"),
    SearchQuery("第三届智博会", languages=("zh",)),
    SearchQuery('"venture funds focused on fintech"', sort="relevance"),  # the LIKE scan cannot rank
    SearchQuery('"2019 Smart China Expo"', since=datetime(2019, 1, 1, tzinfo=timezone.utc)),
    SearchQuery("nonexistentterm"),
)


def build_store(db_url: str, articles: int) -> float:
    """Fill a fresh store with generated articles; returns seconds taken."""
    started = time.perf_counter()
    upgrade(db_url)
    specs, _ = load_catalog()
    entries = generate_entries(specs, articles)
    factory = session_factory(db_url)
    with factory.begin() as session:
        sources = {name: ensure_source(session, name, language=spec.language) for name, spec in specs.items()}
    for start in range(0, len(entries), INSERT_BATCH):
        rows, urls, tags = [], [], []
        for number, entry in enumerate(entries[start:start + INSERT_BATCH], start + 1):
            body = body_text(entry)
            url = f"https://{entry.site}.example{entry.path}"
            rows.append({
                "id": number, "canonical_url": url, "source_id": sources[entry.site], "title": entry.title,
                "text": body, "published_at": entry.published.astimezone(timezone.utc),
                "published_raw": entry.published.isoformat(), "language": specs[entry.site].language,
                "content_hash": content_hash(body), "first_seen_at": FIRST_SEEN, "last_seen_at": FIRST_SEEN,
                "extractor_version": "benchmark",
                "duplicate_of_id": number - 1 if number % COPY_EVERY == 0 else None,
                "similarity": 0.9 if number % COPY_EVERY == 0 else None,
            })
            urls.append({"url": url, "article_id": number, "source_id": sources[entry.site],
                         "relation": "original", "first_seen_at": FIRST_SEEN})
            expected = entry.expected
            tags.append({"article_id": number, "event": expected["primary_event"], "role": "primary",
                         "edition": expected["edition"], "year": expected["year"], "confidence": 0.9,
                         "evidence": [], "tagger_version": "benchmark"})
        with factory.begin() as session:
            insert_many_or_ignore(session, Article.__table__, rows)
            insert_many_or_ignore(session, ArticleUrl.__table__, urls)
            insert_many_or_ignore(session, ArticleEvent.__table__, tags)
    return time.perf_counter() - started


def percentile(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1] if len(samples) > 1 else samples[0]


def describe(query: SearchQuery) -> str:
    filters = [f"{name}={','.join(map(str, getattr(query, name)))}"
               for name in ("events", "years", "sources", "languages") if getattr(query, name)]
    if query.since:
        filters.append(f"since={query.since.date()}")
    if query.sort != "published":
        filters.append(f"sort={query.sort}")
    return " ".join([query.text or "(no text)", *filters])


def time_queries(session, queries: tuple[SearchQuery, ...], repeat: int) -> dict[bool, list[float]]:
    """Timings (ms) of each query with the index and with the LIKE scan; checks both give the same hits."""
    samples: dict[bool, list[float]] = {True: [], False: []}
    for query in queries:
        timings: dict[bool, list[float]] = {True: [], False: []}
        answers = {}
        for use_index in (True, False):
            answers[use_index] = search(session, query, use_index=use_index)  # warm-up
            for _ in range(repeat):
                started = time.perf_counter()
                search(session, query, use_index=use_index)
                timings[use_index].append((time.perf_counter() - started) * 1000)
            samples[use_index] += timings[use_index]
        if [h.id for h in answers[True]] != [h.id for h in answers[False]] and query.sort != "relevance":
            raise SystemExit(f"index and LIKE scan disagree on {describe(query)!r}")
        fast, slow = statistics.median(timings[True]), statistics.median(timings[False])
        print(f"  {describe(query)[:50]:<50} {len(answers[True]):>4} {fast:>9.1f} {slow:>9.1f} {slow / fast:>7.1f}x")
    return samples


def summary(name: str, samples: dict[bool, list[float]]) -> None:
    (i50, i95), (s50, s95) = ([percentile(samples[mode], p) for p in PERCENTILES] for mode in (True, False))
    print(f"{name:<22} search() p50 {i50:7.1f} ms  p95 {i95:7.1f} ms | LIKE scan p50 {s50:7.1f} ms  "
          f"p95 {s95:7.1f} ms | LIKE/search p50 {s50 / i50:5.1f}x  p95 {s95 / i95:5.1f}x")


class NullSink(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)


def time_export(db_url: str) -> tuple[int, float, float]:
    """Rows exported, rows/s of the full export, rows/s of a bare SELECT * of the same table."""
    with session_factory(db_url, for_writing=False)() as session:
        started = time.perf_counter()
        rows = write_jsonl((a.to_dict() for a in iter_articles(session, SearchQuery(limit=None, all_copies=True))),
                           NullSink())
        export_s = time.perf_counter() - started
        started = time.perf_counter()
        bare = 0
        for row in session.execute(text("SELECT * FROM articles"), execution_options={"yield_per": 500}):
            json.dumps([str(v) for v in row])
            bare += 1
        bare_s = time.perf_counter() - started
    return rows, rows / export_s, bare / bare_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each query and mode")
    parser.add_argument("--store", type=Path, help="SQLite file to reuse or create and keep")
    args = parser.parse_args()

    tmp = None
    if args.store is None:
        tmp = tempfile.TemporaryDirectory(prefix="expowatch-search-bench-")
        args.store = Path(tmp.name) / "store.db"
    db_url = f"sqlite:///{args.store.resolve()}"
    if args.store.exists():
        upgrade(db_url)
        with session_factory(db_url, for_writing=False)() as session:
            have = session.scalar(select(func.count()).select_from(Article))
        print(f"store: {args.store} (reused, {have:,} articles)")
    else:
        seconds = build_store(db_url, args.articles)
        print(f"store: {args.articles:,} generated articles built in {seconds:.0f} s "
              f"({args.articles / seconds:,.0f} articles/s incl. trigram indexing), "
              f"{args.store.stat().st_size / 2**20:,.0f} MiB")
    groups = {}
    print(f"  {'query':<50} {'hits':>4} {'search ms':>9} {'LIKE ms':>9} {'LIKE/search':>8}")
    with session_factory(db_url, for_writing=False)() as session:
        for name, queries in (("broad", BROAD), ("selective", SELECTIVE)):
            print(f"{name}:")
            groups[name] = time_queries(session, queries, args.repeat)
    print()
    summary("broad (10 queries)", groups["broad"])
    summary("selective (10 queries)", groups["selective"])
    summary("all 20 queries", {mode: groups["broad"][mode] + groups["selective"][mode] for mode in (True, False)})
    rows, export_rate, bare_rate = time_export(db_url)
    print(f"export: {rows:,} articles, every field as JSON Lines: {export_rate:,.0f} rows/s "
          f"(bare SELECT * read: {bare_rate:,.0f} rows/s, {bare_rate / export_rate:.1f}x)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
