"""How a categorical or text value becomes the string the model sees, and how a record's
nested objects become columns — shared by training and serving so both sides agree (2, 2.0
and "2" are the same category; `{"user": {"age": 31}}` is the column `user.age`). Light: no
pandas."""

from __future__ import annotations

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
    return None


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
