"""GIVEN JSON records with nested objects, as HTTP APIs return them WHEN ingested and served
THEN each nested field is a dotted column (`user.age`), listed as a feature by that name,
and a request may send its rows flat or nested alike."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.config import ProjectConfig
from core.data.ingest import check_dataset, parse_raw
from core.data.sources import RawData
from core.errors import DataError, ValidationError
from core.features import build_feature_spec

RECORDS = [
    {"user": {"age": 20 + i, "home": {"country": ["FR", "DE"][i % 2]}}, "amount": i, "y": i % 2}
    for i in range(12)
]


def _config(features: list[str]) -> ProjectConfig:
    return ProjectConfig.model_validate(
        {
            "model_name": "nested",
            "features": features,
            "target": "y",
            "train_split": 0.75,
            "model_type": ["logistic_regression"],
            "promotion": {"dev": {"store": "file://unused"}},
        }
    )


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_nested_objects_become_dotted_columns(fmt: str) -> None:
    text = json.dumps({"data": RECORDS}) if fmt == "json" else "\n".join(map(json.dumps, RECORDS))
    frame = parse_raw(RawData(name="t", fmt=fmt, data=text.encode(), origin=f"t.{fmt}"))
    assert sorted(frame.columns) == ["amount", "user.age", "user.home.country", "y"]
    assert frame["user.home.country"].tolist()[:2] == ["FR", "DE"]


def test_flat_records_read_as_before() -> None:
    records = [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    frame = parse_raw(RawData(name="t", fmt="json", data=json.dumps(records).encode(), origin="t"))
    pd.testing.assert_frame_equal(frame, pd.DataFrame.from_records(records))


def test_a_nested_object_named_as_a_feature_points_to_its_columns() -> None:
    frame = pd.json_normalize(RECORDS, sep=".")
    with pytest.raises(DataError) as raised:
        check_dataset(frame, _config(["user", "amount"]), "api")
    assert (
        "lacks the columns ['user'] ('user' holds objects, flattened into the columns "
        "['user.age', 'user.home.country']: list those as features)"
    ) in raised.value.message


def test_rows_may_be_sent_nested_or_flat(tmp_path: Path) -> None:
    frame = pd.json_normalize(RECORDS, sep=".")
    spec = build_feature_spec(frame, _config(["user.age", "user.home.country", "amount"]))
    flat = spec.encode_rows([{"user.age": 31, "user.home.country": "FR", "amount": 2}])
    nested = spec.encode_rows([{"user": {"age": 31, "home": {"country": "FR"}}, "amount": 2}])
    assert flat.keys() == nested.keys()
    assert all((flat[name] == nested[name]).all() for name in flat)
    with pytest.raises(ValidationError, match=r"missing feature\(s\) \['user.home.country'\]"):
        spec.encode_rows([{"user": {"age": 31}, "amount": 2}])
    deep: dict = {}
    inner = deep
    for _ in range(5_000):  # as deep as a body could nest: named, never a crash
        inner["a"] = inner = {}
    with pytest.raises(ValidationError, match="missing feature"):
        spec.encode_rows([{"user": deep, "amount": 2}])


@pytest.mark.parametrize(
    ("columns", "hint"),
    [
        (["5.1", "3.5", "1.4", "0.2", "setosa"], "its first line holds values, not column names"),
        (
            ["Sepal Length (cm)", "amount", "y"],
            '(map the file\'s names in the parser config: "field_mappings": '
            '{"Sepal Length (cm)": "sepal_length"})',
        ),
    ],
)
def test_missing_columns_say_what_the_file_has_instead(columns: list[str], hint: str) -> None:
    frame = pd.DataFrame([[1] * len(columns)], columns=columns)
    with pytest.raises(DataError) as raised:
        check_dataset(frame, _config(["sepal_length", "amount"]), "file.csv")
    assert hint in raised.value.message
