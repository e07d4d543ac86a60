"""JSON for queued requests (scrapy-redis SCHEDULER_SERIALIZER): what Request.to_dict() holds, bytes included.

Not pickle: a queue entry is data, so whoever can write to Redis can steer a crawl but
cannot run code on the workers, and `redis-cli ZRANGE` shows readable requests.
Bytes (headers, bodies) become {"$b": base64}; a dict with keys that are not text
(headers) becomes {"$d": [[key, value], ...]}. Output is canonical (sorted keys), so the
same request queued twice is the same entry.
"""

from __future__ import annotations

import base64
import json
from typing import Any

BYTES_TAG = "$b"
PAIRS_TAG = "$d"
_TAGS = (BYTES_TAG, PAIRS_TAG)


class UnqueueableValue(TypeError):
    """A request carries a value JSON cannot hold; the message names where it is."""


def _encode(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {BYTES_TAG: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not any(t in value for t in _TAGS):
            return {k: _encode(v, f"{where}.{k}") for k, v in value.items()}
        return {PAIRS_TAG: [[_encode(k, where), _encode(v, f"{where}[{k!r}]")] for k, v in value.items()]}
    raise UnqueueableValue(f"cannot queue {where}: a {type(value).__name__} is not JSON data")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and BYTES_TAG in value:
            return base64.b64decode(value[BYTES_TAG])
        if len(value) == 1 and PAIRS_TAG in value:
            return {_decode(k): _decode(v) for k, v in value[PAIRS_TAG]}
        return {k: _decode(v) for k, v in value.items()}
    return value


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes for a request dict."""
    return json.dumps(_encode(obj, "request"), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def loads(data: bytes | str) -> Any:
    """The request dict back from dumps()."""
    return _decode(json.loads(data))
