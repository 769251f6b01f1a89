"""What the training summary tells about the data — GIVEN a dataset with an identifier
column, row numbers, unlabelled rows or very few rows WHEN trained THEN a note says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.identifiers import identifier_note
from core.training.run import train
from tests.unit.test_changed_columns import _settings


@pytest.mark.parametrize(
    ("values", "kind", "expected"),
    [
        ([f"c{i:04d}" for i in range(40)], "categorical", "a different value in each of its 40"),
        (list(range(1, 41)), "numeric", "the whole numbers 1 to 40, each once"),
        ([float(i) for i in reversed(range(40))], "numeric", "the whole numbers 0 to 39"),
        ([f"c{i % 20}" for i in range(40)], "categorical", None),  # values repeat
        ([i * 0.5 for i in range(40)], "numeric", None),  # not whole numbers
        ([i * 2 for i in range(40)], "numeric", None),  # gaps: not a run
        ([f"c{i}" for i in range(10)], "categorical", None),  # too few rows to tell
    ],
)
def test_identifier_columns_are_told_apart(values: list, kind: str, expected: str | None) -> None:
    note = identifier_note("x", pd.Series(values), kind)
    assert note == expected if expected is None else expected in (note or "")


def _write(path: Path, rows: int, unlabelled: int = 0) -> Path:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    labels = np.where(a + b > 0, "yes", "no").astype(object)
    labels[:unlabelled] = ""
    frame = pd.DataFrame({"id": [f"u{i:05d}" for i in range(rows)], "a": a, "b": b, "y": labels})
    frame.to_csv(path, index=False)
    return path


def test_an_identifier_and_unlabelled_rows_are_noted(tmp_path: Path) -> None:
    source = _write(tmp_path / "d.csv", 200, unlabelled=17)
    settings, store = _settings(tmp_path, ["id", "a", "b"], source)
    notes = train(settings, store)["notes"]
    assert any("feature 'id': a different value in each of its 183 rows" in n for n in notes)
    assert any("17 rows of the source have no value for the target 'y'" in n for n in notes)


def test_a_handful_of_held_out_rows_is_noted(tmp_path: Path) -> None:
    source = _write(tmp_path / "d.csv", 12)
    settings, store = _settings(tmp_path, ["a", "b"], source)
    summary = train(settings, store)
    assert any(n.startswith("only 3 rows are held out") for n in summary["notes"]), summary
