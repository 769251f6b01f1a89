"""AWS: CloudWatch Embedded Metric Format. Each event is one EMF JSON line on stdout, which
Lambda's log pipeline turns into CloudWatch metrics (namespace $POWERTOOLS_METRICS_NAMESPACE,
default `mlfn`; dimensions service, model, version, route). The lines are the documents
Powertools Metrics' `serialize_metric_set` makes (tests/monitoring/test_sinks.py compares
them), written here directly: Powertools' checks on every line cost about a tenth of a
millisecond per event, for metric names and units that are this module's own constants."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from core.monitoring.events import (
    ChallengerFailed,
    DriftChecked,
    Event,
    JobFinished,
    JobStep,
    ModelLoaded,
    Predicted,
    RequestDone,
)
from core.monitoring.jsonline import json_line

NAMESPACE = "mlfn"
MAX_VALUES = 100  # EMF takes up to 100 values per metric and line
Metrics = list[tuple[str, str, list[Any]]]


def emf_document(
    namespace: str, dimensions: dict[str, str], metrics: Metrics, timestamp_ms: int
) -> dict[str, Any]:
    """One EMF document: one directive with one dimension set, each metric's values."""
    directive = {
        "Namespace": namespace,
        "Dimensions": [list(dimensions)],
        "Metrics": [{"Name": name, "Unit": unit} for name, unit, _ in metrics],
    }
    document: dict[str, Any] = {
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]},
        **dimensions,
    }
    for name, _, values in metrics:
        document[name] = [float(v) for v in values[:MAX_VALUES]]
    return document


class EmfSink:
    def __init__(self, namespace: str | None = None, service: str | None = None) -> None:
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME", "mlfn")

    def _blob(self, dimensions: dict[str, str], metrics: Metrics) -> None:
        labels = {name: label or "none" for name, label in dimensions.items()}
        labels["service"] = self.service
        now_ms = int(time.time() * 1000)
        sys.stdout.write(json_line(emf_document(self.namespace, labels, metrics, now_ms)))

    def emit(self, event: Event) -> None:
        if isinstance(event, RequestDone):
            self._request(event)
        elif isinstance(event, Predicted):
            self._predicted(event)
        elif isinstance(event, ModelLoaded):
            miss = 0.0 if event.cache_hit else 1.0
            self._blob(
                {"model": event.model, "version": str(event.version)},
                [("ModelLoads", "Count", [1.0]), ("ModelLoadMisses", "Count", [miss]),
                 ("ModelLoadTime", "Milliseconds", [event.seconds * 1000])],
            )  # fmt: skip
        elif isinstance(event, JobStep):
            self._blob(
                {"kind": event.kind, "step": event.step},
                [("JobStepTime", "Seconds", [event.seconds])],
            )
        elif isinstance(event, JobFinished):
            self._job(event)
        elif isinstance(event, ChallengerFailed):
            self._blob(
                {"model": event.model, "version": str(event.version), "mode": event.mode},
                [("ChallengerErrors", "Count", [1.0])],
            )
        elif isinstance(event, DriftChecked) and event.dataset_drift is not None:
            self._blob(
                {"model": event.model},
                [("DatasetDrift", "Count", [float(event.dataset_drift)]),
                 ("DriftShare", "None", [event.drift_share or 0.0]),
                 ("DriftWindowRows", "Count", [event.rows])],
            )  # fmt: skip

    def _request(self, event: RequestDone) -> None:
        version = "" if event.version is None else str(event.version)
        failed = [1.0 if event.status >= 500 else 0.0]
        self._blob(
            {"model": event.model or "", "version": version, "route": event.route},
            [("Requests", "Count", [1.0]), ("Latency", "Milliseconds", [event.seconds * 1000]),
             ("Errors5xx", "Count", failed),
             ("Errors4xx", "Count", [1.0 if 400 <= event.status < 500 else 0.0])],
        )  # fmt: skip

    def _predicted(self, event: Predicted) -> None:
        dimensions = {"model": event.model, "version": str(event.version)}
        metrics: list[tuple[str, str, list[float]]] = [("PredictedRows", "Count", [event.rows])]
        if event.confidences:
            metrics.append(("Confidence", "None", list(event.confidences)))
        if event.values:
            metrics.append(("PredictedValue", "None", list(event.values)))
        self._blob(dimensions, metrics)
        for label, count in event.classes.items():
            self._blob({**dimensions, "class": label}, [("Predictions", "Count", [count])])

    def _job(self, event: JobFinished) -> None:
        metrics: list[tuple[str, str, list[Any]]] = [
            ("Jobs", "Count", [1.0]), ("JobAttempts", "Count", [event.attempts]),
            ("JobFailures", "Count", [1.0 if event.status == "failed" else 0.0]),
        ]  # fmt: skip
        if event.seconds is not None:
            metrics.append(("JobTime", "Seconds", [event.seconds]))
        self._blob({"kind": event.kind, "status": event.status}, metrics)

    def flush(self) -> None:
        """Each event is written as it comes."""
