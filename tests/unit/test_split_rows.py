"""A `dataframe_split` read as sent (`SplitRows`): its block is encoded without making a
row object per row, and every answer and refusal is the one the rows by name get."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from core.errors import ValidationError
from core.featurespec import SMALL_BLOCK, ColumnSpec, FeatureSpec, SplitRows, row_dicts
from tests.unit.test_api import api as api  # the fixture: the app with a champion

NAMES = ["a", "b", "c"]


def _numeric(names: list[str] = NAMES, dropped: dict[str, str] | None = None) -> FeatureSpec:
    return FeatureSpec(tuple(ColumnSpec(n, f"in_{n}", "numeric") for n in names), dropped or {})


def _same_feeds(spec: FeatureSpec, columns: list[str], data: list[list[Any]]) -> bool:
    """The split's feeds equal the feeds of the same rows by name, array for array; True
    when the split was read as a block (no row by name made)."""
    rows = SplitRows(columns, data)
    split = spec.encode_rows(rows)
    by_name = spec.encode_rows([dict(zip(columns, row, strict=True)) for row in data])
    assert split.keys() == by_name.keys()
    for name, values in by_name.items():
        assert split[name].dtype == values.dtype
        np.testing.assert_array_equal(split[name], values)
    return rows._dicts is None


@pytest.mark.parametrize(
    "data",
    [
        [[1.5, 2, -3.25]],  # one row, ints and floats
        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],
        [[math.nan, 0.1, 3.4028234663852886e38]],  # missing, float32's limit
        [[2**53 + 1, -(2**60), 0.1]],  # integers beyond float64's exact range
        [[float(i), float(i + 1), float(i + 2)] for i in range(SMALL_BLOCK)],  # numpy's way
    ],
)
def test_a_split_of_the_features_in_order_encodes_as_its_rows_by_name(data: Any) -> None:
    assert _same_feeds(_numeric(), NAMES, data)  # and as one block, no row object made


@pytest.mark.parametrize(
    ("columns", "data"),
    [
        (["c", "a", "b"], [[3.0, 1.0, 2.0]]),  # another order
        (["a", "b", "c", "gone"], [[1.0, 2.0, 3.0, 9.0]]),  # a column dropped at training
        (["a", "b", "c"], [[1.0, None, 3.0]]),  # a missing value as null
        (["a", "b", "c"], [[1.0, "2.5", 3.0]]),  # a number as text
    ],
)
def test_any_other_split_is_read_by_name_with_the_same_result(
    columns: list[str], data: list[list[Any]]
) -> None:
    assert not _same_feeds(_numeric(dropped={"gone": "constant"}), columns, data)


@pytest.mark.parametrize(
    ("columns", "data", "named"),
    [
        (["a", "b"], [[1.0, 2.0]], "missing feature(s) ['c']"),
        (["a", "b", "c", "x"], [[1.0, 2.0, 3.0, 4.0]], "unknown feature(s) ['x']"),
        (["a", "b", "c"], [[1.0, 2.0, 3.0], [1.0, True, 3.0]], "row 1"),
        (["a", "b", "c"], [[1.0, 2.0, 1e39]], "'c'"),  # beyond float32
        (["a", "b", "c"], [], "non-empty"),
    ],
)
def test_a_split_is_refused_as_its_rows_by_name_are(
    columns: list[str], data: list[list[Any]], named: str
) -> None:
    spec = _numeric()
    with pytest.raises(ValidationError) as by_name:
        spec.encode_rows(SplitRows(columns, data).dicts())
    with pytest.raises(ValidationError) as split:
        spec.encode_rows(SplitRows(columns, data))
    assert split.value.message == by_name.value.message
    assert named in split.value.message


def test_a_ragged_split_is_never_read_as_a_block() -> None:
    """Rows of 2 and 4 values hold 6 = 2 x 3 values: a block would shift them across rows."""
    ragged = SplitRows(NAMES, [[1.0, 2.0], [3.0, 4.0, 5.0, 6.0]])
    with pytest.raises(ValidationError, match="row 0: missing feature"):
        _numeric().encode_rows(ragged)


def test_a_spec_with_other_kinds_reads_the_split_by_name() -> None:
    spec = FeatureSpec(
        (
            ColumnSpec("colour", "colour", "categorical", "one_hot", ("blue", "red")),
            ColumnSpec("size", "size", "numeric"),
        )
    )
    assert not _same_feeds(spec, ["colour", "size"], [["red", 2.0], ["blue", 3.5]])


def test_rows_by_name_are_made_once_and_a_list_passes_unchanged() -> None:
    split = SplitRows(["a", "b", "a"], [[1, 2, 3]])
    made = row_dicts(split)
    assert made == [{"a": 3, "b": 2}]  # a column named twice: its last value, as JSON reads
    assert row_dicts(split) is made
    rows = [{"a": 1}]
    assert row_dicts(rows) is rows
    assert len(split) == 1


def test_the_prediction_log_holds_a_splits_rows_by_name(api: Any) -> None:
    """Through the app: a split /predict is answered as its rows by name are, and the
    prediction log records those rows, not the split."""
    import json

    from core.logs import PredictionLog
    from tests.unit.test_api import ROW, token

    client, services = api
    services.predictor.log = PredictionLog(services.store, batch_size=1)
    split = {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())] * 2}}
    answer = client.post("/predict", json=split, headers=token("predict"))
    by_name = client.post("/predict", json={"instances": [ROW] * 2}, headers=token("predict"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["probabilities"] == by_name.json()["probabilities"]
    lines = [
        json.loads(line)
        for key in services.store.list("logs/predictions/")
        for line in services.store.read_bytes(key).decode().splitlines()
    ]
    assert [line["inputs"] for line in lines] == [[ROW, ROW], [ROW, ROW]]
