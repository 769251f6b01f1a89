"""The Prometheus sink of `mlfn serve`: counters and histograms behind GET /metrics.

Several worker processes (`mlfn serve --workers N`) share one set of numbers through
prometheus_client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR is set before the workers
start, each writes its own files there, and a scrape of any worker sums them all. Gauges
that describe the store (jobs by status, the champion) are read at scrape time instead.
"""

from __future__ import annotations

import collections
import os
from collections import deque
from collections.abc import Callable, Sequence
from itertools import chain
from operator import attrgetter, methodcaller
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

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
from core.monitoring.tally import (
    Key,
    Tally,
    TallyDrain,
    grouped,
    hand_over,
    histogram_cells_writable,
    observe_into,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
disable_created_metrics()  # no *_created series: half the text, nothing a query needs
# ms-scale: a warm /predict takes 0.3 to 5 ms; a cold one or a training request, seconds.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
CONFIDENCE_BUCKETS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
VALUE_BUCKETS = (
    -1e4, -1e3, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6,
)  # fmt: skip
LOAD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_KINDS = ("train", "retrain")
JOB_ENDS = ("succeeded", "failed", "cancelled")
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 10800.0)
PER_REQUEST = frozenset({RequestDone, Predicted})  # the events every /predict emits
QUEUED_EVENTS = 64  # with a tally, per-request events are counted this many at a time
# what a run of queued events is grouped by, read by C code (operator.attrgetter)
REQUEST_LABELS = attrgetter("route", "method", "status", "error_code", "version")
LATENCY_LABELS = attrgetter("route", "version")
SECONDS = attrgetter("seconds")
PREDICTED_LABELS = attrgetter("model", "version", "task")
CLASSES, ITEMS = attrgetter("classes"), methodcaller("items")
CONFIDENCES, VALUES = attrgetter("confidences"), attrgetter("values")


def _version(version: int | None) -> str:
    return "" if version is None else str(version)


