"""How a categorical or text value becomes the string the model sees — shared by training and
serving so both sides agree (2, 2.0 and "2" are the same category). Light: no pandas."""

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
