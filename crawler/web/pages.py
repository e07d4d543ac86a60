"""The HTML pages: search, one article, events and an event's timeline, sources and their health."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crawler.web.app import templates
from crawler.web.highlight import evidence_spans, segments
from crawler.web.overviews import event_articles, events_overview, sources_overview
from crawler.web.params import SEARCH_PARAMETERS, read_values, search_params
from crawler.web.store import check_filters, reading
from storage.facets import facets_of_hits
from storage.models import SourceRow
from storage.queries import MAX_ROW_ID, get_article, search, source_names

NO_PARAMETERS: dict = {}
FACET_SAMPLE = 100  # matches fetched for the facet counts (five pages): milliseconds, where counting every
#                     match of a broad query at 100,000 articles takes seconds (benchmarks/web.py)


def search_page(request: Request) -> Response:
    """Search with every filter of `expowatch search`, facet counts beside them, newest or best first.

    One search fetches the first FACET_SAMPLE matches in the page's order: a page among
    them is a slice of them, and the facets count them. When there are fewer, that is
    every match and the total is exact; otherwise the page says "more than" and the
    facets say they count the first FACET_SAMPLE. A page deeper than that is a search of
    its own (one row more than the page, to know whether another follows).
    """
    params = search_params(request.query_params)
    query = params.query
    end = query.offset + query.limit
    with reading(request) as session:
        sources = source_names(session)
        check_filters(request, session, query, sources)
        first = search(session, replace(query, offset=0, limit=FACET_SAMPLE + 1))
        more = sampled = len(first) > FACET_SAMPLE
        first = first[:FACET_SAMPLE]
        if end <= FACET_SAMPLE or not more:
            hits, has_next, total = first[query.offset:end], end < len(first) or more, len(first)
        else:
            deeper = search(session, replace(query, limit=query.limit + 1))
            hits, has_next = deeper[:query.limit], len(deeper) > query.limit
            total, more = query.offset + len(hits), has_next
        facets = facets_of_hits(session, first)
    taxonomy = request.app.state.config.taxonomy
    return templates.TemplateResponse(request, "search.html", {
        "params": params, "query": query, "hits": hits, "facets": facets, "total": total, "more": more,
        "has_next": has_next, "sampled": sampled, "sample": FACET_SAMPLE,
        "values": read_values(request.query_params), "sources": sources, "taxonomy": list(taxonomy),
        "tz": params.tz, "parameters": {p.name: p for p in SEARCH_PARAMETERS},
    })


def _zone(name: str | None):
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def stored_article(request: Request, session):
    """The article the path names (with no query parameters); 404 when it is not stored."""
    read_values(request.query_params, NO_PARAMETERS)
    article_id = request.path_params["article_id"]
    detail = get_article(session, article_id) if 0 < article_id <= MAX_ROW_ID else None
    if detail is None:
        raise HTTPException(404, f"no article {article_id} in the store")
    return detail


def article_page(request: Request) -> Response:
    """One article: dates (local, UTC, raw), language, events with evidence marked, every URL and copy."""
    with reading(request) as session:
        detail = stored_article(request, session)
        source_zone = session.execute(select(SourceRow.timezone).where(SourceRow.name == detail.article.source)).scalar()
    a = detail.article
    local = _zone(a.date_timezone) or _zone(source_zone)
    return templates.TemplateResponse(request, "article.html", {
        "detail": detail, "a": a, "local": local,
        "title_pieces": segments(a.title or "", evidence_spans(a.events, "title", a.title or "")),
        "text_pieces": segments(a.text, evidence_spans(a.events, "text", a.text)),
    })


def events_page(request: Request) -> Response:
    """Every event with its editions on a timeline and article counts per edition."""
    read_values(request.query_params, NO_PARAMETERS)
    with reading(request) as session:
        rows = events_overview(session, request.app.state.config.taxonomy)
    years = [e.year for r in rows for e in r.editions if e.year is not None]
    span = (min(years), max(years)) if years else (0, 0)
    return templates.TemplateResponse(request, "events.html", {"rows": rows, "span": span})


def event_page(request: Request) -> Response:
    """One event: its editions, newest first, each with its articles."""
    read_values(request.query_params, NO_PARAMETERS)
    slug = request.path_params["slug"].lower()
    with reading(request) as session:
        rows = {r.slug: r for r in events_overview(session, request.app.state.config.taxonomy)}
        if slug not in rows:
            raise HTTPException(404, f"no event {slug!r} (see /events)")
        groups = event_articles(session, rows[slug])
    return templates.TemplateResponse(request, "event.html", {"row": rows[slug], "groups": groups})


def sources_page(request: Request) -> Response:
    """Each source's health, last runs, failures with URL and reason, new articles per run (SVG)."""
    read_values(request.query_params, NO_PARAMETERS)
    with reading(request) as session:
        overview = sources_overview(session, request.app.state.config.registry)
    return templates.TemplateResponse(request, "sources.html", {"sources": overview})


ROUTES = [
    Route("/", search_page, name="search"),
    Route("/articles/{article_id:int}", article_page, name="article"),
    Route("/events", events_page, name="events"),
    Route("/events/{slug}", event_page, name="event"),
    Route("/sources", sources_page, name="sources"),
]
