"""Prediction logs in the store.

Prediction logs are batched in memory and written as new JSON-lines objects
(logs/predictions/<yyyy>/<mm>/<dd>/<id>.jsonl), never appended to: object stores have no
append, and read-modify-write would lose lines under concurrency.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from core.storage import Store, join_key

DEFAULT_BATCH_SIZE = 100
DEFAULT_MAX_AGE_SECONDS = 30.0
SAMPLE_ENV = "MLFN_PREDICTION_LOG_SAMPLE"
BATCH_ENV = "MLFN_PREDICTION_LOG_BATCH"  # lines per object (default 100; 1: write at once)


def prediction_log_sample() -> float:
    """The share of /predict requests whose inputs and outputs are logged (0 to 1; default 1)
    from $MLFN_PREDICTION_LOG_SAMPLE."""
    from core.errors import ConfigError

    raw = os.environ.get(SAMPLE_ENV, "1")
    try:
        rate = float(raw)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"{SAMPLE_ENV} must be a number from 0 to 1 (got {raw!r})")
    return rate


class PredictionLog:
    """Collects prediction records; writes a batch when it is full or old enough."""

    def __init__(
        self,
        store: Store,
        batch_size: int | None = None,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        sample: float = 1.0,
    ) -> None:
        self.store, self.max_age = store, max_age_seconds
        self.batch_size = batch_size or int(os.environ.get(BATCH_ENV, DEFAULT_BATCH_SIZE))
        self.sample = sample
        self._lines: list[str] = []
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def record(
        self,
        request_id: str,
        inputs: list[dict[str, Any]],
        outputs: dict[str, Any],
        version: int,
        latency_ms: float,
        prediction_id: str | None = None,
        role: str = "champion",
    ) -> None:
        """One answered request. `role`: champion, canary (a challenger answered) or
        shadow (a challenger's copy: same ids as the champion's line, never answered)."""
        if self.sample < 1.0 and random.random() >= self.sample:
            return  # not in the sample
        entry = {
            "id": prediction_id or request_id,  # row i's prediction id: f"{id}-{i}"
            "request_id": request_id,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "model_version": version,
            "latency_ms": round(latency_ms, 3),
            "inputs": inputs,
            "outputs": outputs,
        }
        if role != "champion":
            entry["role"] = role
        self._add(json.dumps(entry, default=str))

    def record_error(
        self, request_id: str, version: int, code: str, latency_ms: float, role: str
    ) -> None:
        """A request a challenger failed (the champion answered): no rows, an error code."""
        entry = {
            "id": request_id,
            "request_id": request_id,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "model_version": version,
            "latency_ms": round(latency_ms, 3),
            "inputs": [],
            "outputs": {"predictions": []},
            "role": role,
            "error": code,
        }
        self._add(json.dumps(entry))

    def _add(self, line: str) -> None:
        with self._lock:
            if not self._lines:
                self._since = time.monotonic()
            self._lines.append(line)
            due = (
                len(self._lines) >= self.batch_size
                or time.monotonic() - self._since >= self.max_age
            )
        if due:
            self.flush()

    def flush_due(self) -> bool:
        """Whether the next record would write a batch to the store (I/O)."""
        with self._lock:
            return len(self._lines) + 1 >= self.batch_size or (
                bool(self._lines) and time.monotonic() - self._since >= self.max_age
            )

    def flush(self) -> str | None:
        """Write what is buffered as one new object; returns its key (None when empty)."""
        with self._lock:
            lines, self._lines = self._lines, []
        if not lines:
            return None
        now = datetime.now(UTC)
        key = join_key(
            "logs/predictions",
            now.strftime("%Y/%m/%d"),
            f"{now.strftime('%H%M%S')}-{uuid.uuid4().hex}.jsonl",
        )
        self.store.write_new(key, ("\n".join(lines) + "\n").encode("utf-8"))
        return key
