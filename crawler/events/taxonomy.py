"""The event taxonomy: built-in events.toml merged with an optional user file.

Plain data and validation only; matching lives in matcher.py, decisions in tagger.py.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.events.matcher import TermMatcher

BUILTIN_EVENTS_FILE = Path(__file__).with_name("events.toml")
EVENTS_ENV_VAR = "EXPOWATCH_EVENTS"

# Slugs end up in URLs, CLI arguments and the database: keep them plain.
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Acronyms are matched case-sensitively as whole tokens, so they must be upper case
# (digits allowed after the first letter, e.g. "C919").
ACRONYM_RE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
# Years outside this range are typos, not event history or plans.
MIN_YEAR, MAX_YEAR = 1900, 2100

_STR_LIST_KEYS = (
    "names_en", "names_zh", "acronyms", "aliases", "cities", "venues", "context", "organisers",
)
_STR_KEYS = ("name_en", "name_zh", "successor", "notes")
_YEAR_KEYS = ("first_year", "last_year")
EVENT_KEYS = frozenset(("slug", "edition", *_STR_LIST_KEYS, *_STR_KEYS, *_YEAR_KEYS))
EDITION_KEYS = frozenset(("ordinal", "year", "start", "end", "city", "venue"))


class EventsFileError(ValueError):
    """An events file that cannot be used; the message names the file, entry and key."""


@dataclass(frozen=True)
class Edition:
    """One known edition of an event; None means unknown."""

    ordinal: int | None = None
    year: int | None = None
    start: date | None = None
    end: date | None = None
    city: str | None = None
    venue: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (dates as ISO strings)."""
        return {
            "ordinal": self.ordinal,
            "year": self.year,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "city": self.city,
            "venue": self.venue,
        }