class PrometheusSink:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._scraped: list[Any] = []
        self._children: dict[tuple[Any, ...], Any] = {}  # labels() validates and locks: ~2 µs
        # one process: the per-request series are tallied, handed over when read (tally.py)
        self._tally = (
            Tally() if not os.environ.get(MULTIPROC_ENV) and histogram_cells_writable() else None
        )
        # with a tally, per-request events wait in a short queue and are counted in a run:
        # the same few lines many times over, rather than between a request's other work
        self._queue: deque[Event] | None = None
        if self._tally is not None:
            self._queue = deque()
            self.registry.register(TallyDrain(self._hand_over))  # first: collected first
        self._define(self.registry)
        self._handlers: dict[type, Callable[[Any], None]] = {
            RequestDone: self._request, Predicted: self._predicted, ModelLoaded: self._loaded,
            JobStep: self._step, JobFinished: self._finished,
            DriftChecked: lambda event: None,  # its gauges come from the report (DriftGauges)
            ChallengerFailed: self._challenger_failed,
        }  # fmt: skip

    def expect(self, model: str) -> None:
        """Make the series of rare events exist at 0 from the start: Prometheus's rate() and
        increase() never see a series's first increment, so the first failed job or model
        load would otherwise go uncounted (and unalerted)."""
        self._child(self.loads, model, "miss")
        self._child(self.loads, model, "hit")
        self._child(self.load_seconds, model)
        for kind in JOB_KINDS:
            self._child(self.jobs, kind, "submitted")
            self._child(self.attempts, kind)
            for status in JOB_ENDS:
                self._child(self.jobs, kind, status)
                self._child(self.job_seconds, kind, status)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _define(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def histogram(name: str, doc: str, labels: list[str], buckets: Any) -> Histogram:
            return Histogram(name, doc, labels, registry=registry, buckets=buckets)

        self.requests = counter(
            "mlfn_requests", "HTTP requests", ["route", "method", "status", "code", "version"]
        )
        self.latency = histogram(
            "mlfn_request_seconds", "HTTP request latency", ["route", "version"], LATENCY_BUCKETS
        )
        self.rows = counter("mlfn_predicted_rows", "Rows predicted", ["model", "version"])
        self.classes = counter(
            "mlfn_predictions", "Predictions by class", ["model", "version", "class"]
        )
        self.confidence = histogram(
            "mlfn_prediction_confidence",
            "Probability of the predicted class",
            ["model", "version"],
            CONFIDENCE_BUCKETS,
        )
        self.values = histogram(
            "mlfn_prediction_value", "Predicted values", ["model", "version"], VALUE_BUCKETS
        )
        self.loads = counter("mlfn_model_loads", "Model loads", ["model", "result"])
        self.load_seconds = histogram(
            "mlfn_model_load_seconds", "Model load time", ["model"], LOAD_BUCKETS
        )
        self.jobs = counter("mlfn_jobs", "Jobs submitted and finished", ["kind", "status"])
        self.job_seconds = histogram(
            "mlfn_job_seconds", "Job time, first start to end", ["kind", "status"], JOB_BUCKETS
        )
        self.job_steps = histogram(
            "mlfn_job_step_seconds", "Job step time", ["kind", "step"], JOB_BUCKETS
        )
        self.attempts = counter("mlfn_job_attempts", "Job attempts", ["kind"])
        self.challenger_errors = counter(
            "mlfn_challenger_errors",
            "Requests a challenger failed (the champion answered)",
            ["model", "version", "mode", "code"],
        )

    def emit(self, event: Event) -> None:
        queue = self._queue
        if queue is None or type(event) not in PER_REQUEST:
            self._handlers[type(event)](event)
            return
        queue.append(event)
        if len(queue) >= QUEUED_EVENTS:
            self._count_queued(queue)

    def emit_all(self, events: list[Event]) -> None:
        """A request's events: queued together when they are all per-request ones."""
        queue = self._queue
        if queue is None:  # written through (several workers)
            for event in events:
                self.emit(event)
            return
        for event in events:  # a loop, not all(): a generator costs more than the rest
            if type(event) not in PER_REQUEST:
                for each in events:
                    self.emit(each)
                return
        queue.extend(events)
        if len(queue) >= QUEUED_EVENTS:
            self._count_queued(queue)

    def _count_queued(self, queue: deque[Event]) -> None:
        """Count what the queue holds (other threads may be counting it too: each event is
        taken once, by whoever pops it): the run's numbers added up here, by series, then
        handed to the tally under one lock (the same numbers `_request` and `_predicted`
        write, grouped by C code rather than a dozen Python calls per request)."""
        assert self._tally is not None
        requests: list[Any] = []
        predicted: list[Any] = []
        for _ in range(len(queue)):
            try:
                event = queue.popleft()
            except IndexError:
                break
            (requests if type(event) is RequestDone else predicted).append(event)
        counts: dict[Key, float] = {}
        cells: dict[Key, list[float]] = {}
        if requests:
            self._count_requests(requests, counts, cells)
        if predicted:
            self._count_predicted(predicted, counts, cells)
        self._tally.merge(counts, cells)

    def _count_requests(
        self, events: list[RequestDone], counts: dict[Key, float], cells: dict[Key, list[float]]
    ) -> None:
        for labels, number in collections.Counter(map(REQUEST_LABELS, events)).items():
            route, method, status, code, version = labels
            key = (self.requests, route, method, str(status), code or "", _version(version))
            counts[key] = counts.get(key, 0) + number
        latencies = grouped(map(LATENCY_LABELS, events), map(SECONDS, events))
        for (route, version), seconds in latencies.items():
            observe_into(cells, (self.latency, route, _version(version)), LATENCY_BUCKETS, seconds)

    def _count_predicted(
        self, events: list[Predicted], counts: dict[Key, float], cells: dict[Key, list[float]]
    ) -> None:
        for (model, number, task), group in grouped(map(PREDICTED_LABELS, events), events).items():
            version = str(number)
            # (class, count) pairs counted: a one-row answer's {class: 1} is one pair
            pairs = collections.Counter(chain.from_iterable(map(ITEMS, map(CLASSES, group))))
            classified = 0
            key: Key
            for (label, count), times in pairs.items():
                key = (self.classes, model, version, label)
                counts[key] = counts.get(key, 0) + count * times
                classified += count * times
            values = list(chain.from_iterable(map(VALUES, group)))
            key = (self.rows, model, version)
            counts[key] = counts.get(key, 0) + (
                classified if task == "classification" else len(values)
            )
            confidences = list(chain.from_iterable(map(CONFIDENCES, group)))
            if confidences:
                observe_into(cells, (self.confidence, model, version), CONFIDENCE_BUCKETS,
                             confidences)  # fmt: skip
            if values:
                observe_into(cells, (self.values, model, version), VALUE_BUCKETS, values)

    def _request(self, event: RequestDone) -> None:
        version = _version(event.version)
        code, status = event.error_code or "", str(event.status)
        self._inc((self.requests, event.route, event.method, status, code, version))
        self._observe((self.latency, event.route, version), LATENCY_BUCKETS, (event.seconds,))

    def _predicted(self, event: Predicted) -> None:
        model, version = event.model, str(event.version)
        self._inc((self.rows, model, version), event.rows)
        for label, count in event.classes.items():
            self._inc((self.classes, model, version, label), count)
        if event.confidences:
            self._observe((self.confidence, model, version), CONFIDENCE_BUCKETS,
                          event.confidences)  # fmt: skip
        if event.values:
            self._observe((self.values, model, version), VALUE_BUCKETS, event.values)

    def _inc(self, key: Key, amount: float = 1) -> None:
        """A counter of the per-request series (`key`: the metric, then its labels)."""
        if self._tally is None:
            self._child(*key).inc(amount)
        else:
            self._tally.add(key, amount)

    def _observe(self, key: Key, bounds: Sequence[float], values: Sequence[float]) -> None:
        if self._tally is None:
            histogram = self._child(*key)
            for value in values:
                histogram.observe(value)
        else:
            self._tally.observe(key, bounds, values)

    def _hand_over(self) -> None:
        if self._queue is not None:
            self._count_queued(self._queue)
        if self._tally is not None:
            hand_over(*self._tally.drain(), self._child)

    def _challenger_failed(self, event: ChallengerFailed) -> None:
        labels = (event.model, str(event.version), event.mode, event.error_code)
        self._child(self.challenger_errors, *labels).inc()

    def _loaded(self, event: ModelLoaded) -> None:
        self._child(self.loads, event.model, "hit" if event.cache_hit else "miss").inc()
        if not event.cache_hit:
            self._child(self.load_seconds, event.model).observe(event.seconds)

    def _step(self, event: JobStep) -> None:
        self._child(self.job_steps, event.kind, event.step).observe(event.seconds)

    def _finished(self, event: JobFinished) -> None:
        self._child(self.jobs, event.kind, event.status).inc()
        self._child(self.attempts, event.kind).inc(event.attempts)
        if event.seconds is not None:
            self._child(self.job_seconds, event.kind, event.status).observe(event.seconds)

    def flush(self) -> None:
        """Nothing to push: Prometheus scrapes."""

    def count_submitted(self, kind: str) -> None:
        self._child(self.jobs, kind, "submitted").inc()

    def read_at_scrape(self, collector: Any) -> None:
        """A collector whose numbers are read from the store when /metrics is scraped."""
        self._scraped.append(collector)
        self.registry.register(collector)

    def exposition(self) -> bytes:
        """The text /metrics answers: this process's numbers, or every worker's."""
        if not os.environ.get(MULTIPROC_ENV):
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in self._scraped:
            registry.register(collector)
        return generate_latest(registry)
