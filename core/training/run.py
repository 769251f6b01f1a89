"""The training workflow: dataset -> candidates -> best -> ONNX + parity -> version -> promote."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING, Any

from core.config import ProjectConfig, Settings
from core.data.ingest import DatasetVersion, infer_task, load_dataset, stage_ingest
from core.data.summary_rows import summary_note
from core.data.versions import dataset_manifest
from core.drift.profile import PROFILE_FILE
from core.errors import ConfigError, ConflictError, DataError, MlfnError
from core.export.native import save_native
from core.export.onnx_export import reusing_sessions
from core.features import build_feature_spec
from core.featurespec import FeatureSpec
from core.lineage import lineage_record, lineage_tags
from core.model_cache import session_threads
from core.progress import NULL_PROGRESS, Progress
from core.registry import ONNX_FILE, ChampionPointer, ModelRegistry
from core.storage import Store
from core.sysmetrics import SystemMonitor
from core.tracking import log_training
from core.training.candidates import Candidate, Split, fit_candidate, split_dataset
from core.training.compare import (
    REFERENCE_FILE,
    Basis,
    labelled_gate,
    lacking_features,
    reference_basis,
    reference_file,
    score_champion,
    score_graph,
    split_basis,
)
from core.training.metrics import is_better
from core.training.reference import profile_meanwhile, reference_files
from core.training.select import Exported, choose, export_candidate
from core.training.targets import encode_target

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

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


@dataclass(frozen=True)
class TrainingData:
    config: ProjectConfig  # with the task resolved
    spec: FeatureSpec
    classes: list[Any] | None
    split: Split
    notes: list[str]


def prepare_training(config: ProjectConfig, frame: pd.DataFrame) -> TrainingData:
    """Task, targets, feature specification and split of a dataset: made once, here."""
    missing = [name for name in (*config.features, config.target) if name not in frame.columns]
    if missing:
        raise DataError(
            f"the dataset has no column(s) {missing} that the config of '{config.model_name}' "
            f"needs (it has {list(frame.columns)[:10]}); ingest its data with this config: "
            "mlfn ingest --config <this config>"
        )
    config = config.with_task(infer_task(frame[config.target]))
    task = config.resolved_task
    targets = encode_target(frame[config.target], task, config.target)
    kept = _rows_kept(frame, targets.keep)
    spec = build_feature_spec(kept, config)
    split = split_dataset(kept, targets.y, spec, config)
    notes = [f"feature '{name}': dropped, {why}" for name, why in spec.dropped.items()]
    notes += _lookalike_notes(kept, spec, config)
    notes += targets.notes + list(split.notes)
    return TrainingData(config, spec, targets.classes, split, notes)


VARIANTS_SEEN = 10_000  # distinct categories compared for spelling variants


def _dataset_notes(dataset: DatasetVersion, target: str) -> list[str]:
    summed = summary_note(list(dataset.summary_rows))
    notes = [summed] if summed else []
    if dataset.dropped_rows:
        notes.append(
            f"{dataset.dropped_rows} rows of the source have no value for the target "
            f"'{target}' and are left out of training (give them one to have them count)"
        )
    return notes


def _lookalike_notes(frame: pd.DataFrame, spec: FeatureSpec, config: ProjectConfig) -> list[str]:
    """Columns that identify rows (core/data/identifiers.py), and columns inferred as
    categories whose values are amounts, percentages or dates written as people read them
    (core/data/lookalikes.py)."""
    from core.data.identifiers import identifier_note
    from core.data.lookalikes import lookalike_note, variants_note

    categorical = [column.name for column in spec.columns if column.kind == "categorical"]
    lookalikes = {
        name: lookalike_note(name, frame[name])
        for name in categorical
        if name not in config.feature_types
    }
    identifiers = [  # a column of amounts has its own note, not this one
        identifier_note(column.name, frame[column.name], column.kind)
        for column in spec.columns
        if lookalikes.get(column.name) is None
    ]
    found = list(lookalikes.values())
    found += [
        variants_note(f"feature '{name}'", frame[name].dropna().unique()[:VARIANTS_SEEN].tolist(),
                      "the categories")
        for name in categorical
    ]  # fmt: skip
    return [note for note in [*identifiers, *found] if note is not None]


def _rows_kept(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The rows whose target is kept, numbered from 0: the frame itself when that is all
    of them, already so numbered (a copy of a 100k-row frame costs more than the check)."""
    import pandas as pd

    if keep.all() and frame.index.equals(pd.RangeIndex(len(frame))):
        return frame
    return frame.loc[keep].reset_index(drop=True)


