"""The target column as the models see it: class indices (classification) or floats.

Models are trained on class *indices*; the labels themselves — strings, integers or
booleans, kept with their JSON type — live in the version's metadata, so an answer says
`true`, not `"True"`, and every model type exports the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

MIN_CLASS_ROWS = 2  # a class needs a row to learn from and one to be held out


@dataclass(frozen=True)
class Targets:
    y: np.ndarray  # class index per row (classification) or the value (regression)
    keep: np.ndarray  # boolean mask of the dataset rows kept
    classes: list[Any] | None  # the labels, in index order (classification)
    notes: list[str] = field(default_factory=list)


def label_value(value: Any) -> Any:
    """A label as JSON keeps it: numpy scalars unwrapped, integral floats as ints."""
    if type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def label_key(value: Any) -> str:
    """One text per label, so labels of two versions can be compared (true != "true")."""
    return json.dumps(label_value(value))


def _order(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def encode_target(column: pd.Series, task: str, name: str) -> Targets:
    if task == "regression":
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        return Targets(values, np.ones(len(values), dtype=bool), None)
    labels = [label_value(v) for v in column.to_numpy(dtype=object)]
    keys = [label_key(v) for v in labels]
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    rare = sorted(key for key, count in counts.items() if count < MIN_CLASS_ROWS)
    notes = [
        f"target '{name}': class {key} has {counts[key]} row: dropped (a class needs at "
        f"least {MIN_CLASS_ROWS} rows, one to learn from and one to hold out)"
        for key in rare
    ]
    keep = np.asarray([counts[key] >= MIN_CLASS_ROWS for key in keys], dtype=bool)
    kept = [label for label, ok in zip(labels, keep, strict=True) if ok]
    classes = sorted({label_key(v): v for v in kept}.values(), key=_order)
    if len(classes) < 2:
        raise DataError(
            f"target '{name}' has fewer than two classes with {MIN_CLASS_ROWS}+ rows; "
            "classification needs at least two"
        )
    index = {label_key(v): i for i, v in enumerate(classes)}
    y = np.asarray([index[label_key(v)] for v in kept], dtype=np.int64)
    return Targets(y, keep, classes, notes)


def label_tensor_values(classes: list[Any]) -> np.ndarray:
    """The labels as an ONNX initializer holds them: int64 for integer labels, else text
    (booleans as "true"/"false")."""
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return np.asarray(classes, dtype=np.int64)
    return np.asarray([c if isinstance(c, str) else json.dumps(c) for c in classes], dtype=object)
