"""The JSON API, the streamed CSV / JSON Lines downloads, the Atom feeds and the OpenAPI schema.

Every endpoint that searches takes the same parameters as the search page
(crawler.web.params.SEARCH_PARAMETERS); the schema at /openapi.json is written from
that table, so the documentation and the reading of requests cannot differ.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any, Iterator

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from crawler.feeds import FEED_LIMIT, render_feed
from crawler.web.app import templates
from crawler.web.overviews import events_overview, sources_overview
from crawler.web.pages import NO_PARAMETERS, stored_article
from crawler.web.params import SEARCH_PARAMETERS, read_values, search_params
from crawler.web.store import check_filters, reading
from storage.exports import csv_cells
from storage.facets import facet_counts
from storage.queries import EXPORT_BATCH, EXPORT_COLUMNS, SearchQuery, iter_articles, search_and_count

API_VERSION = "1"
ATOM = "application/atom+xml; charset=utf-8"


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(json.loads(json.dumps(value, default=str, ensure_ascii=False)), status_code=status)


def _page_link(request: Request, offset: int | None) -> str | None:
    if offset is None:
        return None
    from crawler.web.app import _with_params

    return f"{request.url.path}?{_with_params(request, offset=offset or None)}"


def api_search(request: Request) -> Response:
    """One page of matches (one row per story unless copies=true), with the total and paging links."""
    params = search_params(request.query_params)
    query = params.query
    with reading(request) as session:
        check_filters(request, session, query)
        hits, total = search_and_count(session, query)
    following = query.offset + query.limit if query.offset + len(hits) < total else None
    previous = max(query.offset - query.limit, 0) if query.offset else None
    return _json({"total": total, "limit": query.limit, "offset": query.offset,
                  "next": _page_link(request, following), "previous": _page_link(request, previous),
                  "results": [h.to_dict() for h in hits]})


def api_facets(request: Request) -> Response:
    """Counts of the matches per event, primary year, source and language."""
    params = search_params(request.query_params)
    with reading(request) as session:
        check_filters(request, session, params.query)
        facets = facet_counts(session, params.query)
    return _json({"total": facets.total, **{k: [{"value": v, "count": c} for v, c in getattr(facets, k)]
                                            for k in ("events", "years", "sources", "languages")}})


def api_article(request: Request) -> Response:
    """Every stored field of one article, its events with evidence, its URLs, copies and original."""
    with reading(request) as session:
        return _json(stored_article(request, session).to_dict())


def api_events(request: Request) -> Response:
    """Every event with its editions and article counts (about it / mentioning it)."""
    read_values(request.query_params, NO_PARAMETERS)
    with reading(request) as session:
        rows = events_overview(session, request.app.state.config.taxonomy)
    return _json([asdict(r) for r in rows])


def api_sources(request: Request) -> Response:
    """Each source's health as `expowatch health` judges it, its last runs and failures."""
    read_values(request.query_params, NO_PARAMETERS)
    with reading(request) as session:
        overview = sources_overview(session, request.app.state.config.registry)
    return _json([{"source": s.name, "declared": s.declared, "health": s.health.to_json(),
                   "runs": [asdict(r) for r in s.runs], "failures": s.failures} for s in overview])


def _stream(request: Request, render) -> StreamingResponse:
    """A download of every match (or `limit` of them), fetched and written EXPORT_BATCH rows at a time."""
    params = search_params(request.query_params, default_limit=None)
    query = params.query
    with reading(request) as session:
        check_filters(request, session, query)  # a bad filter is a 400 before the download starts

    def chunks() -> Iterator[bytes]:
        with reading(request) as session:
            batch: list[dict] = []
            yield from render([], header=True)
            for article in iter_articles(session, query):
                batch.append(article.to_dict())
                if len(batch) >= EXPORT_BATCH:
                    yield from render(batch)
                    batch = []
            if batch:
                yield from render(batch)

    return chunks()


