"""Ground truth: labels posted for prediction ids (`POST /feedback`), stored as new objects
(feedback/<yyyy>/<mm>/<dd>/<hhmmss>-<id>.jsonl), and joined with the prediction log into
live metrics per model version: accuracy and macro F1, or RMSE and MAE, once at least
`min_labels` labels arrived, for the whole window and per day."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from core.drift.profile import PREDICTION, category_values
from core.drift.records import FEEDBACK_PREFIX
from core.drift.window import PREDICTION_ID, TIME, VERSION, Window, day_prefixes
from core.storage import Store

LABEL = "__label__"


def read_feedback(store: Store, window: Window) -> pd.DataFrame:
    """The labels posted in the window; a prediction labelled twice keeps its last label."""
    start, end = window.bounds()
    records: list[dict[str, Any]] = []
    for prefix in day_prefixes(start, end, FEEDBACK_PREFIX):
        for key in store.list(prefix):
            records.extend(json.loads(line) for line in store.read_bytes(key).splitlines() if line)
    frame = pd.DataFrame.from_records(records, columns=["prediction_id", "label", "time", "by"])
    frame = frame.sort_values("time", kind="stable").drop_duplicates("prediction_id", keep="last")
    return frame.rename(columns={"prediction_id": PREDICTION_ID, "label": LABEL})


def labelled(predictions: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """The predicted rows that have a label."""
    return predictions.merge(feedback[[PREDICTION_ID, LABEL]], on=PREDICTION_ID, how="inner")


def scores(truth: pd.Series, predicted: pd.Series, task: str) -> dict[str, float]:
    if task == "classification":
        from sklearn.metrics import accuracy_score, f1_score

        y, p = category_values(truth).astype(str), category_values(predicted).astype(str)
        return {
            "accuracy": float(accuracy_score(y, p)),
            "f1_macro": float(f1_score(y, p, average="macro", zero_division=0)),
        }
    y, p = pd.to_numeric(truth, errors="coerce"), pd.to_numeric(predicted, errors="coerce")
    error = (y - p).dropna()
    return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}


def live_metrics(rows: pd.DataFrame, task: str, min_labels: int) -> dict[str, Any]:
    """Per model version: labels, and metrics once `min_labels` arrived, overall and by day."""
    versions: dict[str, Any] = {}
    for version, group in rows.groupby(VERSION):
        entry: dict[str, Any] = {"labels": len(group), "min_labels": min_labels}
        if len(group) < min_labels:
            versions[str(version)] = {**entry, "status": "insufficient_labels", "metrics": None}
            continue
        days = {
            day: scores(part[LABEL], part[PREDICTION], task)
            for day, part in group.groupby(group[TIME].str[:10])
            if len(part) >= min_labels
        }
        versions[str(version)] = {
            **entry,
            "status": "ok",
            "by_day": days,
            "metrics": scores(group[LABEL], group[PREDICTION], task),
        }
    return versions


def labelled_basis(store: Store, window: Window, min_labels: int) -> Any:
    """The recent labelled live rows as a comparison basis, or None under `min_labels`."""
    from core.drift.window import read_window
    from core.training.compare import Basis

    rows = labelled(read_window(store, window), read_feedback(store, window))
    if len(rows) < min_labels:
        return None
    return Basis(rows.reset_index(drop=True), rows[LABEL].tolist(), "labelled live rows")
