"""The loaded ONNX sessions of one process, least recently used first out, bounded in memory.

A deployment may serve every model in its store (`/models/{name}/predict`), so the sessions
it has loaded must not grow without bound: each entry is charged its graph's size (an ONNX
Runtime session holds about that in weights), and when the total passes
$MLFN_MODEL_CACHE_MB the least recently used sessions are dropped. A dropped model is loaded
again on its next request; the one just loaded is never dropped, so a graph bigger than the
budget still serves (alone).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from core.errors import ConfigError

CACHE_MB_ENV = "MLFN_MODEL_CACHE_MB"
DEFAULT_CACHE_MB = 512.0
THREADS_ENV = "MLFN_ONNX_THREADS"
Key = tuple[str, str, int]  # (store uri, model name, version)
V = TypeVar("V")


def cache_budget_bytes() -> int:
    """$MLFN_MODEL_CACHE_MB in bytes (default 512 MB); a clear error for a bad value."""
    raw = os.environ.get(CACHE_MB_ENV, "")
    try:
        megabytes = float(raw) if raw else DEFAULT_CACHE_MB
    except ValueError:
        megabytes = -1.0
    if not megabytes > 0:
        raise ConfigError(f"{CACHE_MB_ENV} must be a positive number of megabytes (got {raw!r})")
    return int(megabytes * 1024 * 1024)


def session_threads() -> int:
    """$MLFN_ONNX_THREADS: the threads each ONNX session may use for one request (default 1;
    0: ONNX Runtime's own choice, one per core); a clear error for a bad value.

    One thread by default: a server's concurrent requests, or a function instance's one
    request on its share of a vCPU, already keep the cores busy, and a session's pool costs
    CPU for every call — its threads spin waiting for work (a one-row forest: 23 µs of CPU
    on one thread, 33 µs on two for 19 µs of wall time)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return 1
    if not raw.isdigit():
        raise ConfigError(
            f"{THREADS_ENV} must be a whole number of threads, 0 for one per core (got {raw!r})"
        )
    return int(raw)


def new_session(model_bytes: bytes) -> Any:
    """An ONNX Runtime session as mlfn runs every graph — served, parity-checked, profiled
    for drift: CPU, quiet, on `session_threads()`. One setup for all, so a forest's sums
    (and the class it picks where two probabilities tie) are the same everywhere: on two
    threads the trees are summed in another order."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = session_threads()
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


GraphRun = Callable[[dict[str, Any]], list[Any]]  # feeds in, the chosen outputs out


def graph_runner(session: Any, outputs: Sequence[str]) -> GraphRun:
    """`session.run(outputs, feeds)` for a session of `new_session`, without the Python
    wrapper's per-call checks (a quarter of a one-row run, ≈ 3 µs): the feeds come from
    `FeatureSpec.encode_rows`, which feeds every input, and ONNX Runtime's own run still
    refuses a missing, unknown or mistyped input. Only `outputs` are fetched: a classifier's
    label tensor (strings, one object per row) is not, as the answer's class comes from
    the probabilities. The inner binding is ONNX Runtime's private API: where it is missing,
    or refuses the call's arguments (TypeError: another release's signature), the public
    `run` answers."""
    names = list(outputs)

    def public(feeds: dict[str, Any]) -> list[Any]:
        return list(session.run(names, feeds))

    inner = getattr(getattr(session, "_sess", None), "run", None)
    if not callable(inner):  # another wrapper, or another release of ONNX Runtime
        return public
    import onnxruntime as ort  # imported already: the session is its

    # a RunOptions of our own rather than None: with None the binding looks for attributes
    # on it and fails, an AttributeError made and dropped on every run (≈ 5,300 of a one-row
    # /predict's instructions); only read by each run, never changed, so one serves every
    # thread
    options = ort.RunOptions()

    def run_graph(feeds: dict[str, Any]) -> list[Any]:
        try:
            return inner(names, feeds, options)
        except TypeError:
            return public(feeds)

    return run_graph


class SessionCache(Generic[V]):
    """A thread-safe LRU map of loaded models, each charged a size in bytes."""

    def __init__(self, budget: Callable[[], int] = cache_budget_bytes) -> None:
        self._entries: OrderedDict[Key, tuple[V, int]] = OrderedDict()
        self._budget = budget
        self.lock = threading.RLock()  # held by a loader so one model loads once
        self.evictions = 0

    def get(self, key: Key) -> V | None:
        """The entry, now the most recently used; None when not loaded. Without the lock: a
        loader holds it while it reads the store, and a warm predict must not wait for
        that (each OrderedDict call is atomic; the others read snapshots of the entries)."""
        found = self._entries.get(key)
        if found is None:
            return None
        try:
            self._entries.move_to_end(key)
        except KeyError:  # dropped since, by another thread
            return None
        return found[0]

    def __contains__(self, key: Key) -> bool:
        return self.get(key) is not None

    def holds(self, key: Key) -> bool:
        """Whether `key` is loaded, leaving the order of use as it is (a look, not a use)."""
        return key in self._entries

    def put(self, key: Key, value: V, size: int) -> list[Key]:
        """Keep `value`; drop the least recently used others while over budget. Returns
        the keys dropped."""
        with self.lock:
            self._entries[key] = (value, max(size, 0))
            self._entries.move_to_end(key)
            dropped: list[Key] = []
            budget = self._budget()
            # least recently used first, from a snapshot: a lookup may move an entry to the
            # end meanwhile (get takes no lock), which would break an iteration of the map
            for oldest in list(self._entries):
                if self.used_bytes() <= budget or len(self._entries) <= 1:
                    break
                if oldest != key:
                    self._entries.pop(oldest, None)
                    dropped.append(oldest)
            self.evictions += len(dropped)
            return dropped

    def used_bytes(self) -> int:
        return sum(size for _, size in list(self._entries.values()))  # a snapshot (see get)

    def loaded(self) -> list[Key]:
        return list(self._entries)  # a snapshot (see get)

    def clear(self) -> None:
        with self.lock:
            self._entries.clear()
