"""Counts kept between scrapes, for the series every request moves.

prometheus_client runs a few checks, calls and locks per counter increment and per
histogram observation: on a one-row /predict its updates cost about as much as the ONNX
call. A `Tally` keeps them as plain additions instead (one short lock per series updated),
and hands them over to the
client's own series whenever the registry is read (`TallyDrain`, registered first), so a
scrape sees every request answered before it, exactly as if each had been written at once.

Only in one process: with `mlfn serve --workers N` (prometheus_client's multiprocess mode)
a scrape of one worker reads the other workers' files, which must be current, so there the
sink writes through. Histogram counts are handed over through the client's bucket values
(`histogram_cells_writable` checks, once, that this client version has them); without them
the sink writes through as well."""

from __future__ import annotations

import bisect
import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any, TypeVar

Key = tuple[Any, ...]  # (metric, *label values)
T = TypeVar("T")


class Tally:
    """Counter increments and histogram observations by series, until `drain`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Key, float] = {}
        self._cells: dict[Key, list[float]] = {}  # bucket counts (+Inf last), then the sum

    def add(self, key: Key, amount: float = 1) -> None:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + amount

    def observe(self, key: Key, bounds: Sequence[float], values: Sequence[float]) -> None:
        """`bounds`: the histogram's finite upper bounds, ascending."""
        with self._lock:
            observe_into(self._cells, key, bounds, values)

    def merge(self, counts: dict[Key, float], cells: dict[Key, list[float]]) -> None:
        """Numbers added up elsewhere (counts, and cells as `observe_into` makes them)."""
        with self._lock:
            mine = self._counts
            for key, amount in counts.items():
                mine[key] = mine.get(key, 0) + amount
            for key, added in cells.items():
                found = self._cells.get(key)
                if found is None:
                    self._cells[key] = added
                else:
                    self._cells[key] = [a + b for a, b in zip(found, added, strict=True)]

    def drain(self) -> tuple[dict[Key, float], dict[Key, list[float]]]:
        """What was counted since the last drain, and a fresh start."""
        with self._lock:
            counts, cells = self._counts, self._cells
            self._counts, self._cells = {}, {}
        return counts, cells


def observe_into(
    cells: dict[Key, list[float]], key: Key, bounds: Sequence[float], values: Sequence[float]
) -> None:
    """Histogram observations into `cells` (bucket counts, +Inf last, then the sum), counted
    by bucket in one pass (bisect and Counter: no Python step per value)."""
    found = cells.get(key)
    if found is None:
        found = cells[key] = [0.0] * (len(bounds) + 2)
    total = sum(values)
    found[-1] += total
    if total != total:  # a NaN joins the sum but falls in no bucket (as the client's observe)
        values = [value for value in values if value == value]
    for bucket, count in Counter(map(bisect.bisect_left, repeat(bounds), values)).items():
        found[bucket] += count  # le: value <= bound


def grouped(labels: Iterable[Key], items: Iterable[T]) -> dict[Key, list[T]]:
    """`items` by their labels (`labels`: one per item), in order. One series in the common
    case, found without a Python step per item."""
    keys, values = list(labels), list(items)
    if not keys or keys.count(keys[0]) == len(keys):
        return {keys[0]: values} if keys else {}
    groups: dict[Key, list[T]] = {}
    for key, value in zip(keys, values, strict=True):
        groups.setdefault(key, []).append(value)
    return groups


def hand_over(
    counts: dict[Key, float], cells: dict[Key, list[float]], child: Callable[..., Any]
) -> None:
    """Add drained numbers to the client's series (`child(metric, *labels)`)."""
    for (metric, *labels), amount in counts.items():
        child(metric, *labels).inc(amount)
    for (metric, *labels), observed in cells.items():
        histogram = child(metric, *labels)
        for bucket, count in zip(histogram._buckets, observed[:-1], strict=True):
            if count:
                bucket.inc(count)
        histogram._sum.inc(observed[-1])


class TallyDrain:
    """A collector that yields nothing: collecting it hands the tally over. Registered
    before the series, it is collected before them on every read of the registry."""

    def __init__(self, drain: Callable[[], None]) -> None:
        self.drain = drain

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> list[Any]:
        self.drain()
        return []


@functools.cache
def histogram_cells_writable() -> bool:
    """Whether this prometheus_client's histograms keep one value per bucket (+Inf last)
    and one for the sum, each with `inc`, as `hand_over` writes them."""
    from prometheus_client import CollectorRegistry, Histogram

    probe = Histogram("mlfn_probe", "", buckets=(1.0, 2.0), registry=CollectorRegistry())
    buckets, total = getattr(probe, "_buckets", None), getattr(probe, "_sum", None)
    return (
        isinstance(buckets, list)
        and len(buckets) == 3
        and all(hasattr(value, "inc") for value in buckets)
        and hasattr(total, "inc")
    )
