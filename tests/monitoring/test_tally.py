"""The Prometheus sink's tally: what a scrape shows is what writing every update through
prometheus_client at once shows, whatever the events and however they interleave with
scrapes and threads; with several workers (multiprocess mode) it writes through."""

from __future__ import annotations

import math
import random
import threading

import pytest
from prometheus_client import generate_latest

from core.monitoring.events import ModelLoaded, Predicted, RequestDone
from core.monitoring.prometheus import (
    LATENCY_BUCKETS,
    MULTIPROC_ENV,
    QUEUED_EVENTS,
    PrometheusSink,
)
from core.monitoring.tally import Tally, grouped, histogram_cells_writable


def _events(seed: int, count: int) -> list[RequestDone | Predicted]:
    rng = random.Random(seed)
    events: list[RequestDone | Predicted] = []
    for _ in range(count):
        version = rng.choice([None, 1, 2])
        events.append(RequestDone(
            route=rng.choice(["/predict", "/train", "unmatched"]), method="POST",
            status=rng.choice([200, 200, 422, 500]), seconds=rng.choice(
                [0.0005, 0.001, rng.random() / 100, rng.random() * 20, 0.0]),
            version=version, error_code=rng.choice([None, "validation_error"]),
        ))  # fmt: skip
        confidences = [rng.choice([0.3, 1.0, rng.random(), math.nan]) for _ in range(3)]
        values = [rng.uniform(-2e4, 2e6), 0.0, -1e4, math.nan]
        events.append(rng.choice([
            Predicted("iris", 1, "classification", {"setosa": 2, "virginica é": 1}, confidences),
            Predicted("house", 2, "regression", values=values),
        ]))  # fmt: skip
    return events


def _written_through() -> PrometheusSink:
    sink = PrometheusSink()
    sink._tally, sink._queue = None, None  # every update written at once: the reference
    return sink


def _series(text: bytes) -> dict[str, float]:
    lines = [line for line in text.decode().splitlines() if not line.startswith("#")]
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in lines)}


def _same(tallied: bytes, reference: bytes) -> bool:
    """The same series and values; a sum may differ in its last digit (the tally adds a
    scrape's values up before adding them to the total: another order of float additions)."""
    ours, theirs = _series(tallied), _series(reference)
    return ours.keys() == theirs.keys() and all(
        math.isclose(ours[name], theirs[name], rel_tol=1e-12)
        or (math.isnan(ours[name]) and math.isnan(theirs[name]))
        for name in ours
    )


def test_the_tally_is_on_in_one_process() -> None:
    assert histogram_cells_writable()  # this prometheus_client keeps values a tally can add to
    assert PrometheusSink()._tally is not None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_scrape_shows_what_writing_through_shows(seed: int) -> None:
    tallied, reference = PrometheusSink(), _written_through()
    for at, event in enumerate(_events(seed, 300)):
        tallied.emit(event)
        reference.emit(event)
        if at % 97 == 0:  # scrapes in between: each sees every event before it
            assert _same(tallied.exposition(), reference.exposition())
    assert _same(tallied.exposition(), reference.exposition())
    assert _same(generate_latest(tallied.registry), generate_latest(reference.registry))
    counts = [name for name in _series(tallied.exposition()) if "_count" in name]
    assert len(counts) >= 4  # latency, confidence and value histograms were all exercised


def test_nothing_is_counted_twice_or_lost_across_threads() -> None:
    tallied = PrometheusSink()
    done = RequestDone(route="/predict", method="POST", status=200, seconds=0.002, version=1)

    def emit_many() -> None:
        for _ in range(2000):
            tallied.emit(done)

    threads = [threading.Thread(target=emit_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    scrapes = [tallied.exposition() for _ in range(20)]  # scraped while they count
    for thread in threads:
        thread.join()
    text = tallied.exposition().decode()
    assert 'mlfn_request_seconds_count{route="/predict",version="1"} 8000.0' in text
    assert ('mlfn_requests_total{code="",method="POST",route="/predict",status="200",'
            'version="1"} 8000.0') in text  # fmt: skip
    assert len(scrapes) == 20


def test_the_queue_stays_short_and_a_scrape_empties_it() -> None:
    tallied = PrometheusSink()
    assert tallied._queue is not None
    done = RequestDone(route="/predict", method="POST", status=200, seconds=0.002, version=1)
    lengths = []
    for _ in range(QUEUED_EVENTS * 5 + 3):
        tallied.emit(done)
        lengths.append(len(tallied._queue))
    assert max(lengths) < QUEUED_EVENTS and lengths[-1] == 3  # counted a run at a time
    tallied.emit(ModelLoaded("iris", 1, 0.2, cache_hit=False))  # a rare event is counted at once
    assert len(tallied._queue) == 3
    text = tallied.exposition().decode()
    assert len(tallied._queue) == 0
    assert (
        f'mlfn_request_seconds_count{{route="/predict",version="1"}} {QUEUED_EVENTS * 5 + 3}.0'
        in text
    )


def test_nan_falls_in_no_bucket_but_joins_the_sum() -> None:
    tally = Tally()
    tally.observe(("metric",), (1.0, 2.0), [0.5, 1.0, 1.5, 9.0, math.nan])
    _, cells = tally.drain()
    buckets = cells[("metric",)]
    assert buckets[:3] == [2.0, 1.0, 1.0]  # <= 1, <= 2, +Inf
    assert math.isnan(buckets[3])
    assert tally.drain() == ({}, {})  # drained once


def test_bounds_values_and_infinities_fall_where_the_client_puts_them() -> None:
    tally, reference = Tally(), _written_through()
    values = [0.0005, 0.001, 0.0010000001, -1.0, math.inf, -math.inf, 10.0, 10.5]
    tally.observe(("latency",), LATENCY_BUCKETS, values)
    for value in values:
        reference.latency.labels("/predict", "1").observe(value)
    _, cells = tally.drain()
    client = reference.latency.labels("/predict", "1")
    assert cells[("latency",)][:-1] == [bucket.get() for bucket in client._buckets]


def test_a_run_of_one_series_is_counted_as_written_through() -> None:
    """The common run: every event of the same route, version and model (one group each)."""
    tallied, reference = PrometheusSink(), _written_through()
    rng = random.Random(7)
    for _ in range(QUEUED_EVENTS * 3 + 5):
        label = rng.choice(["setosa", "versicolor"])
        events = [
            Predicted("iris", 1, "classification", {label: 1}, [rng.random()]),
            RequestDone("/predict", "POST", 200, rng.random() / 100, "iris", 1, 1),
        ]
        tallied.emit_all(events)
        for event in events:
            reference.emit(event)
    assert _same(tallied.exposition(), reference.exposition())


def test_grouped_keeps_each_groups_items_in_order() -> None:
    assert grouped([], []) == {}
    assert grouped([("a",)] * 3, [1, 2, 3]) == {("a",): [1, 2, 3]}
    assert grouped([("a",), ("b",), ("a",)], [1, 2, 3]) == {("a",): [1, 3], ("b",): [2]}


def test_with_several_workers_the_sink_writes_through(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    sink = PrometheusSink()
    assert sink._tally is None and sink._queue is None
    sink.emit(RequestDone(route="/predict", method="POST", status=200, seconds=0.001))
    # written into the series at once (in a real worker: its shared file), no drain between
    assert 'mlfn_requests_total{code="",method="POST"' in generate_latest(sink.registry).decode()
    # tests/monitoring/test_prometheus_stack.py scrapes two real workers
