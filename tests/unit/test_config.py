"""GIVEN a config file WHEN it is loaded THEN it is validated, and errors name file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import load_parser_config, load_project_config, load_settings
from core.errors import ConfigError
from tests.conftest import EXAMPLES, REPO, make_project


def write_config(tmp_path: Path, **changes: object) -> Path:
    config = json.loads((REPO / "config" / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("example", ["iris", "products", "diabetes"])
def test_bundled_configs_are_valid(example: str) -> None:
    config = load_project_config(EXAMPLES / example / "config.json")
    assert config.model_name == example
    assert len(config.model_type) >= 2
    assert load_parser_config(EXAMPLES / example / "project_parser_config.json") is not None


def test_default_config_matches_design(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    settings = load_settings()
    assert settings.config.model_type == ["logistic_regression", "random_forest"]
    assert settings.env == "dev"
    assert settings.store_uri == f"file://{REPO / '.mlfn' / 'dev'}"  # beside the config's folder
    assert settings.parser.field_mappings["petal width (cm)"] == "petal_width"


def test_relative_paths_in_a_config_are_relative_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same config gives the same store and data from any working folder."""
    import json
    import shutil

    project = tmp_path / "project"
    shutil.copytree(REPO / "examples" / "iris", project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(project / "config.json")
    assert settings.store_uri == f"file://{(project / '../../.mlfn/dev').resolve()}"
    assert settings.data_source() == str(project / "iris.csv")
    assert settings.data_source("mine.csv") == "mine.csv"  # typed here: relative to here
    data = json.loads((project / "config.json").read_text())
    data["data_source"] = "https://example.com/iris.csv"
    data["promotion"]["dev"]["store"] = "s3://bucket/iris"
    (project / "config.json").write_text(json.dumps(data))
    settings = load_settings(project / "config.json")
    assert settings.store_uri == "s3://bucket/iris"
    assert settings.data_source() == "https://example.com/iris.csv"
    monkeypatch.setenv("MLFN_STORE", "file://here")
    assert load_settings(project / "config.json").store_uri == "file://here"


def test_one_model_type_becomes_a_list(tmp_path: Path) -> None:
    config = load_project_config(write_config(tmp_path, model_type="random_forest"))
    assert config.model_type == ["random_forest"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"train_split": 1.5}, "train_split: Input should be less than 1 (given: 1.5)"),
        ({"target": None}, "target: Field required"),
        ({"task": "clustering"}, "task: Input should be 'classification' or 'regression'"),
        ({"model_type": ["svm"]}, "model_type.0: Input should be"),
        ({"model_type": ["linear_regression"]}, "'linear_regression' does not fit task"),
        ({"feature_types": {"colour": "numeric"}}, "names columns that are not features"),
        ({"features": ["a", "a"]}, "each feature may appear only once"),
        ({"target": "sepal_length"}, "must not also be a feature"),
        ({"primary_metric": "rmse"}, "primary_metric 'rmse' is not one of"),
        ({"promotion": {"dev": {"store": "ftp://x"}}}, "promotion.dev.store: String should"),
        ({"surprise": 1}, "surprise: unknown key"),
        ({"trian_split": 0.8}, "trian_split: unknown key; did you mean 'train_split'?"),
    ],
)
def test_errors_name_the_file_and_field(tmp_path: Path, changes: dict, expected: str) -> None:
    path = write_config(tmp_path, **changes)
    with pytest.raises(ConfigError) as raised:
        load_project_config(path)
    assert str(path) in raised.value.message
    assert expected in raised.value.message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"promotion": {"metric": "f1_macro"}},
            "promotion: key 'metric' is not one of 'dev', 'qa', 'staging' or 'prod'; it holds "
            "one block per environment",
        ),
        ({"promotion": {"stagging": {"store": "file://x"}}}, "did you mean 'staging'?"),
        (
            {"training_params": {"n_estimators": 200}},
            "training_params: key 'n_estimators' is not one of 'logistic_regression', "
            "'linear_regression', 'random_forest', 'gradient_boosting' or 'neural_network'; give "
            'each model type\'s parameters under its name, e.g. "training_params": '
            '{"random_forest": {"n_estimators": 200}}',
        ),
        ({"training_params": {"randomforest": {}}}, "did you mean 'random_forest'?"),
    ],
)
def test_a_key_that_is_not_allowed_is_one_problem(tmp_path: Path, changes, expected) -> None:
    """A mapping key that is not allowed (an environment, a model type) is the one problem
    named: not also the complaints about its value, which are beside the point."""
    path = write_config(tmp_path, **changes)
    with pytest.raises(ConfigError) as raised:
        load_project_config(path)
    lines = raised.value.message.splitlines()
    assert lines[0] == f"{path}: 1 problem:", raised.value.message
    assert expected in lines[1]


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_project_config(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match=r"broken\.json: not valid JSON"):
        load_project_config(broken)


def test_parser_mappings_must_be_one_to_one(tmp_path: Path) -> None:
    path = tmp_path / "parser.json"
    path.write_text(json.dumps({"selected_fields": ["a"], "field_mappings": {"b": "c", "d": "c"}}))
    with pytest.raises(ConfigError, match="several fields the same new name: \\['c'\\]"):
        load_parser_config(path)


def test_every_problem_at_once_one_per_line(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, train_split=2, modle_type="x", promotion={"dev": {"stor": "file://x"}}
    )
    with pytest.raises(ConfigError) as raised:
        load_project_config(path)
    lines = raised.value.message.splitlines()
    assert lines[0] == f"{path}: 4 problems:"
    assert f"  {path}: train_split: Input should be less than 1 (given: 2)" in lines
    assert f"  {path}: modle_type: unknown key; did you mean 'model_type'?" in lines
    assert f"  {path}: promotion.dev.stor: unknown key; did you mean 'store'?" in lines
    assert f"  {path}: promotion.dev.store: Field required" in lines


def test_environment_variables_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_project(tmp_path)
    monkeypatch.setenv("MLFN_CONFIG", str(path))
    monkeypatch.setenv("MLFN_ENV", "qa")
    assert load_settings().store_uri == f"file://{tmp_path / 'store-qa'}"
    monkeypatch.setenv("MLFN_STORE", "file:///elsewhere")
    settings = load_settings()
    assert (settings.env, settings.store_uri) == ("qa", "file:///elsewhere")
    # Arguments beat variables.
    assert load_settings(path, env="dev", store="file:///x").store_uri == "file:///x"


def test_unknown_environment(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    with pytest.raises(ConfigError, match="environment 'test' is not one of"):
        load_settings(path, env="test")
    config = json.loads(path.read_text())
    del config["promotion"]["staging"]
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="no environment 'staging'"):
        load_settings(path, env="staging")
