"""Score one chunk: an Arrow table in, the predictions table and the rejected rows out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.batch.encode import encode_table
from core.inference import LoadedModel

ROW_COLUMN = "row"  # the row's number in the whole input (files in order, from 0)


@dataclass(frozen=True)
class Scored:
    predictions: Any  # Arrow table: row, [id column], prediction, probability_<class>...
    rejected: Any  # Arrow table: row, [id column], reason
    reasons: dict[str, int]  # reason -> rows rejected for it


def score_table(
    model: LoadedModel, table: Any, first_row: int, id_column: str | None = None
) -> Scored:
    import pyarrow as pa

    feeds, keep, reasons = encode_table(model.spec, table)
    numbers = np.arange(first_row, first_row + table.num_rows, dtype=np.int64)
    columns: dict[str, Any] = {ROW_COLUMN: numbers[keep]}
    ids = table.column(id_column) if id_column else None
    if ids is not None:
        columns[id_column] = ids.filter(pa.array(keep))  # type: ignore[index]
    if keep.any():
        columns.update(_outputs(model, feeds))
    else:
        columns.update(_empty_outputs(model))
    predictions = pa.table(columns)
    rejected = _rejected(numbers, ids, reasons, id_column)
    counts: dict[str, int] = {}
    for reason in reasons.values():
        counts[reason] = counts.get(reason, 0) + 1
    return Scored(predictions, rejected, counts)


def _outputs(model: LoadedModel, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
    """The graph's answers as columns: the label (the first most probable class, as
    /predict gives it) and one probability column per class; or the regression's value."""
    import pyarrow as pa

    outputs = dict(zip(model.output_names, model.run(feeds), strict=True))
    if model.metadata["task"] != "classification":
        return {"prediction": np.asarray(outputs["variable"], dtype=np.float64).reshape(-1)}
    classes = model.metadata["classes"]
    proba = np.column_stack([outputs[f"probability_{k}"] for k in range(len(classes))])
    labels = pa.array(classes).take(pa.array(np.argmax(proba, axis=1)))
    columns: dict[str, Any] = {"prediction": labels}
    for k, name in enumerate(classes):
        columns[f"probability_{name}"] = proba[:, k].astype(np.float64)
    return columns


def _empty_outputs(model: LoadedModel) -> dict[str, Any]:
    import pyarrow as pa

    if model.metadata["task"] != "classification":
        return {"prediction": np.zeros(0, dtype=np.float64)}
    classes = model.metadata["classes"]
    columns: dict[str, Any] = {"prediction": pa.array([], type=pa.array(classes).type)}
    columns.update({f"probability_{name}": np.zeros(0) for name in classes})
    return columns


def _rejected(numbers: np.ndarray, ids: Any, reasons: dict[int, str], id_column: str | None) -> Any:
    import pyarrow as pa

    indices = sorted(reasons)
    columns: dict[str, Any] = {ROW_COLUMN: pa.array(numbers[indices], type=pa.int64())}
    if ids is not None and id_column:
        columns[id_column] = ids.take(pa.array(indices, type=pa.int64()))
    columns["reason"] = pa.array([reasons[i] for i in indices], type=pa.string())
    return pa.table(columns)
