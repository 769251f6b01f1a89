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

from core.data.lookalikes import variants_note
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
    labels, per_row = _label_groups(column)
    keys = [label_key(v) for v in labels]
    counts = np.bincount(per_row, minlength=len(labels))
    rare = sorted(key for key, count in zip(keys, counts.tolist(), strict=True)
                  if count < MIN_CLASS_ROWS)  # fmt: skip
    notes = _rare_notes(name, rare)
    variants = variants_note(f"target '{name}'", labels, "the classes")
    notes += [variants] if variants is not None else []
    keep = counts[per_row] >= MIN_CLASS_ROWS
    classes = sorted((v for v, n in zip(labels, counts.tolist(), strict=True)
                      if n >= MIN_CLASS_ROWS), key=_order)  # fmt: skip
    if len(classes) < 2:
        raise DataError(
            f"target '{name}' has fewer than two classes with {MIN_CLASS_ROWS}+ rows; "
            f"classification needs at least two ({len(labels)} distinct values in "
            f"{len(per_row)} rows{_quantity_hint(len(labels), len(per_row))})"
        )
    index = {label_key(v): i for i, v in enumerate(classes)}
    position = np.asarray([index.get(key, -1) for key in keys], dtype=np.int64)
    return Targets(position[per_row[keep]], keep, classes, notes)


RARE_NAMED = 5  # rare classes named one by one; beyond, one note counts them


def _rare_notes(name: str, rare: list[str]) -> list[str]:
    """Classes with too few rows to learn from and hold out, dropped: each named, or (when
    there are many) counted in one note."""
    needs = f"a class needs at least {MIN_CLASS_ROWS} rows, one to learn from and one to hold out"
    if len(rare) <= RARE_NAMED:
        return [f"target '{name}': class {key} has 1 row: dropped ({needs})" for key in rare]
    shown = ", ".join(rare[:RARE_NAMED])
    return [f"target '{name}': {len(rare)} classes of 1 row each ({shown}, …) dropped ({needs})"]


def _quantity_hint(distinct: int, rows: int) -> str:
    if distinct * 2 < rows:
        return ""
    return '; if the target is a quantity, set "task": "regression"'


def _label_groups(column: pd.Series) -> tuple[list[Any], np.ndarray]:
    """(the distinct labels, each row's position among them): one label per label_key, so
    1 and 1.0 are one class while true, 1 and "1" are three. Grouped by pandas when its
    equality agrees with label_key (one kind of value); row by row otherwise."""
    import pandas as pd

    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    values = [label_value(v) for v in np.asarray(uniques, dtype=object)]
    kinds = {"bool" if isinstance(v, bool) else "number" if isinstance(v, int | float)
             else type(v).__name__ for v in values}  # fmt: skip
    if len(kinds) > 1:  # pandas would merge True with 1: group by the key instead
        values = [label_value(v) for v in column.to_numpy(dtype=object)]
        codes = np.arange(len(values))
    first: dict[str, int] = {}
    merged = np.asarray([first.setdefault(label_key(v), len(first)) for v in values])
    labels = list({label_key(v): v for v in values}.values())
    return labels, merged[np.asarray(codes, dtype=np.int64)] if len(values) else merged


def label_tensor_values(classes: list[Any]) -> np.ndarray:
    """The labels as an ONNX initializer holds them: int64 for integer labels, else text
    (booleans as "true"/"false")."""
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return np.asarray(classes, dtype=np.int64)
    return np.asarray([c if isinstance(c, str) else json.dumps(c) for c in classes], dtype=object)
