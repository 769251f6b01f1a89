"""Every training run is logged to MLflow; store versions are mirrored as MLflow model versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.registry import ModelRegistry
from core.storage import Store
from core.tracking import mirror_champion, tracking_uri
from core.training.run import train
from tests.conftest import project_settings

pytestmark = pytest.mark.tracking


def registry_metadata(store: Store, version: int) -> dict[str, Any]:
    return ModelRegistry(store, "iris").metadata(version)


def test_run_params_metrics_plots_and_registered_onnx_model(tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    settings, store = project_settings(tmp_path)
    first = train(settings, store)
    # Not better (the same forest, a default given explicitly): registered, alias stays on v1.
    second = train(
        settings, store, params={"random_forest": {"n_estimators": 100, "min_samples_leaf": 1}}
    )
    uri = tracking_uri(store)
    assert uri == f"sqlite:///{(tmp_path / 'store').resolve()}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()

    run = client.get_run(first["mlflow"]["run_id"])
    assert run.data.params["dataset_sha256"] == first["dataset"]["sha256"]
    assert run.data.params["model_types"] == "logistic_regression,random_forest"
    assert run.data.metrics["test_f1_macro"] == pytest.approx(first["metrics"]["f1_macro"])
    assert run.data.metrics["system_peak_rss_mb"] > 0
    assert run.data.tags["mlfn_version"] == "1"
    recorded = registry_metadata(store, 1)["lineage"]  # the lineage record, as tags
    assert run.data.tags["config_sha256"] == recorded["config"]["sha256"]
    assert run.data.tags["raw_sha256"] == recorded["source"]["raw_sha256"]
    assert run.data.tags["code_commit"] == str(recorded["code"]["commit"])
    profile = [a.path for a in client.list_artifacts(run.info.run_id, "reference")]
    assert profile == ["reference/profile.json"]  # the drift reference, in MLflow too
    plots = [a.path for a in client.list_artifacts(run.info.run_id, "plots")]
    assert "plots/confusion_matrix.png" in plots
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert {c.info.run_name for c in children} == {"logistic_regression", "random_forest"}

    alias = client.get_model_version_by_alias("iris", "champion")
    assert alias.tags["mlfn_version"] == "1"
    assert second["mlflow"]["model_version"] != alias.version

    model = mlflow.pyfunc.load_model("models:/iris@champion")
    frame = pd.DataFrame(
        [{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}]
    )
    predicted = model.predict(frame)
    assert predicted["label"].tolist() == ["virginica"]
    assert {"probability_0", "probability_1", "probability_2"} <= set(predicted.columns)

    assert mirror_champion(store, "iris", 2)
    assert client.get_model_version_by_alias("iris", "champion").tags["mlfn_version"] == "2"


def test_regression_run_logs_residual_plot(tmp_path: Path) -> None:
    import mlflow
    from mlflow import MlflowClient

    settings, store = project_settings(
        tmp_path, "diabetes", model_type=["linear_regression", "random_forest"]
    )
    summary = train(settings, store)
    mlflow.set_tracking_uri(tracking_uri(store))
    artifacts = MlflowClient().list_artifacts(summary["mlflow"]["run_id"], "plots")
    assert [a.path for a in artifacts] == ["plots/residuals.png"]


def test_tracking_off_and_explicit_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, store = project_settings(tmp_path)
    monkeypatch.setenv("MLFN_TRACKING", "off")
    assert tracking_uri(store) is None
    monkeypatch.delenv("MLFN_TRACKING")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri(store) == "http://127.0.0.1:5000"