def _decide(
    registry: ModelRegistry,
    champion: Any,
    data: TrainingData,
    best: Exported,
    force: bool,
) -> tuple[bool, str, dict[str, float] | None]:
    """Promote or not, why, and the champion's metrics. The two are compared on the
    champion's reference rows (kept from its trusted training data) when it has them, so
    no caller chooses the rows that decide; else on this run's held-out rows."""
    config = data.config
    if not best.parity.ok and not force:
        return (
            False,
            "no candidate exports with parity: stored natively, needs the heavy runtime",
            None,
        )
    if champion is None:
        return True, "no champion yet", None
    champion_meta = registry.metadata(champion.version)
    basis = reference_basis(registry, champion.version, champion_meta)
    if basis is None or lacking_features(data.spec, basis):  # features changed since
        basis = split_basis(data.split, data.classes)
    champion_metrics, why_not = score_champion(registry, champion, basis, config.resolved_task)
    if force:
        return True, "forced", champion_metrics
    if champion_metrics is None:
        return False, why_not, None
    metrics = best.candidate.metrics
    if best.model_bytes is not None and basis.name.startswith("champion"):
        try:
            metrics = score_graph(best.model_bytes, data.spec, data.classes, basis)
        except MlfnError as exc:
            return False, f"the challenger cannot score {basis.name} ({exc.message})", None
    metric = config.metric
    new, old = metrics[metric], champion_metrics.get(metric, float("nan"))
    verdict = "beats" if is_better(metric, new, old, config.min_improvement) else "does not beat"
    reason = (
        f"{metric} {new:.4f} {verdict} champion v{champion.version}'s {old:.4f} on {basis.name}"
    )
    return verdict == "beats", reason, champion_metrics


def _fit_all(
    data: TrainingData, chosen: list[str], params: dict[str, dict[str, Any]], progress: Progress
) -> list[Candidate]:
    candidates = []
    task_id = progress.start("candidates", len(chosen))
    for model_type in chosen:
        candidates.append(
            fit_candidate(
                model_type, data.spec, data.split, data.config, params.get(model_type, {}), progress
            )
        )
        progress.advance(task_id)
    return candidates


