"""Score the current champion on the new run's held-out rows, so the two compare fairly.

The champion encodes the held-out rows' original columns with its *own* feature
specification, and is scored from its own graph exactly as a candidate is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import MlfnError
from core.export.native import load_native
from core.export.onnx_export import graph_predictions, onnx_feeds, run_graph
from core.features import prepare_frame
from core.featurespec import FeatureSpec
from core.registry import ONNX_FILE, ChampionPointer, ModelRegistry
from core.training.candidates import Split
from core.training.select import graph_metrics, true_labels
from core.training.targets import label_key


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


def score_champion(
    registry: ModelRegistry,
    champion: ChampionPointer,
    split: Split,
    classes: list[Any] | None,
    task: str,
) -> tuple[dict[str, float] | None, str]:
    """The champion's metrics on these held-out rows, or None and why it cannot be compared."""
    metadata = registry.metadata(champion.version)
    force = "use --force to replace it"
    if metadata["task"] != task:
        return None, f"champion v{champion.version} is a {metadata['task']} model; {force}"
    spec = FeatureSpec.of_version(metadata)
    lacking = [name for name in spec.names if name not in split.raw_test.columns]
    if lacking:
        return (
            None,
            f"champion v{champion.version} needs features {lacking} this data lacks; {force}",
        )
    labels = true_labels(split, classes)
    champion_classes = metadata["classes"] if task == "classification" else None
    if champion_classes is not None:
        known = {label_key(c) for c in champion_classes}
        if not {label_key(v) for v in labels} <= known:
            return None, (
                f"the held-out rows have classes champion v{champion.version} never saw; {force}"
            )
    try:
        prepared = prepare_frame(split.raw_test, spec)
        predicted, proba = champion_predictions(
            registry, champion.version, metadata, prepared, spec
        )
    except MlfnError as exc:
        return (
            None,
            f"champion v{champion.version} cannot score these rows ({exc.message}); {force}",
        )
    return graph_metrics(labels, predicted, proba, champion_classes), ""
