"""`expowatch reextract`: run the current extractor over stored raw HTML, without refetching."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

from crawler.cli.app import DbOption, SourcesFileOption, app, fail, open_store
from crawler.cli.events import EventsFileOption, load_events
from crawler.cli.sources import check_source_events, load_registry

REEXTRACT_BATCH = 200  # pages in memory at once: bounded memory, enough to keep every core busy


@app.command()
def reextract(
    source: Annotated[str | None, typer.Option("--source", help="Only articles of this source.")] = None,
    sources_file: SourcesFileOption = None,
    events_file: EventsFileOption = None,
    db: DbOption = None,
) -> None:
    """Re-run extraction (and event tagging) on every stored article's raw HTML; nothing is fetched.

    Articles keep their id, URLs and copies; what a crawl's page work makes of a page is
    replaced: title, text, dates, language, extractor version, tags, content hash, MinHash
    signature and its LSH bands. A page the new extractor rejects keeps its old text.
    """
    from crawler.extract.extraction import ExtractionHints
    from crawler.hints import hints_for
    from crawler.page_work import PageTask
    from crawler.workers import extraction_pool
    from storage.engine import session_factory
    from storage.reextract import stored_pages

    registry = load_registry(sources_file)
    taxonomy = load_events(events_file)  # a bad events file fails here, before any page
    check_source_events(registry, taxonomy, sources_file)
    url = open_store(db, writable=True)
    if source and source not in registry:
        fail(unknown_source_line(source, registry, url))
    pool = extraction_pool()
    counts: Counter[str] = Counter()
    after_id = 0
    while True:
        with session_factory(url, for_writing=False)() as reader:
            pages = stored_pages(reader, source=source, after_id=after_id, limit=REEXTRACT_BATCH)
        if not pages:
            break
        after_id = pages[-1].article_id
        futures = []
        for page in pages:
            declared = registry.get(page.source)
            task = PageTask(page.html, page.url, http_charset=page.http_charset,
                            hints=hints_for(declared) if declared else ExtractionHints(),
                            source_event=declared.event if declared else None, events_file=events_file)
            futures.append((page, pool.submit_page(task)))  # the crawl's page work: the same fields and fingerprints
        with session_factory(url).begin() as session:
            for page, future in futures:
                counts[_reextract_one(session, page, future.result())] += 1
    summary = ", ".join(f"{n} {what}" for what, n in counts.most_common()) or "no stored pages"
    typer.echo(f"reextract: {sum(counts.values())} articles: {summary}", err=True)


def unknown_source_line(source: str, registry, url: str) -> str:
    """Why --source names nothing: the sources this store holds, and the flag that declares them."""
    from storage.engine import session_factory
    from storage.queries import source_names

    with session_factory(url, for_writing=False)() as session:
        stored = source_names(session)
    if source in stored:
        return (f"--source {source!r}: the store holds articles of {source!r}, but no sources file declares it: "
                "add --sources-file FILE, the file it was crawled with (or set EXPOWATCH_SOURCES)")
    return (f"unknown source {source!r}: the store holds {', '.join(stored) or 'no sources yet'} "
            "(a source that is not built in needs --sources-file FILE, the file it was crawled with)")


def _reextract_one(session, page, processed) -> str:
    """Write one page's new extraction, fingerprints, bands and tags; returns what happened, for the summary."""
    from crawler.events import TAGGER_VERSION
    from storage.events import replace_article_tags
    from storage.reextract import apply_extraction

    doc = processed.article
    if doc.skip_reason:
        return f"kept (new extractor says {doc.skip_reason})"
    if not apply_extraction(session, page.article_id, doc, content_hash=processed.content_hash,
                            minhash=processed.minhash):
        return "kept (new text equals another article's)"
    replace_article_tags(session, page.article_id, processed.tags, TAGGER_VERSION)
    return "re-extracted"