def _metadata(
    data: TrainingData,
    best: Exported,
    exported: list[Exported],
    dataset: DatasetVersion,
    native: dict[str, Any] | None,
    system: dict[str, Any],
) -> dict[str, Any]:
    config, split, candidate = data.config, data.split, best.candidate
    return {
        "task": config.task,
        "target": config.target,
        "schema": data.spec.to_metadata(),
        "dropped_features": data.spec.dropped,
        "float_block": data.spec.float_block,
        "classes": data.classes,
        "model_type": candidate.model_type,
        "params": candidate.params,
        "metrics": candidate.metrics,
        "primary_metric": config.metric,
        "candidates": {e.candidate.model_type: _candidate_row(e) for e in exported},
        "dataset": {"sha256": dataset.sha256, "rows": dataset.rows, "source": dataset.source},
        "split": {
            "train_rows": len(split.X_train),
            "test_rows": len(split.X_test),
            "train_split": config.train_split,
            "seed": config.random_seed,
        },
        "parity": best.parity.to_dict(),
        "needs_heavy_runtime": not best.parity.ok,
        "native": native,
        "libraries": library_versions(),
        "system": system,
        "notes": data.notes,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _candidate_row(exported: Exported) -> dict[str, Any]:
    candidate = exported.candidate
    return {
        **candidate.metrics,
        "fit_seconds": round(candidate.fit_seconds, 3),
        "scored_on": candidate.extra.get("scored_on", "native"),
        "graph_mb": candidate.extra.get("graph_mb"),
        "exported": exported.parity.ok,
        **({} if exported.parity.ok else {"why_not_exported": exported.parity.detail}),
    }


@reusing_sessions
def train(
    settings: Settings,
    store: Store,
    *,
    model_types: list[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    force: bool = False,
    dataset: DatasetVersion | None = None,
    progress: Progress = NULL_PROGRESS,
    may_promote: bool = True,
    labelled: Basis | None = None,
) -> dict[str, Any]:
    """Train, register and (when better, or forced) promote. Returns the JSON summary.
    `may_promote=False` (a train-scoped caller's own data) registers the version only.
    `labelled`: recent labelled live rows the challenger must also win on (monitoring)."""
    started = time.perf_counter()
    session_threads()  # a bad value stops training here, named, not as a failed export
    dataset, frame, stored = _dataset_rows(settings, store, dataset)
    data = prepare_training(settings.config, frame)
    data.notes[:0] = _dataset_notes(dataset, settings.config.target)
    config = data.config
    registry = ModelRegistry(store, config.model_name)
    champion = registry.champion()  # read first: promotion swaps only if it is still this one
    chosen = model_types or list(config.model_type)
    all_params = {**{str(k): v for k, v in config.training_params.items()}, **(params or {})}
    fingerprint = training_fingerprint(config, dataset.sha256, chosen, all_params, may_promote)
    existing = None if force else registry.newest_with("fingerprint", fingerprint)
    if existing is not None:
        stored()  # the dataset's files are in the store before anything refers to them
        return _reuse(registry, existing, champion, config, (dataset, store, settings, started),
                      may_promote, progress)  # fmt: skip
    features = profile_meanwhile(frame, data)
    candidates, exported, system = _fit_and_export(data, chosen, all_params, progress)
    best, passed_over = choose(exported, config.metric)
    data.notes.extend(passed_over)
    promote, reason, champion_metrics = _decide_on_labels_too(
        registry, champion, data, best, force, labelled
    )
    promote, reason = _authority(promote, reason, may_promote)
    metadata = _metadata(data, best, exported, dataset, None, system)
    metadata.update(fingerprint=fingerprint, lineage=_lineage(settings, store, dataset, data,
                                                              chosen, all_params))  # fmt: skip
    stored()  # written while the candidates fit; a failed write stops here, nothing registered
    progress.start("registering", 1)  # the last checkpoint before the registry changes
    reference = reference_files(frame, data, best, features)
    registered = _register(
        registry, champion, data, best, metadata, (promote, reason), may_promote, reference
    )
    summary = {
        **_outcome(metadata, data, best, dataset),
        **_registered(registry, champion, registered, champion_metrics),
        "store": store.uri,
        "env": settings.env,
        **_timings_and_lineage(exported, metadata),
    }
    _track(store, summary, candidates, best, data, dataset, settings, chosen, reference)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary


def _registered(
    registry: ModelRegistry,
    champion: ChampionPointer | None,
    registered: tuple[int, bool, str],
    champion_metrics: dict[str, float] | None,
) -> dict[str, Any]:
    """The summary's account of the registry: the new version, whether it was promoted and
    why, and the champion before and after."""
    version, promoted, reason = registered
    return {
        "model_name": registry.name,
        "version": version,
        "promoted": promoted,
        "reason": reason,
        "champion": _version_of(registry.champion()),
        "champion_metrics": champion_metrics,
        "previous_champion": _version_of(champion),
    }


def _dataset_rows(
    settings: Settings, store: Store, dataset: DatasetVersion | None
) -> tuple[DatasetVersion, pd.DataFrame, Callable[[], None]]:
    """The dataset, its rows, and a call that returns once its files are in the store: a
    new ingest's Parquet is written while the candidates fit (core.data.ingest.stage_ingest:
    its in-memory rows are those the stored file gives back)."""
    if dataset is not None:
        return dataset, load_dataset(store, settings, dataset.sha256), lambda: None
    staged = stage_ingest(settings, store)
    return staged.version, staged.frame, staged.stored.result


def _decide_on_labels_too(
    registry: ModelRegistry,
    champion: Any,
    data: TrainingData,
    best: Exported,
    force: bool,
    labelled: Basis | None,
) -> tuple[bool, str, dict[str, float] | None]:
    """`_decide`, then, for a challenger that wins there, the recent labelled live rows."""
    promote, reason, champion_metrics = _decide(registry, champion, data, best, force)
    if promote and labelled is not None and champion is not None and not force:
        promote, reason = _on_labels_too(registry, champion, data, best, labelled, reason)
    return promote, reason, champion_metrics


def _timings_and_lineage(exported: list[Exported], metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "export_seconds": round(sum(e.export_seconds for e in exported), 3),
        "parity_seconds": round(sum(e.parity_seconds for e in exported), 3),
        "lineage": lineage_tags(metadata["lineage"]),
    }


def _reuse(
    registry: ModelRegistry,
    existing: int,
    champion: ChampionPointer | None,
    config: ProjectConfig,
    context: tuple[DatasetVersion, Store, Settings, float],
    may_promote: bool,
    progress: Progress,
) -> dict[str, Any]:
    """The same training again: the version it made, promoted if it should be."""
    dataset, store, settings, started = context
    same = _unchanged(registry, existing, dataset, store, settings, started)
    if may_promote:
        progress.start("promoting", 1)  # a checkpoint: a cancelled job stops here
        _promote_existing(registry, existing, champion, config, same)
    return same


def _lineage(
    settings: Settings, store: Store, dataset: DatasetVersion, data: TrainingData,
    chosen: list[str], all_params: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """Where the version comes from: source, dataset, config, code, candidates."""
    return lineage_record(
        data.config, settings.parser, dataset_manifest(settings, store, dataset),
        {"model_types": chosen, "params": all_params},
    )  # fmt: skip


def _on_labels_too(
    registry: ModelRegistry, champion: ChampionPointer, data: TrainingData, best: Exported,
    labelled: Basis, reason: str,
) -> tuple[bool, str]:  # fmt: skip
    """A retraining the monitoring triggered must also win on the recent labelled rows."""
    config = data.config
    promote, second = labelled_gate(
        registry, champion, (best.model_bytes, data.spec, data.classes), labelled,
        (config.resolved_task, config.metric, config.min_improvement),
    )  # fmt: skip
    return promote, f"{reason}; {second}"


def _authority(promote: bool, reason: str, may_promote: bool) -> tuple[bool, str]:
    """A better model trained on a train-scoped caller's own data is registered only."""
    if not promote or may_promote:
        return promote, reason
    return False, (
        f"registered only: trained on data the caller supplied ({reason}); "
        "an admin may promote it (POST /models/{version}/promote)"
    )


def training_fingerprint(
    config: ProjectConfig,
    dataset_sha256: str,
    model_types: list[str],
    params: dict[str, dict[str, Any]],
    trusted: bool,
) -> str:
    """What determines a training's result: the data, the config that shapes the features
    and the models, and whether its data was trusted."""
    relevant = config.model_dump(
        mode="json",
        exclude={
            "promotion",
            "cloud_vendor",
            "parser_config",
            "data_source",
            "training",  # how jobs run, not what they train
            "training_timeout_seconds",
            "training_limits",
            "monitoring",  # when and why to retrain, not what
            "retrain",
        },
    )
    payload = {
        "dataset": dataset_sha256,
        "config": relevant,
        "model_types": model_types,
        "params": params,
        "trusted": trusted,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _unchanged(
    registry: ModelRegistry,
    version: int,
    dataset: DatasetVersion,
    store: Store,
    settings: Settings,
    started: float,
) -> dict[str, Any]:
    """The summary of an existing version, instead of training the same model again."""
    metadata = registry.metadata(version)
    champion = registry.champion()
    return {
        "model_name": registry.name,
        "version": version,
        "task": metadata["task"],
        "model_type": metadata["model_type"],
        "metrics": metadata["metrics"],
        "primary_metric": metadata["primary_metric"],
        "candidates": metadata["candidates"],
        "promoted": False,
        "unchanged": True,
        "reason": f"unchanged: version {version} was trained on the same data and config "
        "(--force trains again)",
        "champion": champion.version if champion else None,
        "champion_metrics": None,
        "previous_champion": champion.version if champion else None,
        "parity": metadata["parity"],
        "features": metadata["schema"],
        "dropped_features": metadata.get("dropped_features", {}),
        "notes": metadata.get("notes", []),
        "dataset": dataset.to_dict(),
        "system": metadata.get("system", {}),
        "store": store.uri,
        "env": settings.env,
        "export_seconds": 0.0,
        "parity_seconds": 0.0,
        "tracking_seconds": 0.0,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _promote_existing(
    registry: ModelRegistry,
    version: int,
    champion: Any,
    config: ProjectConfig,
    summary: dict[str, Any],
) -> None:
    """An unchanged training's version still becomes the champion when it beats the current
    one on the champion's reference rows (e.g. after a rollback to a weaker version)."""
    if champion is not None and champion.version == version:
        return
    if registry.metadata(version).get("needs_heavy_runtime"):  # as its first training said
        summary["reason"] = (
            f"unchanged: version {version} was trained on the same data and config, and has no "
            "ONNX graph (stored natively, needs the heavy runtime): not promoted (--force "
            "trains again)"
        )
        return
    task, metric = config.resolved_task, config.metric
    new_metrics: dict[str, float] | None = summary["metrics"]
    old_metrics: dict[str, float] | None = None
    why = "no champion yet"
    if champion is not None:
        basis = reference_basis(registry, champion.version, registry.metadata(champion.version))
        if basis is None:
            return
        pointer = ChampionPointer(version, "", "")
        new_metrics, _ = score_champion(registry, pointer, basis, task)
        old_metrics, _ = score_champion(registry, champion, basis, task)
        if (
            new_metrics is None
            or old_metrics is None
            or not is_better(
                metric, new_metrics[metric], old_metrics[metric], config.min_improvement
            )
        ):
            return
        why = (
            f"{metric} {new_metrics[metric]:.4f} beats champion v{champion.version}'s "
            f"{old_metrics[metric]:.4f} on {basis.name}"
        )
    try:
        after = registry.promote(version, champion, reason=why, metrics=new_metrics)
    except ConflictError:
        return
    summary.update(
        promoted=True,
        champion=after.version,
        champion_metrics=old_metrics,
        reason=f"unchanged: version {version} was trained on the same data and config, and {why}",
    )


def _fit_and_export(
    data: TrainingData, chosen: list[str], params: dict[str, dict[str, Any]], progress: Progress
) -> tuple[list[Candidate], list[Exported], dict[str, Any]]:
    """Every candidate fitted, then exported and scored from its graph, with the system
    metrics of the whole."""
    with SystemMonitor() as monitor:
        candidates = _fit_all(data, chosen, params, progress)
        task_id = progress.start("export to ONNX + parity", len(candidates))
        exported = []
        for candidate in candidates:
            exported.append(
                export_candidate(
                    candidate, data.spec, data.split, data.classes, data.config.max_model_mb
                )
            )
            progress.advance(task_id)
    missing = [
        e.candidate.model_type for e in exported if data.config.metric not in e.candidate.metrics
    ]
    if missing:
        raise ConfigError(
            f"primary metric '{data.config.metric}' could not be computed for {missing}"
        )
    return candidates, exported, monitor.summary()


def _version_of(pointer: ChampionPointer | None) -> int | None:
    return pointer.version if pointer else None


def _outcome(
    metadata: dict[str, Any], data: TrainingData, best: Exported, dataset: DatasetVersion
) -> dict[str, Any]:
    """What the summary says of the trained model itself."""
    return {
        "task": data.config.task,
        "model_type": best.candidate.model_type,
        "metrics": best.candidate.metrics,
        "primary_metric": data.config.metric,
        "candidates": metadata["candidates"],
        "parity": best.parity.to_dict(),
        "features": metadata["schema"],
        "dropped_features": data.spec.dropped,
        "notes": data.notes,
        "dataset": dataset.to_dict(),
        "system": metadata["system"],
    }


def _register(
    registry: ModelRegistry,
    champion: Any,
    data: TrainingData,
    best: Exported,
    metadata: dict[str, Any],
    decision: tuple[bool, str],
    trusted: bool,
    reference: dict[str, bytes],
) -> tuple[int, bool, str]:
    """Write the new version (its graph, or the native artifact; the reference rows when
    the data is trusted), then promote it by compare-and-swap when decided."""
    promote, reason = decision
    files, native = (
        ({ONNX_FILE: best.model_bytes}, None)
        if best.model_bytes
        else save_native(best.candidate.pipeline)
    )
    files.update(reference)  # the drift reference: profile and sample
    if trusted:  # its held-out rows become the reference for later challengers
        files[REFERENCE_FILE] = reference_file(data.split, data.classes, data.config.target)
    version = registry.create_version(files, {**metadata, "native": native})
    if not promote:
        return version, False, reason
    try:
        registry.promote(version, champion, reason=reason, metrics=metadata.get("metrics", {}))
    except ConflictError as exc:
        return version, False, exc.message
    return version, True, reason


def _track(
    store: Store,
    summary: dict[str, Any],
    candidates: list[Candidate],
    best: Exported,
    data: TrainingData,
    dataset: DatasetVersion,
    settings: Settings,
    chosen: list[str],
    reference: dict[str, bytes],
) -> None:
    """Mirror the run in MLflow (with the drift reference's profile as an artifact); the
    version and the champion are already safe in the store."""
    tracking_started = time.perf_counter()
    try:
        run = log_training(
            store,
            data.config.model_name,
            summary,
            candidates,
            best.candidate,
            data.split,
            data.config.resolved_task,
            best.onnx_model,
            _run_params(data.config, settings.env, chosen, dataset),
            {PROFILE_FILE: reference[PROFILE_FILE]},
        )
        summary["mlflow"] = (
            {"run_id": run.run_id, "model_version": run.model_version} if run else None
        )
    except (MlfnError, ImportError, OSError, ValueError) as exc:
        summary["mlflow"] = {"error": f"MLflow logging failed: {exc}"}
    summary["tracking_seconds"] = round(time.perf_counter() - tracking_started, 3)


def _run_params(
    config: ProjectConfig, env: str, chosen: list[str], dataset: DatasetVersion
) -> dict[str, Any]:
    return {
        "model_types": ",".join(chosen),
        "task": config.task,
        "target": config.target,
        "features": ",".join(config.features),
        "train_split": config.train_split,
        "primary_metric": config.metric,
        "dataset_sha256": dataset.sha256,
        "env": env,
        "class_balance": config.class_balance,
    }
