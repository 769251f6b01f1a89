"""Feature columns that identify rows rather than describe them, noted for the user.

A customer id, an order number or a row number exported with the data has a different
value in every row. As categories, each value is seen once in training and never again, so
the column adds size but no skill; as numbers, a row number lets the model learn the order
the file was written in. The training summary says so, naming the column."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MIN_ROWS = 30  # fewer rows say little about whether values repeat


def identifier_note(name: str, column: pd.Series, kind: str) -> str | None:
    """A note for a categorical column with a different value in every row, or a numeric
    one holding the row numbers (each whole number of a run, once); else None."""
    values = column.dropna()
    if len(values) < MIN_ROWS:
        return None
    if kind == "categorical" and values.nunique() == len(values):
        return (
            f"feature '{name}': a different value in each of its {len(values)} rows, like an "
            "identifier: a new row's value was never seen in training, so it cannot help "
            'predict; leave it out of "features"'
        )
    if kind == "numeric" and _row_numbers(values):
        low, high = int(values.min()), int(values.max())
        return (
            f"feature '{name}': the whole numbers {low} to {high}, each once, like row "
            "numbers: the model would learn the order of the file, not the data; leave it "
            'out of "features"'
        )
    return None


def _row_numbers(values: pd.Series) -> bool:
    import numpy as np

    numbers = values.to_numpy(dtype="float64")
    if not np.array_equal(numbers, np.round(numbers)):
        return False
    span = numbers.max() - numbers.min() + 1
    return bool(span == len(numbers) and len(np.unique(numbers)) == len(numbers))
