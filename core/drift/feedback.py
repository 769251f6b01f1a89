"""Ground truth: labels posted for prediction ids (`POST /feedback`), stored as new objects
(feedback/<yyyy>/<mm>/<dd>/<hhmmss>-<id>.jsonl), and joined with the prediction log into
live metrics per model version: accuracy and macro F1, or RMSE and MAE, once at least
`min_labels` labels arrived, for the whole window and per day."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from core.drift.profile import PREDICTION, category_values
from core.drift.window import PREDICTION_ID, TIME, VERSION, Window, day_prefixes
from core.errors import ValidationError
from core.storage import Store, join_key

FEEDBACK_PREFIX = "feedback"
MAX_ITEMS = 10_000
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
LABEL = "__label__"


def check_feedback(body: Any) -> list[dict[str, Any]]:
    """The {prediction_id, label} items of a request body, or one error naming the first
    bad item and what to send instead."""
    items = body.get("feedback") if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise ValidationError('send {"feedback": [{"prediction_id": "...", "label": ...}, ...]}')
    if len(items) > MAX_ITEMS:
        raise ValidationError(f"{len(items)} feedback items is over the limit of {MAX_ITEMS}")
    for index, item in enumerate(items):
        where = f"feedback[{index}]"
        if not isinstance(item, dict) or set(item) - {"prediction_id", "label"}:
            raise ValidationError(f"{where}: give exactly 'prediction_id' and 'label'")
        if not isinstance(item.get("prediction_id"), str) or not ID_PATTERN.match(
            item["prediction_id"]
        ):
            raise ValidationError(
                f"{where}.prediction_id: the id /predict returned, e.g. 'ab12…-0'"
            )
        label = item.get("label")
        if (
            label is None
            or not isinstance(label, str | int | float | bool)
            or (isinstance(label, float) and not np.isfinite(label))
        ):
            raise ValidationError(f"{where}.label: a class or a finite number")
    return [{"prediction_id": i["prediction_id"], "label": i["label"]} for i in items]


def record_feedback(store: Store, items: list[dict[str, Any]], subject: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="milliseconds")
    lines = [json.dumps({**item, "time": stamp, "by": subject}) for item in items]
    key = join_key(FEEDBACK_PREFIX, f"{now:%Y/%m/%d}", f"{now:%H%M%S}-{uuid.uuid4().hex}.jsonl")
    store.write_new(key, ("\n".join(lines) + "\n").encode())
    return {"accepted": len(items), "key": key}


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
