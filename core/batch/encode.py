"""Arrow columns to model feeds, column by column, with the same conversions as /predict
(core/featurespec.py) — but a bad value rejects its row, with a reason, instead of the
whole request. Numeric columns of a numeric Arrow type take no per-row Python at all."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from core.errors import ValidationError
from core.featurespec import ColumnSpec, FeatureSpec, encode_column

_ROW_PREFIX = re.compile(r"^row \d+: ")
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_columns(spec: FeatureSpec, names: list[str], where: str) -> None:
    """Every feature is a column of the input (extra columns are carried or ignored)."""
    missing = [name for name in spec.names if name not in names]
    if missing:
        raise ValidationError(
            f"input '{where}' lacks the model's feature column(s) {missing}; "
            f"the model needs {spec.names}"
        )


def encode_table(spec: FeatureSpec, table: Any) -> tuple[dict[str, np.ndarray], np.ndarray, dict]:
    """(feeds of the kept rows, kept mask, {row index: reason} of the rejected rows)."""
    rows = table.num_rows
    reasons: dict[int, str] = {}
    encoded: dict[str, np.ndarray] = {}
    for column in spec.columns:
        feeds, bad = _encode(column, table.column(column.name))
        for index, reason in bad.items():
            reasons.setdefault(index, reason)
        encoded.update(feeds)
    keep = np.ones(rows, dtype=bool)
    if reasons:
        keep[list(reasons)] = False
        encoded = {name: values[keep] for name, values in encoded.items()}
    return spec.graph_feeds(encoded), keep, reasons


def _encode(column: ColumnSpec, values: Any) -> tuple[dict[str, np.ndarray], dict[int, str]]:
    """One column's feeds for every row (a rejected row's slot holds a placeholder)."""
    import pyarrow as pa

    if column.kind == "numeric" and _is_number_type(values.type):
        floats = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return {column.input: floats.astype(np.float32)}, _out_of_range(column.name, floats)
    python_values = values.to_pylist()
    try:
        return encode_column(column, python_values), {}
    except ValidationError:
        pass  # find the bad rows one by one: only a column that has some pays for it
    bad: dict[int, str] = {}
    for index, value in enumerate(python_values):
        try:
            encode_column(column, [value])
        except ValidationError as exc:
            bad[index] = _ROW_PREFIX.sub("", exc.message)
    placeholder = column.example()
    cleaned = [placeholder if i in bad else v for i, v in enumerate(python_values)]
    return encode_column(column, cleaned), bad


def _is_number_type(arrow_type: Any) -> bool:
    import pyarrow.types as pt

    return bool(pt.is_integer(arrow_type) or pt.is_floating(arrow_type) or pt.is_null(arrow_type))


def _out_of_range(name: str, floats: np.ndarray) -> dict[int, str]:
    with np.errstate(invalid="ignore"):
        bad = np.isinf(floats) | (np.abs(floats) > FLOAT32_MAX)
    if not bad.any():
        return {}
    reason = f"feature '{name}' is out of range; a finite number within ±3.4e38, or null"
    return dict.fromkeys(np.flatnonzero(bad).tolist(), reason)
