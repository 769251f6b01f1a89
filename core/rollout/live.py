"""Live comparison of the versions serving a model, from the prediction log since a time:
per version its requests, errors and error rate, latency percentiles, the distribution of
its predictions, and its labelled metrics when feedback arrived (POST /feedback joins a
shadow's rows too: they share the champion's prediction ids)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.drift.feedback import LABEL, read_feedback, scores
from core.drift.window import PREDICTION_ID, Window, _keys_in, _read_all, day_prefixes
from core.storage import Store

PERCENTILES = (50, 95, 99)


@dataclass
class Tally:
    """What one version did in the window."""

    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    predicted: dict[str, Any] = field(default_factory=dict)  # prediction id -> prediction
    roles: Counter[str] = field(default_factory=Counter)

    def add(self, entry: dict[str, Any]) -> None:
        self.roles[entry.get("role", "champion")] += 1
        if entry.get("error"):
            self.errors[str(entry["error"])] += 1
            return
        self.requests += 1
        self.latencies.append(float(entry.get("latency_ms", 0.0)))
        base = entry.get("id", entry.get("request_id"))
        for index, value in enumerate(entry.get("outputs", {}).get("predictions", [])):
            self.predicted[f"{base}-{index}"] = value


def _tallies(store: Store, since: datetime, until: datetime) -> dict[int, Tally]:
    low = since.isoformat(timespec="milliseconds")
    high = until.isoformat(timespec="milliseconds")
    tallies: dict[int, Tally] = {}
    for prefix in day_prefixes(since, until):
        for data in _read_all(store, _keys_in(store, prefix, since)):
            for line in data.splitlines():
                if not line.strip():
                    continue
                entry = json.loads(line)
                if low <= entry.get("time", "") <= high:
                    tallies.setdefault(int(entry["model_version"]), Tally()).add(entry)
    return tallies


def _distribution(values: list[Any], task: str) -> dict[str, Any]:
    if not values:
        return {}
    if task == "classification":
        counts = Counter(str(v) for v in values)
        return {"classes": {k: round(n / len(values), 4) for k, n in sorted(counts.items())}}
    numbers = np.asarray(values, dtype=float)
    quantiles = np.quantile(numbers, [0.05, 0.5, 0.95])
    return {"mean": float(numbers.mean()), "p05": float(quantiles[0]),
            "p50": float(quantiles[1]), "p95": float(quantiles[2])}  # fmt: skip


def _labelled(tally: Tally, labels: dict[str, Any], task: str, min_labels: int) -> dict[str, Any]:
    pairs = [(labels[i], p) for i, p in tally.predicted.items() if i in labels]
    entry: dict[str, Any] = {"labels": len(pairs), "min_labels": min_labels, "metrics": None}
    if pairs and len(pairs) >= min_labels:
        truth, predicted = zip(*pairs, strict=True)
        entry["metrics"] = scores(pd.Series(truth), pd.Series(predicted), task)
    return entry


def summary(tally: Tally, labels: dict[str, Any], task: str, min_labels: int) -> dict[str, Any]:
    errors = sum(tally.errors.values())
    answered = tally.requests + errors
    latency = (
        {f"p{q}": round(float(np.percentile(tally.latencies, q)), 3) for q in PERCENTILES}
        if tally.latencies
        else {}
    )
    return {
        "requests": answered,
        "errors": errors,
        "error_codes": dict(tally.errors),
        "error_rate": round(errors / answered, 4) if answered else 0.0,
        "rows": len(tally.predicted),
        "roles": dict(tally.roles),
        "latency_ms": latency,
        "predictions": _distribution(list(tally.predicted.values()), task),
        **_labelled(tally, labels, task, min_labels),
    }


def live_comparison(
    store: Store, versions: list[int], since: datetime, until: datetime, task: str,
    min_labels: int,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Per version (as text, like JSON keys): its live figures between since and until."""
    tallies = _tallies(store, since, until)
    feedback = read_feedback(store, Window(span=until - since, end=until))
    labels = dict(zip(feedback[PREDICTION_ID], feedback[LABEL], strict=True))
    return {
        str(version): summary(tallies.get(version, Tally()), labels, task, min_labels)
        for version in versions
    }
