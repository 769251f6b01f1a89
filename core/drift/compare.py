"""Drift of a window of live rows against a version's reference: per feature the default
test and PSI, the share of drifted features and the dataset verdict, prediction drift, or
"insufficient data" under the configured minimum."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.drift.profile import PREDICTION, category_values, numeric_values
from core.drift.stattests import DISTANCE, default_test, psi

INSUFFICIENT = "insufficient_data"


def _values(series: pd.Series, numeric: bool) -> pd.Series:
    converted = numeric_values(series) if numeric else category_values(series)
    return converted.dropna()


def _histogram(values: pd.Series, profile: dict[str, Any]) -> list[int] | None:
    """The live values counted in the reference histogram's bins (for the report)."""
    edges = (profile.get("histogram") or {}).get("edges")
    if not edges:
        return None
    clipped = np.clip(values.to_numpy(dtype=float), edges[0], edges[-1])
    return np.histogram(clipped, edges)[0].tolist()


def _shares(values: pd.Series, limit: int = 50) -> dict[str, float]:
    return {str(k): float(v) for k, v in values.value_counts(normalize=True).head(limit).items()}


def column_drift(
    name: str, reference: pd.Series, current: pd.Series, profile: dict[str, Any]
) -> dict[str, Any]:
    """One column's verdict: its test, PSI, missing rates and the live distribution."""
    kind = profile["kind"]
    entry: dict[str, Any] = {
        "feature": name,
        "kind": kind,
        "tested": profile["tested"],
        "missing_rate": {
            "reference": profile["missing_rate"],
            "current": float(current.isna().mean()),
        },
    }
    if not profile["tested"]:
        return {**entry, "drifted": False, "why_not_tested": f"{kind} columns are profiled only"}
    numeric = kind == "numeric"
    ref, cur = _values(reference, numeric), _values(current, numeric)
    if ref.empty or cur.empty:
        side = "reference" if ref.empty else "window"
        return {**entry, "drifted": False, "why_not_tested": f"no values in the {side}"}
    result = default_test(ref, cur, numeric)
    psi_value = psi(ref, cur, numeric)
    live = {"histogram": _histogram(cur, profile)} if numeric else {"frequencies": _shares(cur)}
    return {
        **entry,
        **result.to_dict(),
        "psi": float(psi_value),
        "psi_drifted": bool(psi_value >= DISTANCE),
        "current": live,
    }


def drift_of(
    sample: pd.DataFrame,
    window: pd.DataFrame,
    profile: dict[str, Any],
    drift_share: float,
    min_rows: int,
    served: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The drift section of a report: per feature (every row of the window), the dataset,
    and the predictions (of the rows `served` by the reference's own version)."""
    base = {
        "rows": {"reference": len(sample), "window": len(window)},
        "min_rows": min_rows,
        "drift_share_threshold": drift_share,
    }
    if len(window) < min_rows:
        return {
            **base,
            "status": INSUFFICIENT,
            "dataset_drift": None,
            "features": [],
            "why": f"{len(window)} rows in the window, fewer than min_rows {min_rows}",
        }
    missing = pd.Series([np.nan] * len(window), dtype="float64")
    features = [
        column_drift(name, sample[name], window.get(name, missing), spec)
        for name, spec in profile["features"].items()
    ]
    tested = [f for f in features if f["tested"] and "test" in f]
    drifted = [f["feature"] for f in tested if f["drifted"]]
    share = len(drifted) / len(tested) if tested else 0.0
    served = window if served is None else served
    prediction = column_drift(
        PREDICTION, sample[PREDICTION], served[PREDICTION], profile["prediction"]
    )
    return {
        **base,
        "status": "ok",
        "features": features,
        "drifted_features": drifted,
        "tested_features": len(tested),
        "drift_share": share,
        "dataset_drift": bool(tested) and share >= drift_share,
        "prediction": prediction,
    }
