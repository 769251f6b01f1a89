"""Rows a spreadsheet adds below the data: a "Total" row (or "Sum", "Grand total",
"Average"...) whose numbers sum or average the column above. Exported with the data, such a
row trains as an example: an amount the size of the whole column, often with its other
fields empty, which pulls a regression far off (and, in a classification, adds a class of
one row).

A trailing row counts as such only when both are true, so that a real last row is never
taken for one:
- one of its text cells is a total's label (`LABEL`: total, totals, grand total, subtotal,
  sum, average, mean, and the same words in German, French, Spanish, Italian and Dutch);
- it has no number at all, or at least one of its numbers is the sum or the mean of its
  column above the summary rows (to 0.5 %, as displayed figures are rounded).

At most `MAX_ROWS` rows are looked at, from the end up: Total, then Average, then Count."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS = 3
TOLERANCE = 0.005  # relative: a total shown rounded to the cents or thousands still matches
LABEL = re.compile(
    r"^\s*(grand[\s-]*|sub[\s-]*)?"
    r"(totals?|sum|sums|average|avg|mean|summe|gesamt|gesamtsumme|total\s+g[ée]n[ée]ral"
    r"|totale|suma|totaal|som|moyenne|promedio|media|durchschnitt)\s*:?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SummaryRow:
    """A trailing row taken for a spreadsheet's summary: its position, its label and the
    column whose sum or mean it holds (None when it holds no number)."""

    position: int
    label: str
    column: str | None
    kind: str | None  # "sum" or "mean"

    def describe(self) -> str:
        holds = f", its '{self.column}' the {self.kind} of the rows above" if self.column else ""
        return f"'{self.label}' (row {self.position + 1} of the data{holds})"


def summary_rows(frame: pd.DataFrame) -> list[SummaryRow]:
    """The summary rows at the end of `frame` (its columns as read: text or numbers), in
    the frame's order; none when the last row is not one."""
    labelled: list[tuple[int, str]] = []
    for position in range(len(frame) - 1, max(len(frame) - 1 - MAX_ROWS, 0), -1):
        label = _label(frame.iloc[position])
        if label is None:
            break
        labelled.append((position, label))
    if not labelled:
        return []
    above = frame.iloc[: labelled[-1][0]]  # as read: a column is made numbers when asked
    found = []
    for position, label in reversed(labelled):
        row = _numbers(frame.iloc[[position]]).iloc[0]
        given = {name: value for name, value in row.items() if math.isfinite(value)}
        held = _held(given, above)
        if given and held is None:  # numbers, none of them a total: a row of data
            return []
        found.append(SummaryRow(position, label, *(held or (None, None))))
    return found


def _label(row: pd.Series) -> str | None:
    for value in row.tolist():
        if isinstance(value, str) and len(value) <= 40 and LABEL.match(value):
            return value.strip()
    return None


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Each column as numbers where it holds them (text that is not one: NaN)."""
    import pandas as pd

    return frame.apply(lambda column: pd.to_numeric(column, errors="coerce")).astype("float64")


def _held(given: dict[Any, float], above: pd.DataFrame) -> tuple[str, str] | None:
    """(column, "sum" or "mean"): the first of the `given` numbers that sums or averages its
    column in `above`; None when none does."""
    import pandas as pd

    for name, value in given.items():
        if name not in above:
            continue
        column = pd.to_numeric(above[name], errors="coerce").astype("float64").dropna()
        if column.empty:
            continue
        for kind, figure in (("sum", float(column.sum())), ("mean", float(column.mean()))):
            if _close(value, figure):
                return str(name), kind
    return None


def _close(value: float, figure: float) -> bool:
    return abs(value - figure) <= TOLERANCE * max(abs(figure), 1e-12)


def without_summary_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """`frame` less its summary rows, and one description of each left out."""
    found = summary_rows(frame)
    if not found:
        return frame, []
    kept = frame.drop(index=frame.index[[row.position for row in found]])
    return kept.reset_index(drop=True), [row.describe() for row in found]


def summary_note(described: list[str]) -> str | None:
    """The training note for the rows `without_summary_rows` left out, if any."""
    if not described:
        return None
    rows = "; ".join(described)
    return (
        f"left out {len(described)} row(s) at the end of the source that a spreadsheet adds "
        f"to sum up the data, not examples to learn from: {rows}. The raw copy keeps them; "
        'to train on them, set "summary_rows": "keep" in the parser config'
    )
