"""The web view's search parameters: one table that both reads requests and documents the API.

Every search page, API call, download and feed takes the same parameters, with the
names and meaning of `expowatch search`'s options (`q` is the query text). A value
that cannot be used is a BadParameter naming it, which the app answers with 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from starlette.datastructures import QueryParams

from storage.queries import (
    ROLES,
    BadSearchOption,
    SearchQuery,
    query_from_options,
    time_zone,
)

PAGE_SIZE = 20  # results per page unless `limit` says otherwise: one screen
MAX_PAGE_SIZE = 200  # a page or API call returns at most this many; downloads stream everything
MAX_VALUE_LENGTH = 2000  # any one parameter value: far more than a person types, small enough to refuse junk
MAX_REPEATS = 50  # values of one repeatable parameter


class BadParameter(ValueError):
    """A request parameter that cannot be used: the message names it and says what is expected."""


@dataclass(frozen=True)
class Parameter:
    """One query-string parameter: its name, JSON-schema type, whether it repeats, and help."""

    name: str
    type: str  # string | integer | boolean
    description: str
    repeat: bool = False
    enum: tuple[str, ...] = ()
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type}
        if self.enum:
            schema["enum"] = list(self.enum)
        if self.default is not None:
            schema["default"] = self.default
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.repeat:
            schema = {"type": "array", "items": schema}
        return {"name": self.name, "in": "query", "required": False, "description": self.description,
                "schema": schema, **({"style": "form", "explode": True} if self.repeat else {})}


DATE_HELP = "2024-06-20, 2024-06-20T09:00+08:00, today, yesterday, or an age: 30m, 12h, 7d, 2w"
SEARCH_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("q", "string", 'Search text: words that must all appear, "quoted phrases", -excluded, a OR b. '
                             "English and Chinese; words match inside longer words."),
    Parameter("event", "string", "Event slug, e.g. smart-china-expo (repeat for any of several).", repeat=True),
    Parameter("year", "integer", "Year of the event edition (repeatable).", repeat=True, minimum=1, maximum=9999),
    Parameter("edition", "integer", "Edition number of the event, 5 for the 5th (repeatable).", repeat=True,
              minimum=1, maximum=9999),
    Parameter("role", "string", "Only articles about the event (primary) or merely mentioning it.", enum=ROLES),
    Parameter("source", "string", "Source name (repeatable); a story matches if this source carried it or a copy.",
              repeat=True),
    Parameter("lang", "string", "Language code such as en or zh (repeatable).", repeat=True),
    Parameter("since", "string", f"From this date on: {DATE_HELP}."),
    Parameter("until", "string", f"Before this date (a bare date includes that day): {DATE_HELP}."),
    Parameter("dates", "string", "Which date since/until test.", enum=("published", "first-seen"),
              default="published"),
    Parameter("tz", "string", "Time zone of dates without an offset, and of dates shown (IANA name).",
              default="UTC"),
    Parameter("copies", "boolean", "Every copy of a story (true), not one row per story.", default=False),
    Parameter("sort", "string", "Newest published first, newest first seen first, or best match first.",
              enum=("published", "first-seen", "relevance"), default="published"),
    Parameter("limit", "integer", "Results per page.", default=PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE),
    Parameter("offset", "integer", "Results skipped first (paging).", default=0, minimum=0),
)
BY_NAME = {p.name: p for p in SEARCH_PARAMETERS}
TRUE, FALSE = ("1", "true", "yes", "on", "all"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class SearchParams:
    """A validated search request: the storage query and the zone dates are shown in."""

    query: SearchQuery
    tz_name: str = "UTC"

    @property
    def tz(self):
        return time_zone(self.tz_name)


def _integer(param: Parameter, raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadParameter(f"{param.name}={raw!r}: expected a whole number") from None
    if param.minimum is not None and value < param.minimum or param.maximum is not None and value > param.maximum:
        bounds = f"from {param.minimum}" + (f" to {param.maximum}" if param.maximum is not None else " up")
        raise BadParameter(f"{param.name}={value}: expected a number {bounds}")
    return value


def _boolean(param: Parameter, raw: str) -> bool:
    value = raw.strip().lower()
    if value in TRUE or value in FALSE:
        return value in TRUE
    raise BadParameter(f"{param.name}={raw!r}: expected true or false")


def _choice(param: Parameter, raw: str) -> str:
    if raw not in param.enum:
        raise BadParameter(f"{param.name}={raw!r}: expected one of {', '.join(param.enum)}")
    return raw


def read_values(params: QueryParams, allowed: Mapping[str, Parameter] = BY_NAME) -> dict[str, Any]:
    """The request's parameters, typed; empty values count as not given. BadParameter otherwise."""
    values: dict[str, Any] = {}
    for name in dict.fromkeys(params.keys()):
        param = allowed.get(name)
        if param is None:
            raise BadParameter(f"unknown parameter {name!r} (expected: {', '.join(allowed)})")
        raws = [r for r in params.getlist(name) if r.strip()]
        if not raws:
            continue
        if len(raws) > (MAX_REPEATS if param.repeat else 1):
            raise BadParameter(f"{name}: given {len(raws)} times" + ("" if param.repeat else "; give it once"))
        if any(len(r) > MAX_VALUE_LENGTH for r in raws):
            raise BadParameter(f"{name}: a value longer than {MAX_VALUE_LENGTH} characters")
        convert: Callable[[Parameter, str], Any] = (
            _integer if param.type == "integer" else _boolean if param.type == "boolean"
            else _choice if param.enum else (lambda _p, r: r.strip() if name != "q" else r))
        typed = [convert(param, r) for r in raws]
        values[name] = typed if param.repeat else typed[0]
    return values


def search_params(params: QueryParams, *, default_limit: int | None = PAGE_SIZE) -> SearchParams:
    """A SearchParams from a request's query string, read exactly as `expowatch search` reads its options."""
    values = read_values(params)
    tz_name = values.get("tz", "UTC")
    try:
        zone = time_zone(tz_name)
    except ValueError as exc:
        raise BadParameter(f"tz={exc}") from None
    try:
        query = query_from_options(
            text=values.get("q"), events=[e.lower() for e in values.get("event", ())], years=values.get("year", ()),
            editions=values.get("edition", ()), roles=(values["role"],) if "role" in values else (),
            sources=values.get("source", ()), languages=values.get("lang", ()), since=values.get("since"),
            until=values.get("until"), date_field=values.get("dates", "published").replace("-", "_"), tz=zone,
            all_copies=values.get("copies", False), sort=values.get("sort", "published").replace("-", "_"),
            limit=values.get("limit", default_limit), offset=values.get("offset", 0))
    except BadSearchOption as exc:
        name = {"text": "q", "date_field": "dates", "role": "role"}.get(exc.option, exc.option)
        raise BadParameter(f"{name}: {exc.message}") from None
    return SearchParams(query, tz_name)

