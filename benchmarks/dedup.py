"""Dedup at scale: per-article store+dedup time at 1,000 and at 100,000 stored, memory, precision/recall.

    python benchmarks/dedup.py [--size 100000] [--window 300] [--db sqlite:///path | postgresql+psycopg://...]

Part 1 makes a stream of generated articles (50 sources, each with its own page
template; one article in ten Chinese; one in ten a near copy of an earlier one),
loads its first 1,000 into one store and its first --size into another (in bulk:
the rows store_article writes, copies linked by ground truth), then times storing
--window further articles of the stream into each, one transaction each as the
crawl pipeline does, the two stores taking turns so both see the same machine
load. The ratio of the two is the figure to watch (goal: at most 1.5).

Part 2 stores a generated set of stories, near copies with known edits and
same-template traps into a fresh store and scores the clusters pairwise.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
from collections import Counter
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from crawler.extract.extraction import ExtractedArticle  # noqa: E402
from storage.dedup import DEFAULT_THRESHOLD, Signature, band_hashes, content_hash, text_signature  # noqa: E402
from storage.duplicates import _SHINGLE_CACHE  # noqa: E402
from storage.engine import dispose_engines, session_factory  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Article, ArticleUrl, MinhashBand, extracted_values  # noqa: E402
from storage.store import ArticleRecord, ensure_source, insert_many_or_ignore, store_article  # noqa: E402

SEED = 20240620
SOURCES = 50  # sources, each with its own intro and footer repeated on every page
VOCABULARY = 20_000  # generated words, drawn with Zipf weights like real text
PARAGRAPHS = (3, 6)  # paragraphs per article
PARAGRAPH_WORDS = (40, 90)
ZH_SHARE = 0.1  # share of Chinese articles
COPY_SHARE = 0.1  # share of generated articles that are near copies of an earlier one
LOAD_BATCH = 2_000  # articles per transaction while loading a store in bulk
WINDOW_CHUNK = 25  # timed articles per turn of each store
SMALL_STORE = 1_000
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2025, 1, 1, tzinfo=timezone.utc)  # timed articles are seen after every loaded one

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "el", "an", "or", "is",
              "ba", "de", "fi", "go", "hu"]
_HANZI = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


class Generator:
    """Deterministic article texts: Zipf-distributed words, per-source templates, edits."""

    def __init__(self, seed: int = SEED):
        self.rng = random.Random(seed)
        words = set()
        while len(words) < VOCABULARY:
            words.add("".join(self.rng.choices(_SYLLABLES, k=self.rng.randint(1, 4))))
        self.words = sorted(words)
        self.cum = list(_cumulative(1 / (rank + 1) for rank in range(len(self.words))))
        self.zh_cum = list(_cumulative(1 / (rank + 1) ** 0.8 for rank in range(len(_HANZI))))
        self.templates = [(self.sentence(25), self.sentence(30)) for _ in range(SOURCES)]

    def sentence(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=n)) + "."

    def paragraphs(self, zh: bool) -> list[str]:
        count = self.rng.randint(*PARAGRAPHS)
        if zh:
            return ["".join(self.rng.choices(_HANZI, cum_weights=self.zh_cum, k=2 * self.rng.randint(*PARAGRAPH_WORDS)))
                    + "。" for _ in range(count)]
        return [self.sentence(self.rng.randint(*PARAGRAPH_WORDS)) for _ in range(count)]

    def page(self, source: int, body: list[str]) -> str:
        intro, footer = self.templates[source]
        return "\n".join([intro, *body, footer])

    def title(self) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum, k=6)).title()

    # -- edits a syndicating site makes ------------------------------------------------

    def edit(self, kind: str, body: list[str]) -> list[str]:
        rng = self.rng
        body = list(body)
        if kind == "dateline":
            body[0] = f"NORTH CITY, May {rng.randint(1, 28)} (Wire) -- {body[0]}"
            body.append("Media contact: the organisers' press office. Source: the organising committee.")
        elif kind == "drop_paragraph" and len(body) > 3:
            del body[rng.randrange(1, len(body))]
        elif kind == "word_edits":  # 2% of the words replaced, as copy editors do
            def edit_words(p: str) -> str:
                return " ".join(w if rng.random() > 0.02 else rng.choice(self.words) for w in p.split())
            body = [edit_words(p) for p in body]
        elif kind == "reorder":
            body[1:] = rng.sample(body[1:], len(body) - 1)
        elif kind == "editor_note":
            body.insert(0, "Editor's note: the release below is published as received from the organisers.")
        return body


EDITS = ("dateline", "drop_paragraph", "word_edits", "reorder", "editor_note")


def _cumulative(weights):
    total = 0.0
    for w in weights:
        total += w
        yield total


@dataclass(frozen=True)
class Doc:
    source: int
    url: str
    title: str
    text: str
    story: str  # ground truth: the story this text tells


def generate_docs(count: int, seed: int, prefix: str, *, shared_after: int | None = None) -> list[Doc]:
    """count documents; COPY_SHARE of them near copies (on another source) of an earlier one.

    From index shared_after on, copies are of the first SMALL_STORE documents' stories, which
    both benchmark stores hold, so the timed articles of both find their story's cluster.
    """
    gen = Generator(seed)
    docs: list[Doc] = []
    bodies: list[tuple[list[str], str, str]] = []
    early = 0  # how many bodies come from the first SMALL_STORE documents
    for i in range(count):
        if bodies and gen.rng.random() < COPY_SHARE:
            pool = bodies[:early] if shared_after is not None and i >= shared_after else bodies[-2000:]
            body, title, story = gen.rng.choice(pool)
            body = gen.edit(gen.rng.choice(EDITS), body)
        else:
            body, title, story = gen.paragraphs(gen.rng.random() < ZH_SHARE), gen.title(), f"{prefix}{i}"
            bodies.append((body, title, story))
            early += i < SMALL_STORE
        source = gen.rng.randrange(SOURCES)
        docs.append(Doc(source, f"https://site{source}.example/{prefix}{i}", title, gen.page(source, body), story))
    return docs


def signed_record(doc: Doc, source_ids: list[int]) -> ArticleRecord:
    """The record the crawl pipeline would hand to store_article (signature included)."""
    article = ExtractedArticle(url=doc.url, title=doc.title, text=doc.text, extractor_version="bench")
    return ArticleRecord(source_id=source_ids[doc.source], canonical_url=doc.url, seen_urls=(), article=article,
                         content_hash=content_hash(doc.text), minhash=text_signature(doc.text).to_bytes())


def _records_chunk(args: tuple[list[Doc], list[int]]) -> list[ArticleRecord]:
    docs, source_ids = args
    return [signed_record(d, source_ids) for d in docs]


def make_records(docs: list[Doc], source_ids: list[int], pool: ProcessPoolExecutor) -> list[ArticleRecord]:
    chunks = [(docs[i:i + 1000], source_ids) for i in range(0, len(docs), 1000)]
    return [r for chunk in pool.map(_records_chunk, chunks) for r in chunk]


def bulk_load(db_url: str, records: list[ArticleRecord], stories: list[str]) -> None:
    """A store holding records, written in bulk: the rows store_article would write, copies linked
    to their story's first article (ground truth), without paying for a transaction per article."""
    upgrade(db_url)
    db = session_factory(db_url)
    with db.begin() as s:
        for n in range(SOURCES):
            ensure_source(s, f"site{n}")
    first_of: dict[str, int] = {}
    by_hash: dict[str, int] = {}
    for start in range(0, len(records), LOAD_BATCH):
        articles, urls, bands = [], [], []
        for i, rec in enumerate(records[start:start + LOAD_BATCH], start=start + 1):
            now = T0 + timedelta(seconds=i)
            if rec.content_hash in by_hash:  # an exact copy (same text, same source template): a URL row
                urls.append({"url": rec.canonical_url, "article_id": by_hash[rec.content_hash],
                             "source_id": rec.source_id, "relation": "exact_copy", "first_seen_at": now})
                continue
            by_hash[rec.content_hash] = i
            canonical = first_of.setdefault(stories[i - 1], i)
            articles.append({"id": i, "canonical_url": rec.canonical_url, "source_id": rec.source_id,
                             **extracted_values(rec.article), "content_hash": rec.content_hash,
                             "minhash": rec.minhash, "duplicate_of_id": None if canonical == i else canonical,
                             "first_seen_at": now, "last_seen_at": now})
            urls.append({"url": rec.canonical_url, "article_id": i, "source_id": rec.source_id,
                         "relation": "original", "first_seen_at": now})
            bands.extend({"band": b, "band_hash": h, "article_id": i}
                         for b, h in enumerate(band_hashes(Signature.from_bytes(rec.minhash))))
        with db.begin() as s:
            insert_many_or_ignore(s, Article.__table__, articles)
            insert_many_or_ignore(s, ArticleUrl.__table__, urls)
            insert_many_or_ignore(s, MinhashBand.__table__, bands)


