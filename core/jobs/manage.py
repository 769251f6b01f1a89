"""What callers and operators do with jobs: list, read, cancel, and count them."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from core.errors import ConflictError, NotFoundError, ValidationError
from core.jobs.lease import cancelled_fields
from core.jobs.record import JOB_ID, QUEUED, RUNNING, STATUSES, TERMINAL, JobStore, stamp

MAX_LIMIT = 200


def visible(record: dict[str, Any], subject: str, is_admin: bool) -> bool:
    """A caller sees its own jobs; an admin (and the operator's CLI) sees all."""
    return is_admin or (bool(subject) and record.get("owner") == subject)


def get_job(
    jobs: JobStore, job_id: str, subject: str = "", is_admin: bool = True
) -> dict[str, Any]:
    record = jobs.get(job_id)
    if not visible(record, subject, is_admin):  # as if absent: ids of others' jobs stay secret
        raise NotFoundError(f"job '{job_id}' does not exist")
    return record


def list_jobs(
    jobs: JobStore,
    *,
    subject: str = "",
    is_admin: bool = True,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Newest first, `limit` at a time; `next_cursor` continues after the last one."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}, not '{status}'")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    if cursor is not None and not JOB_ID.fullmatch(cursor):
        raise ValidationError("cursor must be a job id, as given in next_cursor")
    ids = sorted(jobs.ids(), reverse=True)
    if cursor is not None:
        ids = [job_id for job_id in ids if job_id < cursor]
    found: list[dict[str, Any]] = []
    for job_id in ids:
        try:
            record = jobs.get(job_id)
        except NotFoundError:
            continue
        if visible(record, subject, is_admin) and status in (None, record["status"]):
            found.append(record)
            if len(found) == limit:
                break
    more = len(found) == limit and found[-1]["job_id"] != ids[-1]
    return {"jobs": found, "next_cursor": found[-1]["job_id"] if more else None}


def cancel_job(
    jobs: JobStore, job_id: str, subject: str = "", is_admin: bool = True
) -> dict[str, Any]:
    """A queued job is cancelled at once; a running one is asked to stop (its worker ends
    it within seconds, before it can touch the champion). 409 for a finished job."""
    get_job(jobs, job_id, subject, is_admin)
    by = subject or "operator"

    def cancel(record: dict[str, Any]) -> dict[str, Any]:
        if record["status"] in TERMINAL:
            raise ConflictError(f"job '{job_id}' already {record['status']}: nothing to cancel")
        if record["status"] == QUEUED:
            return {**record, **cancelled_fields(), "cancelled_by": by}
        if record.get("cancel_requested_at"):
            return record
        return {**record, "cancel_requested_at": stamp(), "cancelled_by": by}

    written = jobs.modify(job_id, cancel)
    assert written is not None
    return written


class JobCensus:
    """Jobs by status for /metrics. A finished job never changes, so only unfinished ones
    are read again; one listing of jobs/ per refresh, at most every `refresh_seconds`."""

    def __init__(self, jobs: JobStore, refresh_seconds: float = 5.0) -> None:
        self.jobs, self.refresh_seconds = jobs, refresh_seconds
        self._finished: dict[str, str] = {}
        self._counts: Counter[str] = Counter()
        self._at = float("-inf")
        self._lock = threading.Lock()

    def counts(self) -> dict[str, int]:
        with self._lock:
            if time.monotonic() - self._at >= self.refresh_seconds:
                self._counts, self._at = self._count(), time.monotonic()
            return {status: self._counts.get(status, 0) for status in STATUSES}

    def _count(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for job_id in self.jobs.ids():
            status = self._finished.get(job_id)
            if status is None:
                try:
                    status = self.jobs.get(job_id)["status"]
                except NotFoundError:
                    continue
                if status in TERMINAL:
                    self._finished[job_id] = status
            counts[status] += 1
        return counts


def unfinished(jobs: JobStore) -> list[dict[str, Any]]:
    """Queued and running jobs, oldest first (what the sweep looks at)."""
    found = []
    for job_id in jobs.ids():
        try:
            record = jobs.get(job_id)
        except NotFoundError:
            continue
        if record["status"] in (QUEUED, RUNNING):
            found.append(record)
    return found
