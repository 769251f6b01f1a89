"""With tracking on, MLflow's artifacts land in the store's own bucket."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.storage import open_store
from core.tracking import artifact_location
from core.training.run import train
from tests.conftest import project_settings


@pytest.mark.tracking
def test_mlflow_artifacts_in_the_s3_bucket(
    tmp_path: Path, s3_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    settings, _ = project_settings(tmp_path)
    store = open_store(s3_uri)
    summary = train(settings, store)
    assert summary["mlflow"]["model_version"] == "1"
    keys = store.list("mlartifacts/")
    assert any(k.endswith("plots/confusion_matrix.png") for k in keys)
    assert any(k.endswith("model.onnx") for k in keys)
    model = mlflow.pyfunc.load_model("models:/iris@champion")  # read back from the bucket
    assert model.metadata.flavors.keys() >= {"onnx", "python_function"}


def test_artifact_locations_per_store(azure_uri: str, tmp_path: Path) -> None:
    assert artifact_location(open_store("s3://bucket/team")) == "s3://bucket/team/mlartifacts"
    store = open_store(azure_uri)
    container = azure_uri.removeprefix("az://").split("/")[0]
    assert artifact_location(store) == (
        f"wasbs://{container}@devstoreaccount1.blob.core.windows.net/team/project/mlartifacts"
    )
    assert (
        artifact_location(open_store(f"file://{tmp_path}"))
        == (tmp_path / "mlartifacts").resolve().as_uri()
    )