def timed_windows(stores: dict[str, str], windows: dict[str, list[ArticleRecord]]
                  ) -> tuple[dict[str, list[float]], dict[str, Counter]]:
    """Seconds per article for storing each store's window one transaction each, as the pipeline
    does; the stores take turns every WINDOW_CHUNK articles so both see the same machine load."""
    times: dict[str, list[float]] = {name: [] for name in stores}
    outcomes: dict[str, Counter] = {name: Counter() for name in stores}
    dbs = {name: session_factory(url) for name, url in stores.items()}
    length = min(len(w) for w in windows.values())
    for start in range(0, length, WINDOW_CHUNK):
        for name, db in dbs.items():
            for j, rec in enumerate(windows[name][start:start + WINDOW_CHUNK], start=start):
                began = time.perf_counter()
                with db.begin() as s:
                    outcome = store_article(s, rec, now=T1 + timedelta(seconds=j)).outcome
                times[name].append(time.perf_counter() - began)
                outcomes[name][outcome] += 1
    return times, outcomes


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def scale_benchmark(tmp: str, large_url: str | None, size: int, window: int) -> None:
    print(f"generating {size + 2 * window:,} articles (one in ten a near copy) ...", flush=True)
    docs = generate_docs(size + 2 * window, SEED, "a", shared_after=size)
    source_ids = list(range(1, SOURCES + 1))  # ensure_source numbers a fresh store's sources from 1
    with ProcessPoolExecutor() as pool:
        records = make_records(docs, source_ids, pool)
    began = time.perf_counter()
    for doc in docs[:300]:
        text_signature(doc.text)
    sig_ms = (time.perf_counter() - began) / 300 * 1e3
    stories = [d.story for d in docs]
    stores = {"small": f"sqlite:///{tmp}/small.db", "large": large_url or f"sqlite:///{tmp}/large.db"}
    print(f"loading stores of {SMALL_STORE:,} and {size:,} articles ...", flush=True)
    bulk_load(stores["small"], records[:SMALL_STORE], stories)
    bulk_load(stores["large"], records[:size], stories)
    windows = {"small": records[size:size + window], "large": records[size + window:]}
    copies_in = {"small": sum(1 for d in docs[size:size + window] if int(d.story[1:]) < SMALL_STORE),
                 "large": sum(1 for d in docs[size + window:] if int(d.story[1:]) < SMALL_STORE)}
    rss_before = rss_mb()
    times, outcomes = timed_windows(stores, windows)
    rss_after = rss_mb()

    with session_factory(stores["large"])() as s:
        articles = s.scalar(select(func.count()).select_from(Article))
        copies = s.scalar(select(func.count()).select_from(Article).where(Article.duplicate_of_id.is_not(None)))
        bands = s.scalar(select(func.count()).select_from(MinhashBand))
    med = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    mean = {name: statistics.fmean(t) * 1e3 for name, t in times.items()}
    p90 = {name: statistics.quantiles(t, n=10)[-1] * 1e3 for name, t in times.items()}
    print(f"large store: {articles:,} articles ({copies:,} near copies), {bands:,} band rows")
    print(f"signature (shingles + MinHash) per article: {sig_ms:.2f} ms (computed in the pipeline)")
    for name, stored in (("small", SMALL_STORE), ("large", size)):
        print(f"store+dedup per article with {stored:,} stored: median {med[name]:.2f} ms, mean {mean[name]:.2f} ms, "
              f"p90 {p90[name]:.2f} ms ({dict(outcomes[name])}; {copies_in[name]} were copies)")
    print(f"ratio {size:,} / {SMALL_STORE:,} stored: median {med['large'] / med['small']:.2f}, "
          f"mean {mean['large'] / mean['small']:.2f} (goal <= 1.5)")
    print(f"memory: process RSS {rss_after:.0f} MB after the timed windows ({rss_after - rss_before:+.0f} MB during "
          f"them; the generated corpus is most of it); shingle cache {len(_SHINGLE_CACHE):,} articles, "
          f"{sum(a.nbytes for _, a in _SHINGLE_CACHE.values()) / 2 ** 20:.1f} MB of hashes")
    if stores["large"].startswith("sqlite:///"):
        path = Path(stores["large"].removeprefix("sqlite:///"))
        size_mb = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2 ** 20
        print(f"large store on disk: {size_mb:,.0f} MB ({size_mb * 2 ** 20 / articles / 1024:.1f} KB per article, "
              "text included)")


