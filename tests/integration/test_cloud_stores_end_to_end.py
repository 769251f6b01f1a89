"""The whole CLI on every cloud store, each command a fresh process, against real emulators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UnavailableError
from core.inference import Predictor, clear_cache
from core.registry import ModelRegistry
from core.storage import open_store
from core.storage.azure import AzureBlobStore
from core.training.run import train
from tests.conftest import EXAMPLES, make_project, project_settings
from tests.emulator_fixtures import make_azure_container
from tests.integration import emulators
from tests.unit.test_cli import mlfn

ROW = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


@pytest.mark.parametrize("cloud", ["s3", "gcs", "azure"])
def test_ingest_train_predict_promote_in_fresh_processes(
    cloud: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = request.getfixturevalue(f"{cloud}_uri")
    env = {**request.getfixturevalue(f"{cloud}_env"), "MLFN_STORE": uri}
    config = str(make_project(tmp_path))

    ingested = mlfn("ingest", "--config", config, "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["created"]
    first = mlfn("train", "--config", config, "--json", env=env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["store"] == uri
    second = mlfn(
        "train", "--config", config, "--force", "--model-type", "random_forest", "--json", env=env
    )
    assert json.loads(second.stdout)["champion"] == 2

    sample = str(EXAMPLES / "iris" / "sample.json")
    answer = json.loads(
        mlfn("predict", "--config", config, "--input", sample, "--json", env=env).stdout
    )
    assert answer["predictions"] == ["setosa", "virginica"]
    assert answer["model"]["version"] == 2
    promoted = mlfn("promote", "1", "--config", config, env=env)
    assert json.loads(promoted.stdout)["champion"] == 1
    listing = json.loads(mlfn("models", "--config", config, "--json", env=env).stdout)
    assert listing["champion"] == 1 and [v["version"] for v in listing["versions"]] == [1, 2]

    store = open_store(uri)  # everything landed where the layout says
    keys = store.list()
    assert any(k.startswith("data/raw/iris/") and k.endswith(".csv") for k in keys)
    assert any(k.startswith("data/processed/") and k.endswith(".parquet") for k in keys)
    assert {
        "models/iris/versions/1/model.onnx",
        "models/iris/versions/2/metadata.json",
        "models/iris/routing.json",
    } <= set(keys)
    assert any(k.startswith("models/iris/history/") for k in keys)  # the promotions' audit
    assert not (tmp_path / "store").exists()  # nothing went to the local default


def test_emulator_stopped_mid_upload_keeps_the_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Azurite keeps its data on disk, so it can be stopped mid-upload and restarted."""
    server = emulators.azurite(tmp_path / "azurite").start()
    restarted = emulators.azurite(tmp_path / "azurite", port=server.port)
    try:
        monkeypatch.setenv(
            "AZURE_STORAGE_CONNECTION_STRING", emulators.azurite_connection_string(server.port)
        )
        monkeypatch.setenv("MLFN_STORAGE_RETRIES", "2")
        uri = f"az://{make_azure_container()}/proj"
        settings, _ = project_settings(tmp_path)
        store = open_store(uri)
        train(settings, store)

        class StopsMidUpload(AzureBlobStore):
            def write_new(self, key: str, data: bytes) -> None:
                super().write_new(key, data)
                if key.endswith("model.onnx"):
                    server.stop()  # the model is up, its metadata never arrives

        with pytest.raises(UnavailableError) as failure:
            train(settings, StopsMidUpload(uri), force=True)
        assert "could not create" in failure.value.message
        assert "Azure Blob" in failure.value.message
        assert "versions/2/" in failure.value.message  # a file after model.onnx; no metadata

        restarted.start()  # same port, same data folder
        clear_cache()
        registry = ModelRegistry(open_store(uri), "iris")
        assert registry.champion().version == 1 and registry.versions() == [1]
        assert Predictor(open_store(uri), "iris").predict([ROW])["model"]["version"] == 1
        rerun = train(settings, open_store(uri), force=True)
        assert rerun["promoted"] and rerun["version"] == 3  # v2's number stays burnt
        assert Predictor(open_store(uri), "iris", champion_ttl=0).predict([ROW])["model"] == {
            "name": "iris",
            "version": 3,
        }
    finally:
        server.stop()
        restarted.stop()
