"""Export every candidate, score it from its exported graph, and choose the one to register.

One scoring basis: a candidate with parity is scored from the graph's own predictions (the
first most probable class, as the served answer), so the summary, the comparison with the
champion and the served answers agree. When the best cannot be exported, is too large to
serve, or fails parity, the next best that exports is chosen; only when none does is a
native safe-format model stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.config import LOWER_IS_BETTER
from core.errors import ExportError
from core.export.onnx_export import (
    ParityReport,
    graph_predictions,
    onnx_feeds,
    parity_check,
    run_graph,
    to_onnx,
)
from core.featurespec import FeatureSpec
from core.training.candidates import Candidate, Split, score
from core.training.metrics import coded_classification_metrics, regression_metrics
from core.training.targets import label_key


@dataclass
class Exported:
    candidate: Candidate
    onnx_model: Any | None  # onnx.ModelProto when it has parity
    model_bytes: bytes | None
    parity: ParityReport
    export_seconds: float
    parity_seconds: float


def graph_metrics(
    y_labels: list[Any], predicted: np.ndarray, proba: np.ndarray | None, classes: list[Any] | None
) -> dict[str, float]:
    """Metrics of a graph's predictions (class indices into `classes`, or values) against
    the true labels; labels compare by their JSON text, so two versions are comparable.
    Scored as class numbers (a label the model does not know gets a number past its
    classes): the same metrics as on the texts, without sorting strings."""
    if classes is None:
        return regression_metrics(np.asarray(y_labels, dtype=np.float64), predicted)
    numbers = {label_key(c): at for at, c in enumerate(classes)}
    coded = label_numbers(y_labels, numbers)
    return coded_classification_metrics(coded, np.asarray(predicted), proba, len(classes))


def label_numbers(labels: list[Any], numbers: dict[str, int]) -> np.ndarray:
    """Each label's number by its JSON text; texts not in `numbers` are added to it. Each
    distinct (type, value) is turned into text once."""
    texts: dict[tuple[type, Any], int] = {}
    coded = np.empty(len(labels), dtype=np.int64)
    for at, label in enumerate(labels):
        try:
            coded[at] = texts[(type(label), label)]
        except KeyError:
            text = label_key(label)
            number = numbers.setdefault(text, len(numbers))
            texts[(type(label), label)] = number
            coded[at] = number
        except TypeError:  # an unhashable label (a list): by its text each time
            coded[at] = numbers.setdefault(label_key(label), len(numbers))
    return coded


def true_labels(split: Split, classes: list[Any] | None) -> list[Any]:
    if classes is None:
        return split.y_test.tolist()
    return [classes[i] for i in split.y_test]


def export_candidate(
    candidate: Candidate,
    spec: FeatureSpec,
    split: Split,
    classes: list[Any] | None,
    max_model_mb: float,
) -> Exported:
    task = "regression" if classes is None else "classification"
    started = time.perf_counter()
    try:
        model = to_onnx(candidate.pipeline, spec, task, classes)
        model_bytes = model.SerializeToString()
        converted = time.perf_counter()
        size_mb = len(model_bytes) / 1e6
        candidate.extra["graph_mb"] = round(size_mb, 3)
        if size_mb > max_model_mb:
            raise ExportError(
                f"the graph is {size_mb:.1f} MB, over the {max_model_mb:g} MB a function can "
                "serve (max_model_mb); lower n_estimators/max_depth or raise the limit"
            )
        outputs = run_graph(model_bytes, onnx_feeds(split.X_test, spec))
        parity = parity_check(outputs, candidate.pipeline, split.X_test, task)
    except ExportError as exc:
        seconds = round(time.perf_counter() - started, 3)
        report = ParityReport(False, len(split.X_test), 0.0, float("inf"), exc.message)
        candidate.extra["scored_on"] = "native"
        candidate.metrics = score(candidate.pipeline, split.X_test, split.y_test, task)
        return Exported(candidate, None, None, report, seconds, 0.0)
    parity_seconds = round(time.perf_counter() - converted, 3)
    if parity.ok:
        predicted, proba = graph_predictions(outputs, len(classes or []))
        candidate.metrics = graph_metrics(true_labels(split, classes), predicted, proba, classes)
    else:
        candidate.metrics = score(candidate.pipeline, split.X_test, split.y_test, task)
    candidate.extra["scored_on"] = "onnx" if parity.ok else "native"
    return Exported(
        candidate,
        model if parity.ok else None,
        model_bytes if parity.ok else None,
        parity,
        round(converted - started, 3),
        parity_seconds,
    )


def choose(exported: list[Exported], metric: str) -> tuple[Exported, list[str]]:
    """The best exportable candidate (else the best native one), and a note per candidate
    passed over because it could not be served from its graph."""
    usable = [e for e in exported if e.parity.ok] or exported
    pick = min if metric in LOWER_IS_BETTER else max
    best = pick(usable, key=lambda e: e.candidate.metrics.get(metric, float("nan")))
    notes = [
        f"{e.candidate.model_type}: not exportable with parity ({e.parity.detail})"
        for e in exported
        if not e.parity.ok
    ]
    return best, notes