def quality_benchmark(db_url: str, stories: int, threshold: float) -> None:
    """Precision/recall of clusters on stories with known near copies and template traps."""
    upgrade(db_url)
    db = session_factory(db_url)
    gen = Generator(SEED + 1)
    with db.begin() as s:
        source_ids = [ensure_source(s, f"site{n}") for n in range(SOURCES)]
    docs: list[tuple[Doc, str]] = []  # (doc, edit kind)
    series = [(gen.sentence(50), gen.sentence(60)) for _ in range(SOURCES)]  # each source's daily brief
    briefs: dict[int, int] = {}
    for n in range(stories):
        body, title, story = gen.paragraphs(gen.rng.random() < ZH_SHARE), gen.title(), f"s{n}"
        origin = gen.rng.randrange(SOURCES)
        edition_trap = n % 10 == 5  # next year's release on the same body, the year changed
        original_title = f"2023 {title}" if edition_trap else title
        docs.append((Doc(origin, f"https://site{origin}.example/s{n}", original_title,
                         gen.page(origin, body), story), "original"))
        for c in range(gen.rng.randint(0, 3)):
            kind = gen.rng.choice(EDITS)
            src = gen.rng.choice([s for s in range(SOURCES) if s != origin])
            docs.append((Doc(src, f"https://site{src}.example/s{n}c{c}", title,
                             gen.page(src, gen.edit(kind, body)), story), kind))
        if n % 5 == 0:  # a daily brief of the origin's series: the series template plus a short highlight
            briefs[origin] = briefs.get(origin, 0) + 1
            intro, footer = series[origin]
            # The first two briefs of a series carry their date; later ones only a topic, so only the
            # template learnt from the earlier briefs keeps them apart.
            day = f"| May {briefs[origin]}" if briefs[origin] <= 2 else gen.title()
            docs.append((Doc(origin, f"https://site{origin}.example/s{n}brief", f"Daily Brief {day}",
                             gen.page(origin, [intro, gen.sentence(25), footer]), f"s{n}brief"), "trap_brief"))
        if edition_trap:
            edition = [p.replace("。", "，二〇二四年。", 1) if "。" in p else p.replace(".", " in 2024.", 1)
                       for p in body]
            docs.append((Doc(origin, f"https://site{origin}.example/s{n}y24", f"2024 {title}",
                             gen.page(origin, edition), f"s{n}y24"), "trap_edition"))
    docs.sort(key=lambda dk: dk[1] in EDITS)  # originals and traps first, copies after, as on the web
    stored_story: dict[str, int] = {}
    for i, (doc, _) in enumerate(docs):
        with db.begin() as s:
            result = store_article(s, signed_record(doc, source_ids), now=T0 + timedelta(seconds=i),
                                   near_threshold=threshold)
        stored_story[doc.url] = result.canonical_id
    truth = {d.url: d.story for d, _ in docs}
    kind_of = {d.url: k for d, k in docs}
    tp = fp = fn = 0
    missed: dict[str, int] = {}
    merged: dict[str, int] = {}
    for a, b in combinations(truth, 2):
        same, found = truth[a] == truth[b], stored_story[a] == stored_story[b]
        tp += same and found
        if found and not same:
            fp += 1
            pair = " + ".join(sorted((kind_of[a], kind_of[b])))
            merged[pair] = merged.get(pair, 0) + 1
        if same and not found:
            fn += 1
            for url in (a, b):
                missed[kind_of[url]] = missed.get(kind_of[url], 0) + 1
    copies = sum(1 for k in kind_of.values() if k in EDITS)
    traps = sum(1 for k in kind_of.values() if k.startswith("trap"))
    print(f"quality: {stories} stories, {copies} near copies ({', '.join(EDITS)}), {traps} same-template traps; "
          f"threshold {threshold}")
    print(f"pairwise precision {tp / ((tp + fp) or 1):.4f}, recall {tp / ((tp + fn) or 1):.4f} "
          f"({tp} pairs found, {fp} wrong, {fn} missed)")
    if merged:
        print(f"  wrongly merged pairs, by kind: {merged}")
    if missed:
        print(f"  missed pairs, by kind of either side: {missed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="articles in the large store")
    parser.add_argument("--window", type=int, default=300, help="articles timed at each store size")
    parser.add_argument("--stories", type=int, default=1_000, help="stories in the precision/recall set")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="near-duplicate threshold")
    parser.add_argument("--db", help="an empty store for the large store (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        quality_benchmark(f"sqlite:///{tmp}/quality.db", args.stories, args.threshold)
        scale_benchmark(tmp, args.db, args.size, args.window)
        dispose_engines()


if __name__ == "__main__":
    main()
