"""What the training summary tells about the data — GIVEN a dataset with an identifier
column, row numbers, unlabelled rows or very few rows WHEN trained THEN a note says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.identifiers import identifier_note
from core.training.run import train
from tests.conftest import data_project


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
    settings, store = data_project(tmp_path, ["id", "a", "b"], source)
    notes = train(settings, store)["notes"]
    assert any("feature 'id': a different value in each of its 183 rows" in n for n in notes)
    assert any("17 rows of the source have no value for the target 'y'" in n for n in notes)


def test_a_handful_of_held_out_rows_is_noted(tmp_path: Path) -> None:
    source = _write(tmp_path / "d.csv", 12)
    settings, store = data_project(tmp_path, ["a", "b"], source)
    summary = train(settings, store)
    assert any(n.startswith("only 3 rows are held out") for n in summary["notes"]), summary


def test_a_target_of_amounts_is_not_taken_for_classes() -> None:
    from core.data.ingest import infer_task
    from core.errors import DataError

    prices = pd.Series([f"${1000 + 7.5 * i:,.2f}" for i in range(50)], name="price")
    expected = r"target 'price': its values are amounts with a currency sign \(e\.g\. '\$1,000"
    with pytest.raises(DataError, match=expected + r".*task is then regression"):
        infer_task(prices)
    assert infer_task(pd.Series(["high", "low"] * 10, name="risk")) == "classification"


@pytest.mark.parametrize(("singletons", "notes"), [(3, 3), (40, 1)])
def test_classes_of_one_row_are_named_or_counted(singletons: int, notes: int) -> None:
    from core.training.targets import encode_target

    labels = ["yes", "no"] * 20 + [f"odd-{i}" for i in range(singletons)]
    targets = encode_target(pd.Series(labels), "classification", "y")
    assert len(targets.notes) == notes and targets.classes == ["no", "yes"]
    assert (singletons > 5) == ('40 classes of 1 row each ("odd-0"' in targets.notes[0])


def test_a_target_of_distinct_values_suggests_regression() -> None:
    from core.errors import DataError
    from core.training.targets import encode_target

    with pytest.raises(DataError, match=r'30 distinct values in 30 rows; if the target is a '
                       r'quantity, set "task": "regression"'):  # fmt: skip
        encode_target(pd.Series([f"v{i}" for i in range(30)]), "classification", "y")
