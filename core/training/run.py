"""The training workflow: dataset -> candidates -> best -> ONNX + parity -> version -> promote."""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from core.config import Settings
from core.data.ingest import DatasetVersion, ingest, load_dataset
from core.errors import ConflictError, ExportError, MlfnError
from core.export.native import save_native
from core.export.onnx_export import ParityReport, parity_check, to_onnx
from core.features import feature_schema, infer_feature_types, prepare_frame
from core.progress import NULL_PROGRESS, Progress
from core.registry import ONNX_FILE, ModelRegistry
from core.storage import Store
from core.sysmetrics import SystemMonitor
from core.tracking import log_training
from core.training.candidates import Candidate, best_candidate, fit_candidate, split_dataset
from core.training.compare import score_champion
from core.training.metrics import is_better

LIBRARIES = (
    "numpy",
    "scikit-learn",
    "onnx",
    "onnxruntime",
    "skl2onnx",
    "skops",
    "torch",
    "pandas",
    "mlflow",
)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = package_version(name)
        except PackageNotFoundError:
            continue
    return versions


def _export(
    best: Candidate, schema: list[dict[str, str]], split: Any, task: str, timings: dict[str, float]
) -> tuple[Any, dict[str, bytes], ParityReport, dict[str, Any] | None]:
    """The files of the new version: ONNX when it has parity, else the native safe artifact.
    Sets `timings["export_seconds"]` (conversion, or until it failed) and
    `timings["parity_seconds"]` (0 when no graph was checked)."""
    started = time.perf_counter()
    timings.update(export_seconds=0.0, parity_seconds=0.0)
    try:
        onnx_model = to_onnx(best.pipeline, schema, task)
        model_bytes = onnx_model.SerializeToString()
        converted = time.perf_counter()
        timings["export_seconds"] = round(converted - started, 3)
        parity = parity_check(model_bytes, best.pipeline, split.X_test, schema, task)
        timings["parity_seconds"] = round(time.perf_counter() - converted, 3)
    except ExportError as exc:
        timings["export_seconds"] = round(time.perf_counter() - started, 3)
        onnx_model, parity = (
            None,
            ParityReport(False, len(split.X_test), 0.0, float("inf"), exc.message),
        )
    if parity.ok:
        return onnx_model, {ONNX_FILE: model_bytes}, parity, None
    files, native = save_native(best.pipeline)
    return None, files, parity, native


def _decide(
    registry: ModelRegistry,
    champion: Any,
    split: Any,
    schema: Any,
    settings: Settings,
    metrics: dict[str, float],
    parity_ok: bool,
    force: bool,
) -> tuple[bool, str, dict[str, float] | None]:
    config = settings.config
    if not parity_ok and not force:
        return False, "ONNX parity failed: stored natively, needs the heavy runtime", None
    if champion is None:
        return True, "no champion yet", None
    champion_metrics, why_not = score_champion(registry, champion, split, schema, config.task)
    if force:
        return True, "forced", champion_metrics
    if champion_metrics is None:
        return False, why_not, None
    metric = config.metric
    new, old = metrics[metric], champion_metrics.get(metric, float("nan"))
    if is_better(metric, new, old, config.min_improvement):
        return (
            True,
            f"{metric} {new:.4f} beats champion v{champion.version}'s {old:.4f}",
            champion_metrics,
        )
    return (
        False,
        (f"{metric} {new:.4f} does not beat champion v{champion.version}'s {old:.4f}"),
        champion_metrics,
    )