@dataclass(frozen=True)
class Event:
    """One event of the taxonomy."""

    slug: str
    name_en: str | None = None
    name_zh: str | None = None
    names_en: tuple[str, ...] = ()
    names_zh: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    venues: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    organisers: tuple[str, ...] = ()
    first_year: int | None = None
    last_year: int | None = None
    successor: str | None = None
    notes: str | None = None
    editions: tuple[Edition, ...] = ()

    @property
    def name(self) -> str:
        """The display name: English if known, else Chinese."""
        return self.name_en or self.name_zh or self.slug

    @property
    def names(self) -> tuple[str, ...]:
        """Every full name in both languages (unique to this event)."""
        main = tuple(n for n in (self.name_en, self.name_zh) if n)
        return main + self.names_en + self.names_zh

    def active_in(self, year: int) -> bool:
        """Whether the event can have been held in this year under this name."""
        if self.first_year is not None and year < self.first_year:
            return False
        return self.last_year is None or year <= self.last_year

    def edition_for_year(self, year: int) -> Edition | None:
        """The known edition held in this year, if any."""
        return next((e for e in self.editions if e.year == year), None)

    def edition_for_ordinal(self, ordinal: int) -> Edition | None:
        """The known edition with this ordinal, if any."""
        return next((e for e in self.editions if e.ordinal == ordinal), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, for `expowatch events list --format json`."""
        out: dict[str, Any] = {"slug": self.slug}
        for key in ("name_en", "name_zh", *_STR_LIST_KEYS, *_YEAR_KEYS, "successor", "notes"):
            value = getattr(self, key)
            out[key] = list(value) if isinstance(value, tuple) else value
        out["editions"] = [e.to_dict() for e in self.editions]
        return out


class Taxonomy:
    """The merged set of events: iterate, look up by slug, list editions."""

    def __init__(self, events: tuple[Event, ...], files: tuple[Path, ...] = ()) -> None:
        self.events = events
        self.files = files
        self._by_slug = {e.slug: e for e in events}

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __contains__(self, slug: object) -> bool:
        return slug in self._by_slug

    def __getitem__(self, slug: str) -> Event:
        try:
            return self._by_slug[slug]
        except KeyError:
            known = ", ".join(sorted(self._by_slug))
            raise KeyError(f"unknown event {slug!r} (known: {known})") from None

    def get(self, slug: str) -> Event | None:
        """The event with this slug, or None."""
        return self._by_slug.get(slug)

    def editions_for(self, slug: str) -> tuple[Edition, ...]:
        """Known editions of an event, oldest first (KeyError for an unknown slug)."""
        return self[slug].editions

    @cached_property
    def matcher(self) -> TermMatcher:
        """The compiled single-pass term matcher (built once per taxonomy)."""
        from crawler.events.matcher import TermMatcher

        return TermMatcher(self.events)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """The built-in events merged with the user's file.

    `path` None falls back to the EXPOWATCH_EVENTS environment variable; if that is
    unset too, only the built-in events are loaded. Raises EventsFileError.
    """
    if path is None:
        path = os.environ.get(EVENTS_ENV_VAR) or None
    if path is None:
        return builtin_taxonomy()
    return _load((BUILTIN_EVENTS_FILE, Path(path)))


@lru_cache(maxsize=1)
def builtin_taxonomy() -> Taxonomy:
    """The built-in taxonomy alone (cached: it is the tagger's default)."""
    return _load((BUILTIN_EVENTS_FILE,))


def _load(files: tuple[Path, ...]) -> Taxonomy:
    """Read the files in order, later entries extending earlier ones of the same slug."""
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, Path] = {}
    for file in files:
        for index, entry in enumerate(_read_entries(file), start=1):
            slug = entry["slug"]
            if slug in merged:
                _merge_entry(merged[slug], entry)
            else:
                merged[slug] = entry
            origin.setdefault(slug, file)
            _check_edition_years(file, index, merged[slug])
        _check_cross_references(file, merged)
    for slug, entry in merged.items():
        if not (entry.get("name_en") or entry.get("name_zh")):
            raise EventsFileError(f"{origin[slug]}: event {slug!r}: needs name_en or name_zh")
    return Taxonomy(tuple(_build_event(entry) for entry in merged.values()), files)


def _read_entries(file: Path) -> list[dict[str, Any]]:
    """Parse and validate one events file into normalised entry dicts."""
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EventsFileError(f"{file}: events file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EventsFileError(f"{file}: cannot read events file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise EventsFileError(f"{file}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - {"event"})
    if unknown:
        raise EventsFileError(
            f"{file}: unknown top-level key {unknown[0]!r} (events go in [[event]] tables)"
        )
    entries = raw.get("event", [])
    if not isinstance(entries, list):
        raise EventsFileError(f"{file}: 'event' must be an array of tables ([[event]])")
    seen: set[str] = set()
    out = []
    for index, entry in enumerate(entries, start=1):
        normalised = _validate_entry(file, index, entry)
        if normalised["slug"] in seen:
            raise EventsFileError(
                f"{file}: event #{index} ({normalised['slug']!r}): slug appears twice in this file"
            )
        seen.add(normalised["slug"])
        out.append(normalised)
    return out


def _validate_entry(file: Path, index: int, entry: Any) -> dict[str, Any]:
    """Check one [[event]] table's keys and types; return it with tuples for lists."""
    where = f"{file}: event #{index}"
    if not isinstance(entry, dict):
        raise EventsFileError(f"{where}: must be a table")
    slug = entry.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise EventsFileError(
            f"{where}: key 'slug': expected a lowercase-hyphenated string, got {slug!r}"
        )
    where = f"{where} ({slug!r})"
    out: dict[str, Any] = {"slug": slug}
    for key, value in entry.items():
        if key not in EVENT_KEYS:
            raise EventsFileError(
                f"{where}: unknown key {key!r} (known: {', '.join(sorted(EVENT_KEYS))})"
            )
        if key in _STR_KEYS:
            out[key] = _expect_text(where, key, value)
        elif key in _STR_LIST_KEYS:
            if not isinstance(value, list):
                raise EventsFileError(f"{where}: key {key!r}: expected a list of strings")
            out[key] = tuple(_expect_text(where, key, item) for item in value)
        elif key in _YEAR_KEYS:
            out[key] = _expect_int(where, key, value, MIN_YEAR, MAX_YEAR)
        elif key == "edition":
            if not isinstance(value, list):
                raise EventsFileError(f"{where}: key 'edition': expected [[event.edition]] tables")
            out[key] = tuple(
                _validate_edition(f"{where}: edition #{n}", item)
                for n, item in enumerate(value, start=1)
            )
    for acronym in out.get("acronyms", ()):
        if not ACRONYM_RE.match(acronym):
            raise EventsFileError(
                f"{where}: key 'acronyms': {acronym!r} must be 2-10 upper-case letters/digits"
            )
    first, last = out.get("first_year"), out.get("last_year")
    if first is not None and last is not None and last < first:
        raise EventsFileError(f"{where}: key 'last_year': {last} is before first_year {first}")
    return out


def _validate_edition(where: str, item: Any) -> Edition:
    if not isinstance(item, dict):
        raise EventsFileError(f"{where}: must be a table")
    for key in item:
        if key not in EDITION_KEYS:
            raise EventsFileError(
                f"{where}: unknown key {key!r} (known: {', '.join(sorted(EDITION_KEYS))})"
            )
    ordinal = item.get("ordinal")
    year = item.get("year")
    if ordinal is None and year is None:
        raise EventsFileError(f"{where}: needs 'ordinal' or 'year'")
    edition = Edition(
        ordinal=None if ordinal is None else _expect_int(where, "ordinal", ordinal, 1, 1000),
        year=None if year is None else _expect_int(where, "year", year, MIN_YEAR, MAX_YEAR),
        start=_expect_date(where, "start", item.get("start")),
        end=_expect_date(where, "end", item.get("end")),
        city=None if item.get("city") is None else _expect_text(where, "city", item["city"]),
        venue=None if item.get("venue") is None else _expect_text(where, "venue", item["venue"]),
    )
    if edition.start and edition.end and edition.end < edition.start:
        raise EventsFileError(f"{where}: key 'end': {edition.end} is before start {edition.start}")
    if edition.year is not None and edition.start and edition.start.year != edition.year:
        raise EventsFileError(f"{where}: key 'start': {edition.start} is not in year {edition.year}")
    return edition


def _expect_text(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EventsFileError(f"{where}: key {key!r}: expected a non-empty string, got {value!r}")
    return value.strip()


def _expect_int(where: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EventsFileError(
            f"{where}: key {key!r}: expected an integer from {low} to {high}, got {value!r}"
        )
    return value


def _expect_date(where: str, key: str, value: Any) -> date | None:
    if value is None:
        return None
    # TOML datetimes are date subclasses: an edition date is a plain day.
    if not isinstance(value, date) or hasattr(value, "hour"):
        raise EventsFileError(
            f"{where}: key {key!r}: expected a TOML date like 2021-05-20, got {value!r}"
        )
    return value


def _merge_entry(base: dict[str, Any], extra: dict[str, Any]) -> None:
    """Extend an existing event with a later file's entry of the same slug."""
    for key, value in extra.items():
        if key == "edition":
            base[key] = _merge_editions(base.get(key, ()), value)
        elif key in _STR_LIST_KEYS:
            base[key] = tuple(dict.fromkeys(base.get(key, ()) + value))
        else:
            base[key] = value


def _merge_editions(base: tuple[Edition, ...], extra: tuple[Edition, ...]) -> tuple[Edition, ...]:
    """Editions keyed by year (else ordinal); a later entry's known fields win."""
    merged = list(base)
    for new in extra:
        for i, old in enumerate(merged):
            if (new.year is not None and new.year == old.year) or (
                new.year is None and new.ordinal is not None and new.ordinal == old.ordinal
            ):
                merged[i] = Edition(**{
                    f: getattr(new, f) if getattr(new, f) is not None else getattr(old, f)
                    for f in ("ordinal", "year", "start", "end", "city", "venue")
                })
                break
        else:
            merged.append(new)
    return tuple(sorted(merged, key=lambda e: (e.year or MAX_YEAR + 1, e.ordinal or 0)))


def _check_edition_years(file: Path, index: int, entry: dict[str, Any]) -> None:
    """Editions must fit the event's years, and an ordinal names one year only."""
    slug = entry["slug"]
    first, last = entry.get("first_year"), entry.get("last_year")
    by_ordinal: dict[int, int] = {}
    for edition in entry.get("edition", ()):
        if edition.year is not None and (
            (first is not None and edition.year < first) or (last is not None and edition.year > last)
        ):
            raise EventsFileError(
                f"{file}: event #{index} ({slug!r}): edition year {edition.year} is outside "
                f"first_year..last_year ({first}..{last})"
            )
        if edition.ordinal is not None and edition.year is not None:
            other = by_ordinal.setdefault(edition.ordinal, edition.year)
            if other != edition.year:
                raise EventsFileError(
                    f"{file}: event #{index} ({slug!r}): edition ordinal {edition.ordinal} "
                    f"is given both year {other} and {edition.year}"
                )


def _check_cross_references(file: Path, merged: dict[str, dict[str, Any]]) -> None:
    """Successors must exist; a full name belongs to one event and is no one's alias."""
    owner: dict[str, str] = {}
    for slug, entry in merged.items():
        successor = entry.get("successor")
        if successor is not None and successor not in merged:
            raise EventsFileError(
                f"{file}: event {slug!r}: key 'successor': unknown event {successor!r}"
            )
        for key in ("name_en", "names_en", "name_zh", "names_zh"):
            for name in _as_tuple(entry.get(key)):
                other = owner.setdefault(normalise_term(name), slug)
                if other != slug:
                    raise EventsFileError(
                        f"{file}: event {slug!r}: key {key!r}: name {name!r} already belongs "
                        f"to {other!r} (shared short names go in 'aliases')"
                    )
    for slug, entry in merged.items():
        for alias in entry.get("aliases", ()):
            other = owner.get(normalise_term(alias))
            if other is not None:
                raise EventsFileError(
                    f"{file}: event {slug!r}: key 'aliases': {alias!r} is a full name of {other!r}"
                )


def _as_tuple(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value


def normalise_term(term: str) -> str:
    """The form terms are compared in: lower case, runs of spaces/hyphens as one space."""
    return re.sub(r"[\s\-]+", " ", term.strip()).lower()


def _build_event(entry: dict[str, Any]) -> Event:
    fields = {k: v for k, v in entry.items() if k != "edition"}
    return Event(**fields, editions=tuple(entry.get("edition", ())))
