"""Shared fixtures: projects in temporary folders, each with its own local store."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Settings, load_settings
from core.inference import clear_cache
from core.storage import Store, open_store

pytest_plugins = ["tests.emulator_fixtures"]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def make_project(directory: Path, example: str = "iris", **overrides: Any) -> Path:
    """A copy of an example's config whose data source is absolute and whose dev store is
    `directory/store`; returns the config path."""
    config = json.loads((EXAMPLES / example / "config.json").read_text())
    config["data_source"] = str(EXAMPLES / example / f"{example}.csv")
    config["promotion"]["dev"]["store"] = f"file://{directory / 'store'}"
    config["promotion"]["qa"]["store"] = f"file://{directory / 'store-qa'}"
    config.update(overrides)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(config, indent=2))
    parser = EXAMPLES / example / "project_parser_config.json"
    (directory / "project_parser_config.json").write_text(parser.read_text())
    return path


def project_settings(
    directory: Path, example: str = "iris", **overrides: Any
) -> tuple[Settings, Store]:
    settings = load_settings(make_project(directory, example, **overrides), env="dev")
    return settings, open_store(settings.store_uri)


def data_project(
    directory: Path, features: list[str], source: Path, **parser: Any
) -> tuple[Settings, Store]:
    """A logistic-regression project on a data file of our own: target `y`, the given
    features, types inferred, and the given parser config (none by default)."""
    path = make_project(
        directory, features=features, target="y", feature_types={}, data_source=str(source),
        model_type=["logistic_regression"],
    )  # fmt: skip
    (directory / "project_parser_config.json").write_text(json.dumps(parser))
    settings = load_settings(path, env="dev")
    return settings, open_store(settings.store_uri)


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[None]:
    for name in ("MLFN_CONFIG", "MLFN_ENV", "MLFN_STORE", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    # MLflow is slow to set up; only tests marked `tracking` turn it on.
    if request.node.get_closest_marker("tracking") is None:
        monkeypatch.setenv("MLFN_TRACKING", "off")
    else:
        monkeypatch.delenv("MLFN_TRACKING", raising=False)
    clear_cache()
    yield
    clear_cache()
    _back_to_the_serve_door()


def _back_to_the_serve_door() -> None:
    """A test that imported a cloud handler switched this process to that cloud's telemetry
    (`use_door`): later tests get `mlfn serve`'s again, and no JSON handler of ours."""
    import logging

    from core.monitoring import telemetry, tracing
    from core.monitoring.logjson import JSON_HANDLER

    if telemetry.current_door() != "serve" or "process" in telemetry._state:
        telemetry._state.clear()
        telemetry._state["door"] = "serve"
    os.environ.pop(telemetry.DOOR_ENV, None)
    tracing.disable_tracing()
    root = logging.getLogger("mlfn")
    if any(h.get_name() == JSON_HANDLER for h in root.handlers):
        root.handlers = [h for h in root.handlers if h.get_name() != JSON_HANDLER]
        root.propagate = True


@pytest.fixture(scope="session")
def trained_iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Store]:
    """An iris project trained once for the session (read-only for the tests that use it)."""
    from core.training.run import train

    old = os.environ.get("MLFN_TRACKING")
    os.environ["MLFN_TRACKING"] = "off"
    try:
        settings, store = project_settings(tmp_path_factory.mktemp("iris"))
        train(settings, store)
    finally:
        if old is None:
            os.environ.pop("MLFN_TRACKING", None)
        else:
            os.environ["MLFN_TRACKING"] = old
    return settings, store
