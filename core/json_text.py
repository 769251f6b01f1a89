"""JSON read with one rule more than the standard library's reader: every string is Unicode
text. `json.loads` turns an unpaired `\\ud800` escape into a lone surrogate, which no
model, Parquet file, log, job record or answer can encode (each raised deep inside, far
from the input). Every JSON mlfn reads — request bodies, `mlfn predict` inputs, training
data and HTTP sources — is read here, and such a string is named where it is read."""

from __future__ import annotations

import json
from typing import Any


def loads(data: bytes | str) -> Any:
    """`json.loads(data)`; UnicodeEncodeError (a ValueError) naming the first string, key or
    value, that holds a lone surrogate."""
    value = json.loads(data)
    if _may_hold_one(data):
        _refuse_lone_surrogates(value)
    return value


def _may_hold_one(data: bytes | str) -> bool:
    """Only an escape makes one; UTF-16 or UTF-32 bytes (a NUL among the first) are looked
    through whole."""
    if isinstance(data, str):
        return "\\ud" in data or "\\uD" in data
    return b"\\ud" in data or b"\\uD" in data or b"\x00" in data[:4]


def is_unicode(text: str) -> bool:
    """Whether `text` can be written as UTF-8: no lone surrogate, which a JSON reader makes of
    an unpaired `\\ud800` escape and which no model, log or answer can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_lone_surrogates(value: Any) -> None:
    waiting = [value]  # a loop, not recursion: JSON may nest as deep as the reader allows
    while waiting:
        item = waiting.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                item.encode("utf-8")  # raises the UnicodeEncodeError that names it
        elif isinstance(item, dict):
            waiting.extend(item)
            waiting.extend(item.values())
        elif isinstance(item, list):
            waiting.extend(item)
