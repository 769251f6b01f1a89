"""The feature specification: types inferred unless given, safe input names, and one value
conversion shared by training and serving."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.config import load_project_config
from core.errors import ValidationError
from core.features import build_feature_spec, build_preprocessor, prepare_frame
from core.featurespec import ColumnSpec, FeatureSpec, input_names, normalize_text
from core.schema import category_text
from tests.conftest import EXAMPLES


def _spec(**kinds: str) -> FeatureSpec:
    return FeatureSpec(tuple(ColumnSpec(n, n, k) for n, k in kinds.items()))


def test_types_inferred_unless_given() -> None:
    config = load_project_config(EXAMPLES / "products" / "config.json")
    frame = pd.read_csv(EXAMPLES / "products" / "products.csv")
    kinds = {c.name: c.kind for c in build_feature_spec(frame, config).columns}
    assert kinds == {
        "title": "categorical",
        "description": "text",
        "category": "categorical",
        "price": "numeric",
        "rating": "numeric",
    }
    unhinted = config.model_copy(update={"feature_types": {}})
    inferred = {c.name: c.kind for c in build_feature_spec(frame, unhinted).columns}
    assert inferred["description"] == "text" and inferred["category"] == "categorical"


def test_dates_booleans_constant_and_duplicate_columns() -> None:
    frame = pd.DataFrame(
        {
            "when": ["2024-01-01", "2024-02-03T10:00:00Z", None, "2023-12-31"],
            "flag": pd.array([True, False, None, True], dtype="boolean"),
            "same": [1, 1, 1, 1],
            "x": [1.0, 2.0, 3.0, 4.0],
            "x copy": [1.0, 2.0, 3.0, 4.0],
            "y": ["a", "b", "a", "b"],
        }
    )
    config = load_project_config(EXAMPLES / "iris" / "config.json").model_copy(
        update={
            "features": ["when", "flag", "same", "x", "x copy"],
            "feature_types": {},
            "target": "y",
        }
    )
    spec = build_feature_spec(frame, config)
    assert {c.name: c.kind for c in spec.columns} == {
        "when": "datetime",
        "flag": "boolean",
        "x": "numeric",
    }
    assert spec.dropped == {
        "same": "constant: a single value in every row",
        "x copy": "duplicate of 'x'",
    }
    prepared = prepare_frame(frame, spec)
    assert list(prepared["when__year"][:2]) == [2024, 2024]
    assert list(prepared["when__month"][:2]) == [1, 2] and prepared["when__hour"].iloc[1] == 10
    assert math.isnan(prepared["when__year"].iloc[2])
    assert list(prepared["flag"]) == ["true", "false", "", "true"]


def test_input_names_are_safe_unique_and_keep_plain_names() -> None:
    names = ["petal_width", "a/b", "a.b", "Größe (cm)", "label", "1st", "x", "X", "名前", "a b"]
    chosen = input_names(names)
    assert chosen[0] == "petal_width" and chosen[6] == "x"
    assert len({c.lower() for c in chosen}) == len(names)
    assert all(c.replace("_", "").isalnum() and c.isascii() for c in chosen)
    assert chosen[4] != "label"  # an output name of the graph


def test_one_conversion_for_training_and_serving() -> None:
    spec = _spec(n="numeric", b="boolean", c="categorical")
    feeds = spec.encode_rows(
        [{"n": "91.80", "b": "yes", "c": "02139"}, {"n": None, "b": False, "c": 2.0}]
    )
    assert feeds["n"][0] == np.float32(91.8) and math.isnan(feeds["n"][1])
    assert list(feeds["b"]) == ["true", "false"]
    assert list(feeds["c"]) == ["02139", "2"]  # a zip code stays a string, 2.0 is category "2"
    for bad, match in [
        ({"n": 1e39}, r"out of range \(1e\+39\)"),
        ({"n": float("inf")}, r"out of range \(inf\)"),  # as JSON's reader wrote it, no numpy
        ({"b": "maybe"}, "true or false"),
        ({"n": "abc"}, "must be a number"),
    ]:
        row = {"n": 1, "b": True, "c": "x", **bad}
        with pytest.raises(ValidationError, match=match):
            spec.encode_rows([row])


def test_text_normalisation_agrees_across_scripts() -> None:
    assert normalize_text("Naïve CAFÉ!") == "naive cafe "
    cyrillic = normalize_text("Привет мир")
    assert cyrillic.isascii() and len(cyrillic.split()) == 2


def test_category_text_is_one_rule_for_training_and_serving() -> None:
    assert category_text(2) == category_text(2.0) == category_text(np.float64(2.0)) == "2"
    assert category_text(np.int64(3)) == "3"
    assert category_text(2.5) == "2.5"
    assert category_text(None) == "" and category_text(float("nan")) == ""
    assert category_text(True) == "True" and category_text({"a": 1}) is None
    assert category_text([1, "x"]) == '[1, "x"]'  # a list: its JSON text (test_list_values)


def test_unknown_and_rare_categories_light_nothing() -> None:
    spec = FeatureSpec(
        (
            ColumnSpec("colour", "colour", "categorical", "one_hot", ("blue", "red")),
            ColumnSpec("size", "size", "numeric"),
        )
    )
    frame = pd.DataFrame({"colour": ["red", "blue"], "size": [1.0, 2.0]})
    encoded = (
        build_preprocessor(spec, 10)
        .fit(frame)
        .transform(pd.DataFrame({"colour": ["green"], "size": [1.5]}))
    )
    assert encoded.shape == (1, 3)
    assert list(encoded[0, 1:]) == [0.0, 0.0]


def test_categories_are_capped_by_frequency() -> None:
    values = [f"v{i}" for i in range(300)] + ["common"] * 50
    frame = pd.DataFrame({"c": values, "y": [0, 1] * 175})
    config = load_project_config(EXAMPLES / "iris" / "config.json").model_copy(
        update={"features": ["c"], "feature_types": {}, "target": "y", "max_categories": 20}
    )
    (column,) = build_feature_spec(frame, config).columns
    assert column.categories is not None and len(column.categories) == 20
    assert "common" in column.categories and column.encoding == "one_hot_top_20"


def test_tree_models_get_unscaled_numbers() -> None:
    spec = _spec(size="numeric")
    frame = pd.DataFrame({"size": [1.0, 3.0, None]})
    unscaled = build_preprocessor(spec, 10, scale_numeric=False).fit_transform(frame)
    assert list(unscaled[:, 0]) == [1.0, 3.0, 2.0]  # median-imputed only
    scaled = build_preprocessor(spec, 10).fit_transform(frame)
    assert abs(scaled[:, 0].mean()) < 1e-9


@pytest.mark.parametrize("rows", [1, 3, 200])  # checked in Python up to 256 values, numpy beyond
def test_small_and_large_numeric_batches_are_checked_alike(rows: int) -> None:
    spec = _spec(a="numeric", b="numeric")
    good = [{"a": float(i), "b": i} for i in range(rows)]
    good[0]["a"] = float("nan")
    good[-1]["b"] = 3.4028234663852886e38  # float32's largest: allowed
    feeds = spec.encode_rows(good)
    assert math.isnan(feeds["a"][0]) and feeds["b"].dtype == np.float32
    for bad in (1e39, float("-inf"), 10**400):
        rows_with_bad = [dict(row) for row in good]
        rows_with_bad[-1]["b"] = bad
        with pytest.raises(ValidationError, match=f"row {rows - 1}: feature 'b' is out of range"):
            spec.encode_rows(rows_with_bad)


@pytest.mark.parametrize(
    "values",
    [[1.0, 1.0, 1.0], [1.0, None, 1.0], [None, None], [float("nan"), 1.0], ["a", "a"], ["a", "b"],
     [1, 1.0, True], [1, "1"], [], [2.5], [{"a": 1}, {"a": 2}]],
)  # fmt: skip
def test_a_constant_column_is_what_nunique_calls_one_value(values: list[object]) -> None:
    import pandas as pd

    from core.features import _constant

    column = pd.Series(values, dtype=object)
    try:
        expected = column.nunique(dropna=False) <= 1
    except TypeError:  # unhashable values: the comparison decides alone
        expected = all(v == values[0] for v in values)
    assert _constant(column) == expected
    if all(isinstance(v, float) for v in values):
        assert _constant(column.astype(float)) == expected


def test_duplicates_are_found_in_full_even_where_sampled_rows_agree() -> None:
    """Columns that agree on every sampled row but differ elsewhere are kept; a copy of the
    second of them is found although the first has the same sample."""
    from core.features import PROBE_ROWS, useless_columns

    rows = PROBE_ROWS * 50
    base = np.arange(rows, dtype=np.float64)
    other = base.copy()
    other[1] = -1.0  # row 1 is not sampled (rows 0, ~50, ~100, ... are)
    frame = pd.DataFrame({"a": base, "b": other, "c": other.copy(), "d": base.astype(np.int64)})
    assert useless_columns(frame, ["a", "b", "c", "d"]) == {"c": "duplicate of 'b'"}


@pytest.mark.parametrize("rows", [1, 3, 100])  # small blocks (float32 at once) and big ones
def test_numbers_round_to_float32_as_through_float64(rows: int) -> None:
    """Integers beyond float32's precision and floats near its limits: converted straight to
    float32 they round as through float64, the way training read them."""
    edge = [16777217, 2**60 + 1, 10**30, 3 * 10**38, 0.1, 1e-45, -(2**53) - 1, 1.0000001]
    spec = FeatureSpec(tuple(ColumnSpec(f"x{i}", f"x{i}", "numeric") for i in range(len(edge))))
    feeds = spec.encode_rows([dict(zip(spec.names, edge, strict=True))] * rows)
    expected = np.asarray([edge] * rows, dtype=np.float64).astype(np.float32)
    stacked = np.column_stack([feeds[name] for name, _ in spec.model_inputs])
    assert stacked.tobytes() == expected.tobytes()
