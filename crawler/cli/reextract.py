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

    Articles keep their id, URLs and copies; title, text, dates, language and the
    extractor version are replaced. A page the new extractor rejects keeps its old text.
    """
    from crawler.extract.extraction import ExtractionHints
    from crawler.hints import hints_for
    from crawler.workers import extraction_pool
    from storage.engine import session_factory
    from storage.reextract import stored_pages

    registry = load_registry(sources_file)
    taxonomy = load_events(events_file)
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
            hints = hints_for(declared) if declared else ExtractionHints()
            futures.append((page, declared, pool.submit(page.html, page.url, http_charset=page.http_charset, hints=hints)))
        with session_factory(url).begin() as session:
            for page, declared, future in futures:
                counts[_reextract_one(session, page, declared, future.result(), taxonomy)] += 1
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


def _reextract_one(session, page, declared, doc, taxonomy) -> str:
    """Write one page's new extraction and tags; returns what happened, for the summary."""
    from crawler.dedup import content_hash, text_signature
    from crawler.events import TAGGER_VERSION, tag_article
    from storage.events import replace_article_tags
    from storage.reextract import ExtractionUpdate, apply_extraction

    if doc.skip_reason:
        return f"kept (new extractor says {doc.skip_reason})"
    fields = ExtractionUpdate(
        title=doc.title, text=doc.text, content_hash=content_hash(doc.text), author=doc.author,
        published_at=doc.published_at, published_raw=doc.published_raw, updated_at=doc.updated_at,
        updated_raw=doc.updated_raw, date_flag=doc.date_flag, published_precision=doc.published_precision,
        date_source=doc.date_source, date_timezone=doc.timezone, encoding=doc.encoding,
        language=doc.language, extractor_version=doc.extractor_version,
        minhash=text_signature(doc.text).to_bytes(),
    )
    if not apply_extraction(session, page.article_id, fields):
        return "kept (new text equals another article's)"
    hint = declared.event if declared is not None and declared.event in taxonomy else None
    tags = tag_article(doc.title or "", doc.text, page.url, source_event=hint,
                       published=doc.published_at, taxonomy=taxonomy)
    replace_article_tags(session, page.article_id, tags, TAGGER_VERSION)
    return "re-extracted"
