"""MLflow tracking: one run per training, the ONNX model registered, the champion as alias.

Default tracking URI: a sqlite file in a local store; MLFLOW_TRACKING_URI when set; off for
cloud stores unless set, and off everywhere with MLFN_TRACKING=off.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import constants
from core.storage import Store

if TYPE_CHECKING:
    from core.training.candidates import Candidate, Split

CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
VERSION_TAG = "mlfn_version"


def tracking_uri(store: Store) -> str | None:
    if os.environ.get(constants.ENV_TRACKING, "").lower() in {"off", "0", "false", "no"}:
        return None
    if os.environ.get(constants.ENV_MLFLOW_TRACKING_URI):
        return os.environ[constants.ENV_MLFLOW_TRACKING_URI]
    root = getattr(store, "root", None)
    if root is None:
        return None
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"onnxruntime=={version('onnxruntime')}",
        f"onnx=={version('onnx')}",
        f"numpy=={version('numpy')}",
    ]


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    model_version: str | None


def artifact_location(store: Store) -> str:
    """MLflow artifacts live in the same bucket as the store, under mlartifacts/."""
    scheme = store.uri.split("://", 1)[0]
    if scheme == "file":
        return (Path(store.uri.removeprefix("file://")).resolve() / "mlartifacts").as_uri()
    if scheme == "az":  # MLflow's Azure repository speaks wasbs://container@account.host/path
        from core.storage.azure import AzureBlobStore

        assert isinstance(store, AzureBlobStore)
        # MLflow reads the account from the host; the endpoint from the connection string.
        host = f"{store.service.account_name}.blob.core.windows.net"
        path = "/".join(p for p in (store.prefix, "mlartifacts") if p)
        return f"wasbs://{store.container_name}@{host}/{path}"
    return f"{store.uri}/mlartifacts"  # s3:// and gs:// are MLflow's own schemes


def _experiment(mlflow: Any, name: str, store: Store) -> str:
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=artifact_location(store)))


def _plots(candidate: Candidate, split: Split, task: str, directory: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pipeline = candidate.pipeline
    paths = []
    if task == "classification":
        from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

        display = ConfusionMatrixDisplay.from_estimator(pipeline, split.X_test, split.y_test)
        paths.append(directory / "confusion_matrix.png")
        display.figure_.savefig(paths[-1])
        if len(pipeline.classes_) == 2:
            roc = RocCurveDisplay.from_estimator(pipeline, split.X_test, split.y_test)
            paths.append(directory / "roc_curve.png")
            roc.figure_.savefig(paths[-1])
    else:
        predicted = pipeline.predict(split.X_test)
        figure, axis = plt.subplots()
        axis.scatter(predicted, split.y_test - predicted, s=8)
        axis.axhline(0.0, color="grey")
        axis.set(xlabel="predicted", ylabel="residual", title="Residuals on held-out rows")
        paths.append(directory / "residuals.png")
        figure.savefig(paths[-1])
    plt.close("all")
    return paths


def quiet_mlflow() -> None:
    """MLflow and its database migrations log at INFO on every run; only warnings matter.
    (MLflow reads MLFLOW_LOGGING_LEVEL when first imported.)"""
    import logging
    import os

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _log_files(
    mlflow: Any, best: Candidate, split: Split, task: str, artifacts: dict[str, bytes]
) -> None:
    """The plots, and the files given as they are (by their path in the run)."""
    with tempfile.TemporaryDirectory() as tmp:
        for path in _plots(best, split, task, Path(tmp)):
            mlflow.log_artifact(str(path), artifact_path="plots")
        for name, data in artifacts.items():
            path = Path(tmp) / Path(name).name
            path.write_bytes(data)
            mlflow.log_artifact(str(path), artifact_path=str(Path(name).parent))


def log_training(
    store: Store,
    model_name: str,
    summary: dict[str, Any],
    candidates: list[Candidate],
    best: Candidate,
    split: Split,
    task: str,
    onnx_model: Any | None,
    params: dict[str, Any],
    artifacts: dict[str, bytes] | None = None,
) -> TrackedRun | None:
    """Log a finished training; returns None when tracking is off. `artifacts`: files
    logged as they are (the drift reference profile), by their path in the run."""
    uri = tracking_uri(store)
    if uri is None:
        return None
    quiet_mlflow()
    import mlflow

    mlflow.set_tracking_uri(uri)
    experiment_id = _experiment(mlflow, model_name, store)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"train-v{summary['version']}"
    ) as run:
        mlflow.log_params(params)
        mlflow.set_tags(
            {
                VERSION_TAG: str(summary["version"]),
                "dataset_sha256": summary["dataset"]["sha256"],
                **summary.get("lineage", {}),
            }
        )
        _log_candidates(mlflow, experiment_id, candidates)
        mlflow.log_metrics({f"test_{k}": v for k, v in best.metrics.items()})
        mlflow.log_metrics(
            {f"system_{k}": v for k, v in summary["system"].items() if isinstance(v, int | float)}
        )
        _log_files(mlflow, best, split, task, artifacts or {})
        model_version = (
            _register(mlflow, model_name, onnx_model, summary) if onnx_model is not None else None
        )
        return TrackedRun(run.info.run_id, model_version)


def _log_candidates(mlflow: Any, experiment_id: str, candidates: list[Candidate]) -> None:
    """A nested run per candidate: its plain parameters, metrics and fit time."""
    for candidate in candidates:
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=candidate.model_type, nested=True
        ):
            plain = {
                k: v for k, v in candidate.params.items() if isinstance(v, int | float | str | bool)
            }
            mlflow.log_params(plain)
            mlflow.log_metrics({**candidate.metrics, "fit_seconds": candidate.fit_seconds})


def _register(mlflow: Any, model_name: str, onnx_model: Any, summary: dict[str, Any]) -> str:
    """The ONNX graph as a registered model version, tagged with the store's version; the
    alias `champion` when it was promoted."""
    import mlflow.onnx

    with contextlib.redirect_stderr(io.StringIO()):  # "Successfully registered…"
        info = mlflow.onnx.log_model(
            onnx_model,
            name="model",
            pip_requirements=_pip_requirements(),
            registered_model_name=model_name,
        )
    model_version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    client.set_model_version_tag(model_name, model_version, VERSION_TAG, str(summary["version"]))
    if summary["promoted"]:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, model_version)
    return model_version


def mirror_champion(store: Store, model_name: str, version: int) -> bool:
    """Point the MLflow alias `champion` at the model version mirroring store version `version`."""
    uri = tracking_uri(store)
    if uri is None:
        return False
    import mlflow

    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    found = client.search_model_versions(
        f"name = '{model_name}' and tags.{VERSION_TAG} = '{version}'"
    )
    if not found:
        return False
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, found[0].version)
    return True


def _role_of(version: int, routing: dict[str, Any]) -> tuple[str, str]:
    """A version's role after a routing change, and its share of traffic."""
    challenger = routing.get("challenger") or {}
    if routing.get("champion") == version:
        return "champion", str(100 - (challenger.get("weight", 0) if challenger.get("mode") ==
                                      "canary" else 0))  # fmt: skip
    if challenger.get("version") == version:
        return f"challenger-{challenger['mode']}", str(challenger["weight"])
    return "retired", "0"


