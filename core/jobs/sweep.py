"""Recovering jobs nobody is working on: `mlfn serve` at start and every
`training.sweep_every_seconds`; in the cloud a schedule (see core/jobs/schedules.py) and
`mlfn jobs sweep`.

- running on an expired lease (its worker was killed): requeued for the next attempt and
  dispatched, or failed with `worker_lost` after the last;
- queued and waiting for a concurrency slot: dispatched again;
- queued, dispatched long ago (`training.redispatch_after_seconds`) and never claimed (a
  lost or dead-lettered message): dispatched again, and failed as `undelivered` when that
  keeps happening;
- queued and never dispatched (the API died in between): dispatched;
- an enqueue that failed and was never retried within the key's lifetime: failed;
- expired Idempotency-Key records: deleted.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from core.config import JobsConfig
from core.errors import MlfnError, UnavailableError
from core.jobs.lease import lease_expired, release_lost
from core.jobs.manage import unfinished
from core.jobs.record import FAILED, QUEUED, RUNNING, JobStore, now, parse_stamp, stamp
from core.jobs.submit import Dispatcher, dispatch, expired_keys
from core.storage import Store

logger = logging.getLogger("mlfn.jobs")


def sweep(
    store: Store, policy: JobsConfig, dispatcher: Dispatcher, requeue_all: bool = False
) -> dict[str, Any]:
    """One pass; `requeue_all` (a local server starting) dispatches every queued job, since
    the previous process's in-memory queue is gone. Returns what was done, by job id."""
    jobs = JobStore(store)
    report: dict[str, Any] = {"requeued": [], "failed": [], "redispatched": []}
    for record in unfinished(jobs):
        try:
            _recover(jobs, policy, dispatcher, record, requeue_all, report)
        except MlfnError as exc:  # one bad record never stops the sweep
            logger.warning("sweep: job %s: %s", record["job_id"], exc.message)
    keys = expired_keys(store, policy)
    for key in keys:
        store.delete(key)
    report["expired_keys"] = len(keys)
    return report


def _recover(
    jobs: JobStore,
    policy: JobsConfig,
    dispatcher: Dispatcher,
    record: dict[str, Any],
    requeue_all: bool,
    report: dict[str, Any],
) -> None:
    job_id = record["job_id"]
    if record["status"] == RUNNING:
        if not lease_expired(record):
            return
        after = release_lost(jobs, job_id, policy, why="lease expired (found by the sweep)")
        if after is None:
            return
        if after["status"] == QUEUED:
            report["requeued"].append(job_id)
            _redispatch(jobs, dispatcher, after)
        else:
            report["failed"].append(job_id)
        return
    if record.get("dispatch_error") and not record.get("dispatched_at"):
        _expire_undispatched(jobs, policy, record, report)  # its caller may still retry
        return
    due = (
        requeue_all
        or record.get("waiting_for_slot")
        or _older(record.get("dispatched_at"), policy.redispatch_after_seconds)
        # created, then the API died before dispatching it (a live API gets time to)
        or (not record.get("dispatched_at") and _older(record["created_at"], policy.lease_seconds))
    )
    if not due:
        return
    if not requeue_all and record.get("dispatches", 0) > policy.max_attempts:
        message = "its queue message was never processed; see the queue's dead-letter queue"
        jobs.update(
            job_id,
            status=FAILED,
            finished_at=stamp(),
            error={"code": "undelivered", "message": message},
        )
        report["failed"].append(job_id)
        return
    if _redispatch(jobs, dispatcher, record):
        report["redispatched"].append(job_id)


def _expire_undispatched(
    jobs: JobStore, policy: JobsConfig, record: dict[str, Any], report: dict[str, Any]
) -> None:
    """A job whose enqueue failed waits for its caller's retry, until its key expires."""
    if not _older(record.get("created_at"), policy.idempotency_ttl_seconds):
        return
    message = "the queue refused the job and the request was not retried before its key expired"
    jobs.update(
        record["job_id"],
        status=FAILED,
        finished_at=stamp(),
        error={"code": "enqueue_failed", "message": message},
    )
    report["failed"].append(record["job_id"])


def _redispatch(jobs: JobStore, dispatcher: Dispatcher, record: dict[str, Any]) -> bool:
    try:
        dispatch(jobs, dispatcher, record, keep_on_failure=True)
    except UnavailableError as exc:
        logger.warning("sweep: could not dispatch job %s: %s", record["job_id"], exc.message)
        return False
    return True


def _older(value: str | None, seconds: float) -> bool:
    moment = parse_stamp(value)
    return moment is not None and now() - moment > timedelta(seconds=seconds)
