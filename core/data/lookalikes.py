"""Columns that look like numbers or dates but are read as categories, noted for the user.

A spreadsheet's export often keeps what a person reads: amounts with a currency sign
(`$1,200.50`, `12,99 €`), percentages (`45%`), dates written day or month first
(`03/01/2024`). mlfn does not guess those (a sign could be part of a code, `03/01` is the
3rd of January or the 1st of March), so such a column is read as categories: the model sees
one-hot flags of its most frequent values, not the amounts or the dates. So is a column of
numbers with a few words standing for "missing" (`unknown`, `?`). The training summary
says so, naming the column, its values and how to write them instead."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SAMPLED = 2_000  # values looked at per column: the note names a kind, it needs no census
PLACEHOLDERS, PLACEHOLDER_SHARE = 3, 0.2  # at most 3 distinct words, in at most 20% of values
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
    (
        "dates written with slashes or dots, year first",
        re.compile(r"\d{4}([/.])\d{1,2}\1\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2})?)?"),
        "write them as ISO dates (2024-03-01, dashes) to have them read as dates (year, "
        "month, day, weekday)",
    ),
)


def lookalike_note(name: str, column: pd.Series) -> str | None:
    """A note when every sampled value of a column read as categories is written as one
    of the kinds above (None when any is not, or the column is empty)."""
    values = _sampled(column)
    if values.empty:
        return None
    found = lookalike_kind(values)
    if found is not None:
        kind, fix = found
        return (
            f"feature '{name}': its values are {kind} (e.g. {values.iloc[0]!r}), so it is "
            f"read as categories, not as {_read_as(kind)}: {fix}"
        )
    return _list_note(name, values) or _placeholder_note(name, values)


def _list_note(name: str, values: pd.Series) -> str | None:
    """JSON arrays (`"tags": ["x", "y"]` in records): each distinct list is one category."""
    if not (values.str.startswith("[").all() and values.str.endswith("]").all()):
        return None
    try:
        json.loads(values.iloc[0])
    except ValueError:  # "[urgent]": a label in brackets, not a list
        return None
    return (
        f"feature '{name}': its values are lists (e.g. {values.iloc[0]}), so each distinct "
        'list is one category (in its order: ["x", "y"] is not ["y", "x"]); to learn '
        "from each item, give each its own true/false column"
    )


def quantity_target_error(name: str, column: pd.Series) -> str | None:
    """Why a text target whose values are amounts or percentages cannot be inferred as
    classes (each would be a class of its own), and what to write; None otherwise."""
    values = _sampled(column)
    found = lookalike_kind(values) if not values.empty else None
    if found is None or found[0].startswith("dates"):
        return None
    kind, fix = found
    return (
        f"target '{name}': its values are {kind} (e.g. {values.iloc[0]!r}), read as text, so "
        f"as classes each would be one of its own; {fix} (the task is then regression), or "
        'set "task": "classification" if they are classes'
    )


def lookalike_kind(values: pd.Series) -> tuple[str, str] | None:
    """(kind, how to write it) when every value is written as one kind above."""
    for kind, pattern, fix in LOOKALIKES:
        if values.str.fullmatch(pattern).all():
            return kind, fix
    return None


def _sampled(column: pd.Series) -> pd.Series:
    values = column.dropna().astype(str).str.strip()
    return values[values != ""].head(SAMPLED)


def _placeholder_note(name: str, values: pd.Series) -> str | None:
    """Numbers but for a few words standing for "missing" ('unknown', '?', '-')."""
    import pandas as pd

    words = values[pd.to_numeric(values, errors="coerce").isna()]
    if words.empty or len(words) > PLACEHOLDER_SHARE * len(values):
        return None
    found = words.value_counts()
    if len(found) > PLACEHOLDERS:
        return None
    shown = ", ".join(repr(word) for word in found.index)
    return (
        f"feature '{name}': numbers but for {shown} ({len(words)} of the {len(values)} values "
        "looked at), so it is read as categories: if they mean missing, list them in the "
        'parser config\'s "missing_values" (or leave those cells empty)'
    )


def _read_as(kind: str) -> str:
    return "dates" if kind.startswith("dates") else "numbers"


def spelling_variants(labels: list[object]) -> list[list[str]]:
    """Groups of text labels that differ only in case or surrounding spaces ('Yes',
    'yes ', 'YES'): kept apart as distinct values, which is rarely what the data meant."""
    groups: dict[str, list[str]] = {}
    for label in labels:
        if isinstance(label, str):
            groups.setdefault(label.strip().casefold(), []).append(label)
    return [sorted(group) for group in groups.values() if len(group) > 1]


def variants_note(what: str, labels: list[object], noun: str) -> str | None:
    """A note naming the spelling variants among `labels` (None when there are none)."""
    found = spelling_variants(labels)
    if not found:
        return None
    shown = "; ".join(", ".join(repr(label) for label in group) for group in found[:3])
    more = f" (and {len(found) - 3} more groups)" if len(found) > 3 else ""
    return (
        f"{what}: {noun} {shown}{more} differ only in case or surrounding spaces and are "
        "kept apart; if each group is one value, write it one way in the data"
    )
