"""AWS: CloudWatch Embedded Metric Format. Events become EMF JSON lines on stdout, which
Lambda's log pipeline turns into CloudWatch metrics (namespace $POWERTOOLS_METRICS_NAMESPACE,
default `mlfn`; dimensions service, model, version, route). Each metric set is the document
Powertools Metrics' `serialize_metric_set` makes (tests/monitoring/test_sinks.py compares
them), written here directly: Powertools' checks on every line cost about a tenth of a
millisecond per event, for metric names and units that are this module's own constants.

A request's events (`emit_all`: its predictions, then its end) share lines: a document
joins an earlier one as a further metric directive when none of its members clashes (the
specification lets one line hold several directives, each naming its dimensions among the
line's members). A one-row /predict is then one line instead of three: a third of the
bytes CloudWatch Logs ingests, and of the time spent writing them."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable
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
from core.monitoring.jsonline import json_bytes

NAMESPACE = "mlfn"
MAX_VALUES = 100  # EMF takes up to 100 values per metric and line
Metrics = list[tuple[str, str, list[Any]]]
Schema = tuple[tuple[str, str], ...]  # (name, unit) of each metric of a set
MetricSet = tuple[dict[str, str], Schema, list[list[Any]]]  # dimensions, schema, values

REQUEST = (("Requests", "Count"), ("Latency", "Milliseconds"), ("Errors5xx", "Count"),
           ("Errors4xx", "Count"))  # fmt: skip
ROWS = (("PredictedRows", "Count"),)
CONFIDENCE = ("Confidence", "None")
VALUE = ("PredictedValue", "None")
CLASS = (("Predictions", "Count"),)
LOAD = (("ModelLoads", "Count"), ("ModelLoadMisses", "Count"), ("ModelLoadTime", "Milliseconds"))
STEP = (("JobStepTime", "Seconds"),)
JOB = (("Jobs", "Count"), ("JobAttempts", "Count"), ("JobFailures", "Count"))
JOB_TIME = ("JobTime", "Seconds")
CHALLENGER = (("ChallengerErrors", "Count"),)
DRIFT = (("DatasetDrift", "Count"), ("DriftShare", "None"), ("DriftWindowRows", "Count"))


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
        document[name] = list(map(float, values[:MAX_VALUES]))
    return document


class EmfSink:
    def __init__(self, namespace: str | None = None, service: str | None = None) -> None:
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME", "mlfn")
        self._directives: dict[tuple[Any, ...], bytes] = {}  # their JSON, by names

    def emit(self, event: Event) -> None:
        self.emit_all((event,))

    def emit_all(self, events: Iterable[Event]) -> None:
        """The events' metric sets, packed into as few lines as they fit, in one write."""
        lines: list[tuple[dict[str, Any], list[bytes]]] = []  # (members, directives)
        for event in events:
            for dimensions, schema, values in _metric_sets(event):
                labels = {name: label or "none" for name, label in dimensions.items()}
                labels["service"] = self.service
                _place(lines, labels, schema, values, self._directive(labels, schema))
        if lines:
            stamp = b'{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[' % int(time.time() * 1000)
            text = b"".join(stamp + b",".join(directives) + b"]}," + json_bytes(members)[1:]
                            + b"\n" for members, directives in lines)  # fmt: skip
            sys.stdout.write(text.decode())

    def _directive(self, labels: dict[str, str], schema: Schema) -> bytes:
        """A metric set's directive as JSON (made once per set of names)."""
        key = (*labels, schema)
        found = self._directives.get(key)
        if found is None:
            metrics: Metrics = [(name, unit, []) for name, unit in schema]
            document = emf_document(self.namespace, labels, metrics, 0)
            found = self._directives[key] = json_bytes(document["_aws"]["CloudWatchMetrics"][0])
        return found

    def flush(self) -> None:
        """Each event is written as it comes."""


def _place(
    lines: list[tuple[dict[str, Any], list[bytes]]],
    labels: dict[str, str],
    schema: Schema,
    values: list[list[Any]],
    directive: bytes,
) -> None:
    """A metric set into the first line where each of its dimensions is absent or holds the
    same value and none of its metrics is (a metric is never shared: every value counts
    once), else a line of its own. Unpacked, each directive with its members is the
    document `emf_document` makes of its set."""
    for line in lines:  # a loop, not next() over a generator: that costs more here
        if _fits(line[0], labels, schema):
            break
    else:
        line = ({}, [])
        lines.append(line)
    members, directives = line
    members.update(labels)
    for (name, _), found in zip(schema, values, strict=True):  # both from _metric_sets
        members[name] = found if len(found) <= MAX_VALUES else found[:MAX_VALUES]
    directives.append(directive)


def _fits(members: dict[str, Any], labels: dict[str, str], schema: Schema) -> bool:
    for name, value in labels.items():  # loops, not all(): a generator costs more here
        if members.get(name, value) != value:
            return False
    for name, _ in schema:  # noqa: SIM110 - all() over a generator costs more here
        if name in members:
            return False
    return True


def _metric_sets(event: Event) -> list[MetricSet]:
    """(dimensions, schema, values) of each metric set an event makes; every value a float
    (as Powertools writes them, and orjson takes no numpy number)."""
    if isinstance(event, RequestDone):
        version = "" if event.version is None else str(event.version)
        server, client = event.status >= 500, 400 <= event.status < 500
        values = [[1.0], [float(event.seconds * 1000)], [float(server)], [float(client)]]
        dimensions = {"model": event.model or "", "version": version, "route": event.route}
        return [(dimensions, REQUEST, values)]
    if isinstance(event, Predicted):
        return _predicted(event)
    if isinstance(event, ModelLoaded):
        version = str(event.version)
        values = [[1.0], [0.0 if event.cache_hit else 1.0], [float(event.seconds * 1000)]]
        return [({"model": event.model, "version": version}, LOAD, values)]
    if isinstance(event, JobStep):
        return [({"kind": event.kind, "step": event.step}, STEP, [[float(event.seconds)]])]
    if isinstance(event, JobFinished):
        return [_job(event)]
    if isinstance(event, ChallengerFailed):
        dimensions = {"model": event.model, "version": str(event.version), "mode": event.mode}
        return [(dimensions, CHALLENGER, [[1.0]])]
    if isinstance(event, DriftChecked) and event.dataset_drift is not None:
        drift = [[float(event.dataset_drift)], [float(event.drift_share or 0.0)],
                 [float(event.rows)]]  # fmt: skip
        return [({"model": event.model}, DRIFT, drift)]
    return []


def _predicted(event: Predicted) -> list[MetricSet]:
    dimensions = {"model": event.model, "version": str(event.version)}
    schema: Schema = ROWS
    values: list[list[Any]] = [[float(event.rows)]]
    if event.confidences:
        schema, values = (*schema, CONFIDENCE), [*values, list(map(float, event.confidences))]
    if event.values:
        schema, values = (*schema, VALUE), [*values, list(map(float, event.values))]
    return [(dimensions, schema, values)] + [
        ({**dimensions, "class": label}, CLASS, [[float(count)]])
        for label, count in event.classes.items()
    ]


def _job(event: JobFinished) -> MetricSet:
    schema: Schema = JOB
    values = [[1.0], [float(event.attempts)], [1.0 if event.status == "failed" else 0.0]]
    if event.seconds is not None:
        schema, values = (*schema, JOB_TIME), [*values, [float(event.seconds)]]
    return {"kind": event.kind, "status": event.status}, schema, values
