"""Prediction logs and job records in the store.

Prediction logs are batched in memory and written as new JSON-lines objects
(logs/predictions/<yyyy>/<mm>/<dd>/<id>.jsonl), never appended to: object stores have no
append, and read-modify-write would lose lines under concurrency.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from core.errors import ConflictError, NotFoundError
from core.storage import Store, encode_json, join_key

DEFAULT_BATCH_SIZE = 100
DEFAULT_MAX_AGE_SECONDS = 30.0


class PredictionLog:
    """Collects prediction records; writes a batch when it is full or old enough."""

    def __init__(
        self,
        store: Store,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        self.store, self.batch_size, self.max_age = store, batch_size, max_age_seconds
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
    ) -> None:
        line = json.dumps(
            {
                "request_id": request_id,
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "model_version": version,
                "latency_ms": round(latency_ms, 3),
                "inputs": inputs,
                "outputs": outputs,
            },
            default=str,
        )
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


JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class JobStore:
    """Job records (jobs/<id>.json, moved by compare-and-swap) and their logs (logs/jobs/)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def _key(job_id: str) -> str:
        return join_key("jobs", f"{job_id}.json")

    def create(
        self,
        kind: str,
        request: dict[str, Any],
        job_id: str | None = None,
        authority: str = "train",
    ) -> dict[str, Any]:
        job_id = job_id or uuid.uuid4().hex
        record = {
            "job_id": job_id,
            "kind": kind,
            "status": "queued",
            "request": request,
            "authority": authority,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.store.write_new(self._key(job_id), encode_json(record))
        return record

    def get(self, job_id: str) -> dict[str, Any]:
        if not JOB_ID.fullmatch(job_id):  # never a store key built from arbitrary text
            raise NotFoundError("no such job: job ids are 1-64 letters, digits, '-' or '_'")
        try:
            record: dict[str, Any] = self.store.read_json(self._key(job_id))
        except NotFoundError:
            raise NotFoundError(f"job '{job_id}' does not exist") from None
        return record

    def update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Apply changes by compare-and-swap, retrying if another writer got there first."""
        for _ in range(5):
            data, token = self.store.read_with_token(self._key(job_id))
            record = {
                **json.loads(data),
                **changes,
                "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            try:
                self.store.replace(self._key(job_id), encode_json(record), token)
                return record
            except ConflictError:
                continue
        raise ConflictError(f"job '{job_id}' kept changing while being updated")

    def write_log(self, job_id: str, text: str) -> str:
        key = join_key("logs/jobs", f"{job_id}.log")
        self.store.write_bytes(key, text.encode("utf-8"))
        return key