def train(
    settings: Settings,
    store: Store,
    *,
    model_types: list[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    force: bool = False,
    dataset: DatasetVersion | None = None,
    progress: Progress = NULL_PROGRESS,
) -> dict[str, Any]:
    """Train, register and (when better, or forced) promote. Returns the JSON summary."""
    config = settings.config
    started = time.perf_counter()
    dataset = dataset or ingest(settings, store)
    frame = load_dataset(store, settings, dataset.sha256)
    types = infer_feature_types(frame, config)
    schema = feature_schema(types)
    split = split_dataset(prepare_frame(frame, types), frame[config.target].to_numpy(), config)
    registry = ModelRegistry(store, config.model_name)
    champion = registry.champion()  # read first: promotion swaps only if it is still this one

    chosen = model_types or list(config.model_type)
    all_params: dict[str, dict[str, Any]] = {str(k): v for k, v in config.training_params.items()}
    all_params.update(params or {})
    candidates: list[Candidate] = []
    with SystemMonitor() as monitor:
        task_id = progress.start("candidates", len(chosen))
        for model_type in chosen:
            candidates.append(
                fit_candidate(
                    model_type, types, split, config, all_params.get(model_type, {}), progress
                )
            )
            progress.advance(task_id)
    best = best_candidate(candidates, config.metric)
    timings: dict[str, float] = {}
    onnx_model, files, parity, native = _export(best, schema, split, config.task, timings)

    promote, reason, champion_metrics = _decide(
        registry, champion, split, schema, settings, best.metrics, parity.ok, force
    )
    classes = best.pipeline.classes_.tolist() if config.task == "classification" else None
    metadata = {
        "task": config.task,
        "target": config.target,
        "schema": schema,
        "classes": classes,
        "model_type": best.model_type,
        "params": best.params,
        "metrics": best.metrics,
        "primary_metric": config.metric,
        "candidates": {
            c.model_type: {**c.metrics, "fit_seconds": round(c.fit_seconds, 3)} for c in candidates
        },
        "dataset": {"sha256": dataset.sha256, "rows": dataset.rows, "source": dataset.source},
        "split": {
            "train_rows": len(split.X_train),
            "test_rows": len(split.X_test),
            "train_split": config.train_split,
            "seed": config.random_seed,
        },
        "parity": parity.to_dict(),
        "needs_heavy_runtime": not parity.ok,
        "native": native,
        "libraries": library_versions(),
        "system": monitor.summary(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    version = registry.create_version(files, metadata)
    promoted = False
    if promote:
        try:
            registry.promote(version, champion)
            promoted = True
        except ConflictError as exc:
            reason = exc.message
    after = registry.champion()
    summary: dict[str, Any] = {
        "model_name": config.model_name,
        "version": version,
        "model_type": best.model_type,
        "metrics": best.metrics,
        "primary_metric": config.metric,
        "candidates": metadata["candidates"],
        "promoted": promoted,
        "reason": reason,
        "champion": after.version if after else None,
        "champion_metrics": champion_metrics,
        "previous_champion": champion.version if champion else None,
        "parity": parity.to_dict(),
        "dataset": dataset.to_dict(),
        "system": metadata["system"],
        "store": store.uri,
        "env": settings.env,
        **timings,
    }
    tracking_started = time.perf_counter()
    try:
        run = log_training(
            store,
            config.model_name,
            summary,
            candidates,
            best,
            split,
            config.task,
            onnx_model,
            _run_params(settings, chosen, dataset),
        )
        summary["mlflow"] = (
            {"run_id": run.run_id, "model_version": run.model_version} if run else None
        )
    except (MlfnError, ImportError, OSError, ValueError) as exc:
        # The version and the champion are already safe in the store; tracking is a mirror.
        summary["mlflow"] = {"error": f"MLflow logging failed: {exc}"}
    summary["tracking_seconds"] = round(time.perf_counter() - tracking_started, 3)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary


def _run_params(settings: Settings, chosen: list[str], dataset: DatasetVersion) -> dict[str, Any]:
    config = settings.config
    return {
        "model_types": ",".join(chosen),
        "task": config.task,
        "target": config.target,
        "features": ",".join(config.features),
        "train_split": config.train_split,
        "primary_metric": config.metric,
        "dataset_sha256": dataset.sha256,
        "env": settings.env,
        "class_balance": config.class_balance,
    }