def mirror_routing(store: Store, model_name: str, record: dict[str, Any]) -> bool:
    """Tags on the MLflow model versions a routing change touched (mlfn_role, mlfn_weight,
    mlfn_last_action, mlfn_routing_revision) and the aliases `champion` and `challenger`."""
    uri = tracking_uri(store)
    if uri is None:
        return False
    import mlflow

    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    after, before = record["to"], record["from"]
    touched = {after.get("champion"), before.get("champion")}
    for routing in (after, before):
        touched.add((routing.get("challenger") or {}).get("version"))
    for version in sorted(v for v in touched if v is not None):
        found = client.search_model_versions(
            f"name = '{model_name}' and tags.{VERSION_TAG} = '{version}'"
        )
        if not found:
            continue
        role, weight = _role_of(version, after)
        tags = {"mlfn_role": role, "mlfn_weight": weight, "mlfn_last_action": record["action"],
                "mlfn_routing_revision": str(record["revision"])}  # fmt: skip
        for key, value in tags.items():
            client.set_model_version_tag(model_name, found[0].version, key, value)
        if role == "champion":
            client.set_registered_model_alias(model_name, CHAMPION_ALIAS, found[0].version)
        elif role.startswith("challenger"):
            client.set_registered_model_alias(model_name, CHALLENGER_ALIAS, found[0].version)
    if after.get("challenger") is None and before.get("challenger") is not None:
        with contextlib.suppress(Exception):  # no alias to delete
            client.delete_registered_model_alias(model_name, CHALLENGER_ALIAS)
    return True
