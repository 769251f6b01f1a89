"""Score the current champion on the new run's held-out rows, so the two compare fairly.

The champion encodes the held-out rows' original columns with its *own* feature
specification, and is scored from its own graph exactly as a candidate is.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import DataError, MlfnError
from core.export.native import load_native
from core.export.onnx_export import graph_predictions, onnx_feeds, run_graph
from core.features import prepare_frame
from core.featurespec import FeatureSpec
from core.parquet import frame_parquet
from core.registry import ONNX_FILE, ChampionPointer, ModelRegistry
from core.training.candidates import Split
from core.training.select import graph_metrics, true_labels
from core.training.targets import label_key, label_value

if TYPE_CHECKING:
    import pandas as pd

REFERENCE_FILE = "reference/holdout.parquet"
REFERENCE_MAX_ROWS = 20_000


def champion_predictions(
    registry: ModelRegistry,
    version: int,
    metadata: dict[str, Any],
    prepared: Any,
    spec: FeatureSpec,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class indices and probabilities (or values) of a stored version on prepared rows."""
    n_classes = len(metadata["classes"] or []) if metadata["task"] == "classification" else 0
    files = metadata["files"]
    if ONNX_FILE in files:
        model_bytes = registry.read_file(version, ONNX_FILE, metadata)
        return graph_predictions(run_graph(model_bytes, onnx_feeds(prepared, spec)), n_classes)
    native = load_native(
        {
            name: registry.read_file(version, name, metadata)
            for name in files
            if name != "metadata.json"
        },
        metadata["native"],
    )
    if n_classes:
        proba = np.asarray(native.predict_proba(prepared), dtype=np.float64)
        return np.argmax(proba, axis=1), proba
    return np.asarray(native.predict(prepared), dtype=np.float64).reshape(-1), None


@dataclass(frozen=True)
class Basis:
    """Rows two versions are compared on: original columns, and their true labels."""

    rows: pd.DataFrame
    labels: list[Any]
    name: str  # "held-out rows" or "the champion's reference rows"


def split_basis(split: Split, classes: list[Any] | None) -> Basis:
    return Basis(split.raw_test, true_labels(split, classes), "this run's held-out rows")


def reference_basis(
    registry: ModelRegistry, version: int, metadata: dict[str, Any]
) -> Basis | None:
    """The reference held-out rows kept with a version (from its trusted training data)."""
    import pandas as pd

    if REFERENCE_FILE not in metadata.get("files", {}):
        return None
    rows = pd.read_parquet(io.BytesIO(registry.read_file(version, REFERENCE_FILE, metadata)))
    target = metadata["target"]
    labels = [label_value(v) for v in rows[target].to_numpy(dtype=object)]
    return Basis(rows.drop(columns=[target]), labels, f"champion v{version}'s reference rows")


def reference_file(split: Split, classes: list[Any] | None, target: str) -> bytes:
    """The held-out rows (original columns and the label), kept with a version trained on
    trusted data so later challengers are compared on rows no caller chose."""
    frame = split.raw_test.head(REFERENCE_MAX_ROWS).copy()
    labels = true_labels(split, classes)[:REFERENCE_MAX_ROWS]
    frame[target] = labels
    return frame_parquet(frame)


def lacking_features(spec: FeatureSpec, basis: Basis) -> list[str]:
    """The features of `spec` the basis rows have no column for (the config's features
    changed since they were kept)."""
    return [name for name in spec.names if name not in basis.rows.columns]


def score_graph(
    model_bytes: bytes, spec: FeatureSpec, classes: list[Any] | None, basis: Basis
) -> dict[str, float]:
    lacking = lacking_features(spec, basis)
    if lacking:
        raise DataError(f"{basis.name} lack the features {lacking}")
    prepared = prepare_frame(basis.rows, spec)
    outputs = run_graph(model_bytes, onnx_feeds(prepared, spec))
    predicted, proba = graph_predictions(outputs, len(classes or []))
    return graph_metrics(basis.labels, predicted, proba, classes)


def score_champion(
    registry: ModelRegistry,
    champion: ChampionPointer,
    basis: Basis,
    task: str,
) -> tuple[dict[str, float] | None, str]:
    """The champion's metrics on the basis rows, or None and why it cannot be compared."""
    metadata = registry.metadata(champion.version)
    force = "use --force to replace it"
    if metadata["task"] != task:
        return None, f"champion v{champion.version} is a {metadata['task']} model; {force}"
    spec = FeatureSpec.of_version(metadata)
    lacking = lacking_features(spec, basis)
    if lacking:
        return None, (
            f"champion v{champion.version} needs features {lacking} this data lacks; {force}"
        )
    champion_classes = metadata["classes"] if task == "classification" else None
    if champion_classes is not None:
        known = {label_key(c) for c in champion_classes}
        if not {label_key(v) for v in basis.labels} <= known:
            return None, (
                f"the comparison rows have classes champion v{champion.version} never saw; {force}"
            )
    try:
        prepared = prepare_frame(basis.rows, spec)
        predicted, proba = champion_predictions(
            registry, champion.version, metadata, prepared, spec
        )
    except MlfnError as exc:
        return None, (
            f"champion v{champion.version} cannot score these rows ({exc.message}); {force}"
        )
    return graph_metrics(basis.labels, predicted, proba, champion_classes), ""


def labelled_gate(
    registry: ModelRegistry,
    champion: ChampionPointer,
    challenger: tuple[bytes | None, FeatureSpec, list[Any] | None],
    basis: Basis,
    policy: tuple[str, str, float],
) -> tuple[bool, str]:
    """The second test of a triggered retraining: the challenger must also beat the
    champion on the recent labelled live rows. `policy` is (task, metric, min_improvement)."""
    from core.training.metrics import is_better

    task, metric, margin = policy
    model_bytes, spec, classes = challenger
    rows = len(basis.labels)
    champion_metrics, why = score_champion(registry, champion, basis, task)
    lacking = lacking_features(spec, basis)
    if lacking:
        why = why or f"they lack the challenger's features {lacking}"
    if champion_metrics is None or model_bytes is None or lacking:
        return True, f"not compared on {rows} labelled live rows ({why or 'no ONNX graph'})"
    new = score_graph(model_bytes, spec, classes, basis)[metric]
    old = champion_metrics[metric]
    if is_better(metric, new, old, margin):
        return True, f"and {metric} {new:.4f} beats {old:.4f} on {rows} labelled live rows"
    return False, (
        f"but on {rows} labelled live rows {metric} {new:.4f} does not beat champion "
        f"v{champion.version}'s {old:.4f}"
    )
