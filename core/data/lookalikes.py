"""Columns that look like numbers or dates but are read as categories, noted for the user.

A spreadsheet's export often keeps what a person reads: amounts with a currency sign
(`$1,200.50`, `12,99 €`), percentages (`45%`), dates written day or month first
(`03/01/2024`). mlfn does not guess those (a sign could be part of a code, `03/01` is the
3rd of January or the 1st of March), so such a column is read as categories: the model sees
one-hot flags of its most frequent values, not the amounts or the dates. The training
summary says so, naming the column, one of its values and how to write it instead."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SAMPLED = 2_000  # values looked at per column: the note names a kind, it needs no census
_NUMBER = r"\d[\d.,\s']*"
LOOKALIKES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "amounts with a currency sign",
        re.compile(rf"[-+(]?\s*[$€£¥₹₩₽]\s*[-+]?{_NUMBER}\)?|[-+]?{_NUMBER}\s*[$€£¥₹₩₽]"),
        "write them as plain numbers (1200.50) to have them read as amounts",
    ),
    (
        "percentages",
        re.compile(rf"[-+]?{_NUMBER}\s*%"),
        "write them as plain numbers (45 or 0.45) to have them read as numbers",
    ),
    (
        "dates written day or month first",
        # one separator throughout; with dots, a four-digit year (1.2.10 is a version)
        re.compile(
            r"(\d{1,2}([/-])\d{1,2}\2(\d{4}|\d{2})|\d{1,2}\.\d{1,2}\.\d{4})"
            r"([ T]\d{1,2}:\d{2}(:\d{2})?)?"
        ),
        "write them as ISO dates (2024-03-01) to have them read as dates (year, month, "
        "day, weekday)",
    ),
)


def lookalike_note(name: str, column: pd.Series) -> str | None:
    """A note when every sampled value of a column read as categories is written as one
    of the kinds above (None when any is not, or the column is empty)."""
    values = column.dropna().astype(str).str.strip()
    values = values[values != ""].head(SAMPLED)
    if values.empty:
        return None
    for kind, pattern, fix in LOOKALIKES:
        if values.str.fullmatch(pattern).all():
            return (
                f"feature '{name}': its values are {kind} (e.g. {values.iloc[0]!r}), so it is "
                f"read as categories, not as {_read_as(kind)}: {fix}"
            )
    return None


def _read_as(kind: str) -> str:
    return "dates" if kind.startswith("dates") else "numbers"
