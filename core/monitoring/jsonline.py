"""One JSON document as one log line, by orjson where the `api` extra installed it (a tenth
of the standard library's time), else by the standard library; either way compact, and
valid JSON a log pipeline parses (UTF-8 text; values JSON cannot hold go through
`default`, as str() by default)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    orjson = None  # type: ignore[assignment]


def json_bytes(document: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """The document as compact UTF-8 JSON: orjson's, or the standard library's for what
    orjson does not take (then `default`, if given, for what neither knows)."""
    if orjson is not None:
        try:
            return orjson.dumps(document, default=default)
        except TypeError:  # e.g. a dict key orjson does not take: the standard library's turn
            pass
    text = json.dumps(document, default=default, ensure_ascii=False, separators=(",", ":"))
    return text.encode()


def json_line(document: dict[str, Any], default: Callable[[Any], Any] = str) -> str:
    """The document on one line, newline included."""
    return json_bytes(document, default).decode() + "\n"
