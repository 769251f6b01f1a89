"""A header that names two columns alike, and a config whose features changed since the
champion was trained — GIVEN such a project WHEN it ingests or trains THEN mlfn says which
column it cannot tell apart, and compares versions on rows both can score."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.config import load_settings
from core.data.ingest import ingest
from core.errors import DataError
from core.featurespec import FeatureSpec
from core.registry import ONNX_FILE, ChampionPointer, ModelRegistry
from core.storage import open_store
from core.training.compare import Basis, labelled_gate
from core.training.run import train
from tests.conftest import data_project, make_project

HEADER = "a,a,b,y\n"


def _duplicated_file(tmp_path: Path) -> Path:
    lines = [f"{i % 7},{(i * 3) % 5},{i % 2},{'yes' if i % 7 > 3 else 'no'}" for i in range(60)]
    path = tmp_path / "dup.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


def test_a_name_the_header_gives_two_columns_is_refused_with_the_names_to_use(
    tmp_path: Path,
) -> None:
    source = _duplicated_file(tmp_path)
    settings, store = data_project(tmp_path, ["a", "b"], source)
    with pytest.raises(DataError, match=r"names 2 columns 'a'.*\['a', 'a\.1'\]"):
        ingest(settings, store)


def test_the_names_they_are_read_as_select_either_column(tmp_path: Path) -> None:
    source = _duplicated_file(tmp_path)
    settings, store = data_project(tmp_path, ["a.1", "b"], source)
    assert ingest(settings, store).columns == ["a.1", "b", "y"]


def test_a_duplicated_name_no_one_uses_is_no_error(tmp_path: Path) -> None:
    source = _duplicated_file(tmp_path)
    settings, store = data_project(tmp_path, ["b"], source)
    assert ingest(settings, store).columns == ["b", "y"]


def test_selected_fields_missing_by_their_spacing_get_the_mapping_to_add(tmp_path: Path) -> None:
    source = tmp_path / "spaced.csv"
    source.write_text(" Alpha ,Beta,y\n1,2,yes\n3,4,no\n")
    settings, store = data_project(
        tmp_path, ["Alpha", "Beta"], source, selected_fields=["Alpha", "Beta", "y"]
    )
    with pytest.raises(DataError, match=r'"field_mappings": \{" Alpha ": "Alpha"\}'):
        ingest(settings, store)


def _iris(tmp_path: Path, features: list[str]):  # type: ignore[no-untyped-def]
    path = make_project(
        tmp_path, features=features, feature_types={}, model_type=["logistic_regression"]
    )
    settings = load_settings(path, env="dev")
    return settings, open_store(settings.store_uri)


def test_a_feature_added_since_the_champion_compares_on_this_runs_held_out_rows(
    tmp_path: Path,
) -> None:
    settings, store = _iris(tmp_path, ["sepal_length", "sepal_width"])
    assert train(settings, store)["promoted"]
    settings, store = _iris(tmp_path, ["sepal_length", "sepal_width", "petal_length"])
    summary = train(settings, store)
    assert summary["version"] == 2
    assert "this run's held-out rows" in summary["reason"]
    assert summary["promoted"], summary["reason"]  # petal length separates the classes


def test_a_champion_whose_features_are_gone_is_not_replaced_unasked(tmp_path: Path) -> None:
    settings, store = _iris(tmp_path, ["sepal_length", "sepal_width"])
    train(settings, store)
    settings, store = _iris(tmp_path, ["petal_length", "petal_width"])
    summary = train(settings, store)
    assert summary["version"] == 2 and not summary["promoted"]
    assert "champion v1 needs features ['sepal_length', 'sepal_width']" in summary["reason"]
    assert "--force" in summary["reason"]


def test_labelled_live_rows_without_the_challengers_new_feature_do_not_decide(
    tmp_path: Path,
) -> None:
    settings, store = _iris(tmp_path, ["sepal_length", "sepal_width"])
    train(settings, store)
    settings, store = _iris(tmp_path, ["sepal_length", "sepal_width", "petal_length"])
    train(settings, store)
    registry = ModelRegistry(store, settings.config.model_name)
    champion, metadata = ChampionPointer(1, "", ""), registry.metadata(2)  # v2 challenges v1
    live = pd.DataFrame({"sepal_length": [5.1, 6.7], "sepal_width": [3.5, 3.0]})
    basis = Basis(live, ["setosa", "virginica"], "labelled live rows")
    challenger = (registry.read_file(2, ONNX_FILE, metadata), FeatureSpec.of_version(metadata),
                  metadata["classes"])  # fmt: skip
    policy = ("classification", "f1_macro", 0.0)
    passed, why = labelled_gate(registry, champion, challenger, basis, policy)
    assert passed and "lack the challenger's features ['petal_length']" in why