def export_jsonl(request: Request) -> Response:
    """Every field of the matching articles as JSON Lines, streamed."""
    def render(records, header=False):
        if records:
            yield "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()

    return StreamingResponse(_stream(request, render), media_type="application/x-ndjson; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="expowatch.jsonl"'})


def export_csv(request: Request) -> Response:
    """Every field of the matching articles as CSV (formula-safe cells, as `expowatch export`), streamed."""
    def render(records, header=False):
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        if header:
            writer.writerow(EXPORT_COLUMNS)
        for record in records:
            writer.writerow(csv_cells(record, EXPORT_COLUMNS))
        yield out.getvalue().encode()

    return StreamingResponse(_stream(request, render), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="expowatch.csv"'})


def search_feed(request: Request) -> Response:
    """An Atom feed of the newest matches of any search (its filters; paging ignored)."""
    params = search_params(request.query_params, default_limit=FEED_LIMIT)
    query = params.query
    described = " ".join(x for x in (query.text, *query.events, *map(str, query.years), *query.sources) if x)
    with reading(request) as session:
        check_filters(request, session, query)
        document = render_feed(session, query, title=f"expowatch: {described or 'newest articles'}",
                               limit=query.limit or FEED_LIMIT, self_url=str(request.url),
                               alternate_url=f"{request.url_for('search')}?{request.url.query}")
    return Response(document, media_type=ATOM)


def event_feed(request: Request) -> Response:
    """An Atom feed of the newest articles about an event (what `expowatch feed --event` writes)."""
    read_values(request.query_params, NO_PARAMETERS)
    slug = request.path_params["slug"].lower()
    query = SearchQuery(events=(slug,), limit=FEED_LIMIT)
    with reading(request) as session:
        if slug not in {r.slug for r in events_overview(session, request.app.state.config.taxonomy)}:
            raise HTTPException(404, f"no event {slug!r} (see /events)")
        document = render_feed(session, query, title=f"expowatch: event {slug}",
                               self_url=str(request.url), alternate_url=str(request.url_for("event", slug=slug)))
    return Response(document, media_type=ATOM)


SEARCH_OPERATIONS = {
    "/api/search": ("Search articles", "A page of matching articles.", "SearchPage"),
    "/api/facets": ("Facet counts", "Matches per event, year, source and language.", "Facets"),
    "/export.csv": ("Download CSV", "Every field of every match (no limit unless given), streamed.", None),
    "/export.jsonl": ("Download JSON Lines", "Every field of every match (no limit unless given), streamed.", None),
    "/feed.atom": ("Atom feed of a search", "The newest matches as Atom (at most limit, default 50).", None),
}
HIT_SCHEMA = {"type": "object", "properties": {
    "id": {"type": "integer"}, "title": {"type": ["string", "null"]}, "url": {"type": "string"},
    "source": {"type": "string"}, "published_at": {"type": ["string", "null"], "format": "date-time"},
    "language": {"type": ["string", "null"]}, "first_seen_at": {"type": "string", "format": "date-time"},
    "events": {"type": "array", "items": {"type": "string"}}, "duplicate_of_id": {"type": ["integer", "null"]}}}
ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                "required": ["error", "status"]}
COUNTS = {"type": "array", "items": {"type": "object", "properties": {"value": {}, "count": {"type": "integer"}}}}


def openapi_schema(request: Request | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API, written from the parameter table."""
    parameters = [p.openapi() for p in SEARCH_PARAMETERS]
    bad = {"description": "A parameter that cannot be used (the message names it).",
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    media = {"/export.csv": "text/csv", "/export.jsonl": "application/x-ndjson", "/feed.atom": "application/atom+xml"}
    paths: dict[str, Any] = {}
    for path, (summary, description, schema) in SEARCH_OPERATIONS.items():
        content = ({"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}} if schema
                   else {media[path]: {"schema": {"type": "string"}}})
        paths[path] = {"get": {"summary": summary, "description": description, "parameters": parameters,
                               "responses": {"200": {"description": description, "content": content}, "400": bad}}}
    id_param = {"name": "article_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    slug_param = {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
    not_found = {"description": "No such article or event.",
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    paths["/api/articles/{article_id}"] = {"get": {
        "summary": "One article", "parameters": [id_param],
        "description": "Every stored field, events with evidence, every URL it was seen at, copies, original.",
        "responses": {"200": {"description": "The article.", "content": {"application/json": {"schema": {"type": "object"}}}},
                      "404": not_found}}}
    paths["/api/events"] = {"get": {"summary": "Events", "description": "Every event with editions and article counts.",
                                    "responses": {"200": {"description": "Events.", "content": {
                                        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}}}
    paths["/api/sources"] = {"get": {"summary": "Sources", "description": "Health, last runs and failures per source.",
                                     "responses": {"200": {"description": "Sources.", "content": {
                                         "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}}}
    paths["/events/{slug}/feed.atom"] = {"get": {
        "summary": "Atom feed of an event", "parameters": [slug_param],
        "description": "The newest articles about the event (what `expowatch feed --event` writes).",
        "responses": {"200": {"description": "Atom.", "content": {"application/atom+xml": {"schema": {"type": "string"}}}},
                      "404": not_found}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "expowatch", "version": API_VERSION,
                 "description": "Read-only API over an expowatch store: the same queries as `expowatch search`."},
        "paths": paths,
        "components": {"schemas": {
            "Error": ERROR_SCHEMA, "Hit": HIT_SCHEMA,
            "SearchPage": {"type": "object", "required": ["total", "limit", "offset", "results"], "properties": {
                "total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"},
                "next": {"type": ["string", "null"]}, "previous": {"type": ["string", "null"]},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}}}},
            "Facets": {"type": "object", "properties": {"total": {"type": "integer"}, "events": COUNTS,
                                                         "years": COUNTS, "sources": COUNTS, "languages": COUNTS}},
        }},
    }


def openapi_json(request: Request) -> Response:
    read_values(request.query_params, NO_PARAMETERS)
    return _json(openapi_schema(request))


def api_docs(request: Request) -> Response:
    """The API described for people (from the same schema), without JavaScript."""
    read_values(request.query_params, NO_PARAMETERS)
    return templates.TemplateResponse(request, "api.html", {"schema": openapi_schema(request),
                                                            "parameters": SEARCH_PARAMETERS})


ROUTES = [
    Route("/api/search", api_search, name="api_search"),
    Route("/api/facets", api_facets, name="api_facets"),
    Route("/api/articles/{article_id:int}", api_article, name="api_article"),
    Route("/api/events", api_events, name="api_events"),
    Route("/api/sources", api_sources, name="api_sources"),
    Route("/export.csv", export_csv, name="export_csv"),
    Route("/export.jsonl", export_jsonl, name="export_jsonl"),
    Route("/feed.atom", search_feed, name="search_feed"),
    Route("/events/{slug}/feed.atom", event_feed, name="event_feed"),
    Route("/openapi.json", openapi_json, name="openapi"),
    Route("/docs/api", api_docs, name="api_docs"),
]
