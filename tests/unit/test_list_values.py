"""Lists as feature values — GIVEN records whose feature holds a JSON array (`"tags": ["x",
"y"]`, as HTTP APIs and BigQuery exports write them) WHEN trained from JSON or Parquet and
served THEN each list is one category, the same text on both sides, and a note says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.api import create_app
from core.cli_io import rows_of_input
from core.data.ingest import ingest
from core.inference import Predictor
from core.schema import category_text
from core.training.run import train
from tests.conftest import data_project
from tests.unit.test_api import local_services, token

TAGS = [["x", "y"], ["z"], [], ["y", "x"]]


def _records(rows: int = 120) -> list[dict]:
    rng = np.random.default_rng(9)
    records = []
    for i in range(rows):
        tags = TAGS[i % 4]
        records.append({"a": float(rng.normal()), "tags": tags,
                        "y": "yes" if "x" in tags else "no"})  # fmt: skip
    return records


def test_lists_train_as_categories_and_serve_alike(tmp_path: Path) -> None:
    source = tmp_path / "d.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    settings, store = data_project(tmp_path, ["a", "tags"], source)
    summary = train(settings, store)
    assert any("feature 'tags': its values are lists" in n for n in summary["notes"])
    predictor = Predictor(store, settings.config.model_name)
    answer = predictor.predict([{"a": 0.0, "tags": ["x", "y"]}, {"a": 0.0, "tags": ["z"]}])
    assert answer["predictions"] == ["yes", "no"]  # the tags decide, as in training
    row = rows_of_input(json.dumps({"a": 0.0, "tags": ["x", "y"]}), "-")  # a row, not a body
    assert predictor.predict(row)["predictions"] == ["yes"]


def test_parquet_lists_give_the_dataset_of_json_lists(tmp_path: Path) -> None:
    records = _records()
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    pd.DataFrame(records).to_parquet(tmp_path / "d.parquet", index=False)  # list<string>
    settings, store = data_project(tmp_path, ["a", "tags"], tmp_path / "d.jsonl")
    from_json = ingest(settings, store, str(tmp_path / "d.jsonl"))
    assert ingest(settings, store, str(tmp_path / "d.parquet")).sha256 == from_json.sha256


@pytest.mark.parametrize(
    ("value", "text"),
    [(["x", "y"], '["x", "y"]'), ([], "[]"), (("é", 1, None), '["é", 1, null]')],
)
def test_a_list_is_its_json_text(value: object, text: str) -> None:
    assert category_text(value) == text


def test_a_list_nested_too_deeply_to_write_is_no_category(tmp_path: Path) -> None:
    deep: list = []
    for _ in range(5_000):
        deep = [deep]
    assert category_text(deep) is None
    source = tmp_path / "d.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in _records()))
    settings, store = data_project(tmp_path, ["a", "tags"], source)
    train(settings, store)
    body = '{"instances": [{"a": 0.1, "tags": ' + "[" * 990 + "]" * 990 + "}]}"  # JSON reads it
    with TestClient(create_app(local_services(settings, store))) as client:
        answer = client.post("/predict", content=body, headers={
            **token("predict"), "Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 422, answer.text  # refused, named: not a 500
    assert "feature 'tags'" in answer.json()["error"]["message"]


def test_logged_lists_are_the_labels_training_wrote() -> None:
    """Drift compares a feature's live labels with its training labels: a request's list
    (as the prediction log keeps it) is the JSON text the training data holds."""
    from core.drift.profile import category_values

    live = pd.Series([["x", "y"], ["z"], [], None], dtype=object)
    trained = pd.Series(['["x", "y"]', '["z"]', "[]", None])
    assert category_values(live).tolist()[:3] == category_values(trained).tolist()[:3]
    assert pd.isna(category_values(live).iloc[3])
