"""The request's read-only session, and checks of filter values against what the store holds."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request

from crawler.web.params import BadParameter
from storage.models import ArticleEvent
from storage.queries import SearchQuery, source_names, unknown_sources

NAMES_LISTED = 20  # known source names quoted in an error message


@contextmanager
def reading(request: Request) -> Iterator[Session]:
    """A session on the read-only store for one request (or one streamed download)."""
    with request.app.state.sessions() as session:
        yield session


def check_filters(request: Request, session: Session, query: SearchQuery, known: list[str] | None = None) -> None:
    """BadParameter when a source or event filter names nothing the store or the taxonomy knows.

    (`expowatch search --source` refuses an unknown source the same way: a typo must
    not look like "no matches".) known: the store's source names, when the caller has them.
    """
    if not query.sources and not query.events:
        return
    unknown = [s for s in query.sources if s not in known] if known is not None \
        else unknown_sources(session, query.sources)
    if unknown:
        known = known if known is not None else source_names(session)
        raise BadParameter(f"source={unknown[0]!r}: no such source in the store (known: "
                           f"{', '.join(known[:NAMES_LISTED]) or 'none yet'}{' ...' if len(known) > NAMES_LISTED else ''})")
    taxonomy = request.app.state.config.taxonomy
    for slug in query.events:
        if slug not in taxonomy and session.execute(
                select(ArticleEvent.id).where(ArticleEvent.event == slug).limit(1)).first() is None:
            raise BadParameter(f"event={slug!r}: no such event (see /events)")
