"""Score the current champion on the new run's held-out rows, so the two compare fairly."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.export.native import load_native
from core.export.onnx_export import onnx_feeds, onnx_session, probabilities_of
from core.registry import ONNX_FILE, ChampionPointer, ModelRegistry
from core.training.candidates import Split
from core.training.metrics import classification_metrics, regression_metrics


def champion_predictions(
    registry: ModelRegistry, version: int, metadata: dict[str, Any], split: Split
) -> tuple[np.ndarray, np.ndarray | None]:
    files = metadata["files"]
    if ONNX_FILE in files:
        session = onnx_session(registry.read_file(version, ONNX_FILE, metadata))
        names = [o.name for o in session.get_outputs()]
        outputs = dict(
            zip(names, session.run(None, onnx_feeds(split.X_test, metadata["schema"])), strict=True)
        )
        if metadata["task"] == "classification":
            labels = np.asarray(outputs["label"]).reshape(-1)
            return labels, probabilities_of(outputs, len(metadata["classes"]))
        return np.asarray(outputs["variable"]).reshape(-1), None
    native = load_native(
        {
            name: registry.read_file(version, name, metadata)
            for name in files
            if name != "metadata.json"
        },
        metadata["native"],
    )
    if metadata["task"] == "classification":
        return np.asarray(native.predict(split.X_test)), native.predict_proba(split.X_test)
    return np.asarray(native.predict(split.X_test)), None


def score_champion(
    registry: ModelRegistry,
    champion: ChampionPointer,
    split: Split,
    schema: list[dict[str, str]],
    task: str,
) -> tuple[dict[str, float] | None, str]:
    """The champion's metrics on these held-out rows, or None and why it cannot be compared."""
    metadata = registry.metadata(champion.version)
    if metadata["task"] != task or metadata["schema"] != schema:
        return None, (
            f"champion v{champion.version} has a different task or feature schema; "
            "use --force to replace it"
        )
    labels, proba = champion_predictions(registry, champion.version, metadata, split)
    if task == "regression":
        return regression_metrics(split.y_test, labels), ""
    classes = metadata["classes"]
    y_test = split.y_test
    if not set(np.unique(y_test).tolist()) <= set(classes):
        return None, (
            f"the held-out rows have classes champion v{champion.version} "
            "never saw; use --force to replace it"
        )
    return classification_metrics(
        y_test.astype(type(classes[0])), labels.astype(type(classes[0])), proba, classes
    ), ""
