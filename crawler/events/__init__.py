"""Event tagging: which expo / conference an article is about, with evidence.

Pure code over plain data (no Scrapy, no SQLAlchemy):

- `load_taxonomy(path)` -> Taxonomy: built-in events.toml merged with a user file;
- `tag_article(title, text, url, ...)` -> list[EventTag].
"""

from crawler.events.taxonomy import (
    BUILTIN_EVENTS_FILE,
    EVENTS_ENV_VAR,
    Edition,
    Event,
    EventsFileError,
    Taxonomy,
    builtin_taxonomy,
    load_taxonomy,
)
from crawler.events.tagger import MENTIONED, PRIMARY, TAGGER_VERSION, EventTag, Evidence, tag_article

__all__ = [
    "BUILTIN_EVENTS_FILE",
    "EVENTS_ENV_VAR",
    "MENTIONED",
    "PRIMARY",
    "TAGGER_VERSION",
    "Edition",
    "Event",
    "EventTag",
    "EventsFileError",
    "Evidence",
    "Taxonomy",
    "builtin_taxonomy",
    "load_taxonomy",
    "tag_article",
]
