"""The lease a running job holds: claimed by compare-and-swap, renewed by a heartbeat, and
released when its worker is lost. Every transition checks the worker and attempt it
expects, so a late worker can never overwrite a newer attempt's state.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from core.config import JobsConfig
from core.jobs.record import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    TERMINAL,
    JobStore,
    later,
    now,
    parse_stamp,
    stamp,
)

WORKER_LOST = "worker_lost"


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def lease_expired(record: dict[str, Any]) -> bool:
    expires = parse_stamp(record.get("lease_expires_at"))
    return expires is None or expires <= now()


@dataclass(frozen=True)
class Claim:
    """What one attempt of one job is: checked by every write that attempt makes."""

    job_id: str
    worker: str
    attempt: int

    def holds(self, record: dict[str, Any]) -> bool:
        return (
            record.get("status") == RUNNING
            and record.get("worker") == self.worker
            and record.get("attempt") == self.attempt
        )


def claimable(record: dict[str, Any]) -> str:
    """'claim' (queued, or running on an expired lease), 'done' (finished) or 'busy'."""
    if record["status"] in TERMINAL:
        return "done"
    if record["status"] == RUNNING and not lease_expired(record):
        return "busy"
    return "claim"


def claim(jobs: JobStore, job_id: str, worker: str, policy: JobsConfig) -> Claim | None:
    """Start the next attempt, or None when the job is finished, busy, or out of attempts
    (then it is failed with `worker_lost`)."""
    taken: list[Claim] = []

    def start(record: dict[str, Any]) -> dict[str, Any] | None:
        taken.clear()
        if claimable(record) != "claim":
            return None
        if record.get("attempts", 0) >= policy.max_attempts:
            return _lost_for_good(record, policy)
        attempt = record.get("attempts", 0) + 1
        started = stamp()
        taken.append(Claim(job_id, worker, attempt))
        closed = _closed_history(record, "lease expired")
        return {
            **closed,
            "status": RUNNING,
            "attempt": attempt,
            "attempts": attempt,
            "worker": worker,
            "started_at": record.get("started_at") or started,
            "heartbeat_at": started,
            "lease_expires_at": later(policy.lease_seconds),
            "waiting_for_slot": False,
            "history": [
                *closed["history"],
                {"attempt": attempt, "worker": worker, "started_at": started},
            ],
        }

    jobs.modify(job_id, start)
    return taken[0] if taken else None


def _lost_for_good(record: dict[str, Any], policy: JobsConfig) -> dict[str, Any]:
    return {
        **_closed_history(record, "lease expired"),
        "status": FAILED,
        "finished_at": stamp(),
        "lease_expires_at": None,
        "error": {
            "code": WORKER_LOST,
            "message": (
                f"the worker was lost on each of {policy.max_attempts} attempts "
                "(killed, out of memory or past the function's timeout); see the job's history"
            ),
        },
    }


def _closed_history(record: dict[str, Any], outcome: str) -> dict[str, Any]:
    """The record with its open attempt (if any) marked as ended with `outcome`."""
    history = [dict(entry) for entry in record.get("history", [])]
    if record.get("status") == RUNNING and history and "ended_at" not in history[-1]:
        history[-1].update(ended_at=stamp(), outcome=outcome)
    return {**record, "history": history}


def renew(jobs: JobStore, claim_: Claim, policy: JobsConfig) -> dict[str, Any] | None:
    """Extend the lease; None when this attempt no longer holds the job (lost or finished).
    The returned record tells the worker whether a cancel was asked for."""
    return jobs.modify(
        claim_.job_id,
        lambda record: (
            {**record, "heartbeat_at": stamp(), "lease_expires_at": later(policy.lease_seconds)}
            if claim_.holds(record)
            else None
        ),
    )


def finish(jobs: JobStore, claim_: Claim, status: str, **fields: Any) -> dict[str, Any] | None:
    """End this attempt with `status`; None (nothing written) if it no longer holds the job:
    a late worker's result is discarded, never written over a newer attempt's."""

    def end(record: dict[str, Any]) -> dict[str, Any] | None:
        if not claim_.holds(record):
            return None
        return {
            **_closed_history(record, status),
            **fields,
            "status": status,
            "finished_at": stamp(),
            "lease_expires_at": None,
        }

    return jobs.modify(claim_.job_id, end)


def release_lost(
    jobs: JobStore, job_id: str, policy: JobsConfig, claim_: Claim | None = None, why: str = ""
) -> dict[str, Any] | None:
    """A worker died: requeue its job for another attempt, or fail it with `worker_lost`
    after the last. With `claim_`, only if that attempt still holds the job; without, only
    if the lease has expired (the sweep)."""

    def release(record: dict[str, Any]) -> dict[str, Any] | None:
        if record["status"] != RUNNING:
            return None
        if claim_ is not None and not claim_.holds(record):
            return None
        if claim_ is None and not lease_expired(record):
            return None
        if record.get("attempts", 0) >= policy.max_attempts:
            return _lost_for_good(_closed_history(record, why or "worker lost"), policy)
        if record.get("cancel_requested_at"):
            return {**_closed_history(record, why or "worker lost"), **cancelled_fields()}
        return {
            **_closed_history(record, why or "worker lost"),
            "status": QUEUED,
            "lease_expires_at": None,
            "worker": None,
        }

    return jobs.modify(job_id, release)


def cancelled_fields() -> dict[str, Any]:
    return {
        "status": CANCELLED,
        "finished_at": stamp(),
        "lease_expires_at": None,
        "error": {
            "code": "cancelled",
            "message": "the job was cancelled; the champion is unchanged",
        },
    }
