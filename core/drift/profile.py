"""The reference a version's live traffic is compared with, saved with the version:

- `reference/profile.json`: per feature its kind, missing rate, and quantiles and a histogram
  (numeric) or category frequencies (categorical, boolean); the prediction distribution;
- `reference/sample.parquet`: a bounded, seeded sample of the training data's rows (the
  original columns, as callers send them) and the model's prediction for each, for the tests.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from core.parquet import frame_parquet
from core.schema import list_text

SAMPLE_ROWS = 5000
PREDICTION = "__prediction__"
PROFILE_FILE = "reference/profile.json"
SAMPLE_FILE = "reference/sample.parquet"
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
TOP_CATEGORIES = 50
TESTED_KINDS = {"numeric": True, "boolean": False, "categorical": False}  # kind -> numeric


def reference_sample(frame: pd.DataFrame, seed: int, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
    if len(frame) <= rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True)


def numeric_values(series: pd.Series) -> pd.Series:
    """Numbers, with what cannot be read as one (or is infinite) as missing."""
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    return values.replace([np.inf, -np.inf], np.nan)


def _category_text(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return str(value).lower()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _label(value: Any) -> Any:
    """A logged value as a label: a list (a request's `"tags": ["x", "y"]`) as its JSON
    text, as training wrote it (core.schema.list_text); missing stays missing."""
    if isinstance(value, list | tuple | np.ndarray):
        return list_text(list(value))
    return value if pd.isna(value) else _category_text(value)


def category_values(series: pd.Series) -> pd.Series:
    """Text labels, so 1, 1.0 and "1" from JSON and Parquet agree; missing stays missing.
    Each distinct value is converted once (a million rows hold a few hundred)."""
    present = series.dropna()
    kind = pd.api.types.infer_dtype(present, skipna=True)
    if kind == "string":  # text already: kept as it is (and as fast as its dtype is)
        return series
    if kind not in (
        "floating",
        "integer",
        "mixed-integer-float",
        "empty",
    ):  # e.g. True == 1 as keys
        return series.map(_label).astype("object")
    texts = {value: _category_text(value) for value in present.unique()}
    return series.map(texts).astype("object")


def _numeric_profile(values: pd.Series) -> dict[str, Any]:
    """Quantiles (linear, as pandas'), mean, population std and a Sturges histogram, in
    numpy: pandas' own reductions cost ten times as much on a training set's columns."""
    present = values.to_numpy(dtype=np.float64)
    present = present[~np.isnan(present)]
    if present.size == 0:
        return {"quantiles": None, "histogram": None}
    quantiles = np.percentile(present, [q * 100 for q in QUANTILES])
    counts, edges = np.histogram(present, bins="sturges")
    return {
        "quantiles": dict(zip(map(str, QUANTILES), quantiles.tolist(), strict=True)),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def _category_profile(values: pd.Series) -> dict[str, Any]:
    shares = values.value_counts(normalize=True).head(TOP_CATEGORIES)
    return {
        "frequencies": {str(k): float(v) for k, v in shares.items()},
        "distinct": int(values.nunique()),
    }


def feature_profile(series: pd.Series, kind: str) -> dict[str, Any]:
    numeric = TESTED_KINDS.get(kind)
    values = numeric_values(series) if numeric else category_values(series)
    profile: dict[str, Any] = {
        "kind": kind,
        "missing_rate": float(values.isna().mean()),
        "rows": len(values),
    }
    if numeric is None:
        return {**profile, "tested": False}  # text and dates: profiled by missing rate only
    return {
        **profile,
        "tested": True,
        **(_numeric_profile(values) if numeric else _category_profile(values)),
    }


def features_profile(frame: pd.DataFrame, kinds: dict[str, str]) -> dict[str, Any]:
    """The profile of each feature of the training rows, by name."""
    return {name: feature_profile(frame[name], kind) for name, kind in kinds.items()}


def _as_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def build_reference(
    frame: pd.DataFrame,
    sample: pd.DataFrame,
    kinds: dict[str, str],
    predictions: list[Any],
    task: str,
    features: dict[str, Any] | None = None,
) -> dict[str, bytes]:
    """The two reference files of a version: the profile of its training rows (original
    columns), and `sample` (from `reference_sample`) with the model's predictions for it.
    `features`: `features_profile(frame, kinds)` when made already (during the fit)."""
    sample = sample[list(kinds)].assign(**{PREDICTION: predictions})
    prediction_kind = "categorical" if task == "classification" else "numeric"
    profile = {
        "rows": len(frame),
        "sample_rows": len(sample),
        "features": features or features_profile(frame, kinds),
        "prediction": feature_profile(pd.Series(predictions), prediction_kind),
        "task": task,
    }
    stored = sample.copy()
    for name in stored.columns:  # mixed-type columns as text: Parquet needs one type
        if stored[name].dtype == object:
            stored[name] = stored[name].map(_as_text)
    return {
        PROFILE_FILE: json.dumps(profile, default=float).encode(),
        SAMPLE_FILE: frame_parquet(stored),
    }
