"""How a categorical or text value becomes the string the model sees, and how a record's
nested objects become columns — shared by training and serving so both sides agree (2, 2.0
and "2" are the same category; `{"user": {"age": 31}}` is the column `user.age`). Light: no
pandas."""

from __future__ import annotations

import json
import math
from typing import Any


def category_text(value: Any) -> str | None:
    """The string form of a categorical/text value; None when it is not one."""
    if type(value).__module__ == "numpy":
        value = value.item()  # numpy scalars from a DataFrame column
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)  # "True"/"False", as pandas writes a boolean in a text column
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list | tuple):  # a JSON array ("tags": ["x", "y"]): its JSON text
        return list_text(value)
    return None


def list_text(values: Any) -> str | None:
    """A list of values as one category: its JSON text, in its order (`["x", "y"]`); None
    when it holds what JSON cannot write (or nests too deeply to write)."""
    try:
        return json.dumps(list(values), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # nested past what JSON text can write
        return None


def lists_as_text(records: list[Any]) -> list[Any]:
    """Records whose list values are written as `list_text`, as a request's are read (the
    records themselves when none holds a list)."""
    if not any(isinstance(r, dict) and any(isinstance(v, list) for v in r.values())
               for r in records):  # fmt: skip
        return records
    return [
        {k: list_text(v) if isinstance(v, list) else v for k, v in r.items()}
        if isinstance(r, dict)
        else r
        for r in records
    ]


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record with its nested objects flattened into dotted names, in order (as
    `pandas.json_normalize` names them): `{"user": {"age": 31}}` gives `{"user.age": 31}`.
    Without recursion: a body may nest as deep as JSON allows."""
    flat: dict[str, Any] = {}
    stack = [("", iter(record.items()))]
    while stack:
        prefix, items = stack[-1]
        for key, value in items:
            if isinstance(value, dict):
                stack.append((f"{prefix}{key}.", iter(value.items())))
                break
            flat[f"{prefix}{key}"] = value
        else:
            stack.pop()
    return flat


def has_nested(records: list[Any]) -> bool:
    """Some record holds an object as a value."""
    return any(
        isinstance(record, dict) and any(isinstance(value, dict) for value in record.values())
        for record in records
    )
