"""Job records in the store (jobs/<id>.json) and their logs (logs/jobs/).

Every change is a compare-and-swap: `modify` reads the record with its version token, lets
a function decide the new record (or refuse), and writes only if nobody wrote in between.
So two workers, a cancel and a sweep can race on one job and exactly one of each
conflicting transition wins.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ConflictError, NotFoundError
from core.monitoring.context import carried
from core.storage import Store, encode_json, join_key

JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
CAS_ATTEMPTS = 20

Change = Callable[[dict[str, Any]], dict[str, Any] | None]


def now() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime | None = None) -> str:
    """ISO 8601 UTC with milliseconds: readable, sortable, and precise enough for leases."""
    return (moment or now()).isoformat(timespec="milliseconds")


def parse_stamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def later(seconds: float) -> str:
    return stamp(now() + timedelta(seconds=seconds))


def new_job_id() -> str:
    """Time-ordered ids, so listing the store newest first needs no index."""
    return f"{now().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:12]}"


class JobStore:
    """Job records (jobs/<id>.json, changed by compare-and-swap) and logs (logs/jobs/)."""

    PREFIX = "jobs/"

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def key(job_id: str) -> str:
        return join_key("jobs", f"{job_id}.json")

    def create(
        self,
        kind: str,
        request: dict[str, Any],
        job_id: str | None = None,
        authority: str = "train",
        owner: str = "",
    ) -> dict[str, Any]:
        """A new queued job; AlreadyExistsError if `job_id` is taken."""
        job_id = job_id or new_job_id()
        created = stamp()
        record = {
            "job_id": job_id,
            "kind": kind,
            "status": QUEUED,
            "request": request,
            "authority": authority,
            "owner": owner,
            "attempts": 0,
            "history": [],
            "created_at": created,
            "updated_at": created,
            "log": join_key("logs/jobs", f"{job_id}.log"),
        }
        trace = carried()  # the request (and trace) that queued it, for the worker's logs
        if trace:
            record["trace"] = trace
        self.store.write_new(self.key(job_id), encode_json(record))
        return record

    def get(self, job_id: str) -> dict[str, Any]:
        if not JOB_ID.fullmatch(job_id):  # never a store key built from arbitrary text
            raise NotFoundError("no such job: job ids are 1-64 letters, digits, '-' or '_'")
        try:
            record: dict[str, Any] = self.store.read_json(self.key(job_id))
        except NotFoundError:
            raise NotFoundError(f"job '{job_id}' does not exist") from None
        return record

    def modify(self, job_id: str, change: Change) -> dict[str, Any] | None:
        """Apply `change` by compare-and-swap, re-reading after a lost race. `change` gets a
        copy of the current record and returns the new one, or None to leave it be; the
        result is the written record, or None when `change` declined."""
        self.get(job_id)  # the id check and a clear NotFoundError
        for _ in range(CAS_ATTEMPTS):
            data, token = self.store.read_with_token(self.key(job_id))
            updated = change(json.loads(data))
            if updated is None:
                return None
            updated["updated_at"] = stamp()
            try:
                self.store.replace(self.key(job_id), encode_json(updated), token)
                return updated
            except ConflictError:
                continue
        raise ConflictError(f"job '{job_id}' kept changing while being updated")

    def update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Set fields unconditionally (still by compare-and-swap, so nothing is lost)."""
        written = self.modify(job_id, lambda record: {**record, **changes})
        assert written is not None
        return written

    def ids(self) -> list[str]:
        """Every job id in the store, oldest first."""
        names = (key.removeprefix(self.PREFIX) for key in self.store.list(self.PREFIX))
        return [name.removesuffix(".json") for name in names if _is_record(name)]

    def write_log(self, job_id: str, text: str) -> str:
        key = join_key("logs/jobs", f"{job_id}.log")
        self.store.write_bytes(key, text.encode("utf-8"))
        return key

    def read_log(self, job_id: str) -> str:
        record = self.get(job_id)
        try:
            return self.store.read_bytes(record.get("log") or f"logs/jobs/{job_id}.log").decode()
        except NotFoundError:
            return ""


def _is_record(name: str) -> bool:
    return name.endswith(".json") and "/" not in name and bool(JOB_ID.fullmatch(name[:-5]))


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """What callers see of a job: everything but the request (it may name private data)."""
    return {key: value for key, value in record.items() if key != "request"}
