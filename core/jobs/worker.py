"""What each cloud's worker function calls with its queue message.

`{"job_id": ...}` runs that job (a finished job's message, or one another live worker
holds, is acknowledged and ignored); `{"action": "sweep"}` (the schedule's message) runs the
sweep; `{"action": "monitor"}` and `{"action": "retrain"}` (the config's schedules) run the
monitoring job and queue a scheduled retraining; `{"action": "batch_chunk"}` scores one
chunk of a batch (core/batch/jobs.py). When a job ends, the oldest job waiting
for a concurrency slot is dispatched.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from core.errors import MlfnError, ValidationError
from core.jobs.record import QUEUED, TERMINAL, JobStore
from core.monitoring.jobs import report_job
from core.monitoring.telemetry import process_telemetry

logger = logging.getLogger("mlfn.jobs")
WORKER_TIMEOUT_ENV = "MLFN_WORKER_TIMEOUT_SECONDS"
STOP_MARGIN_SECONDS = 30.0  # to record the timeout and free the slot before the platform kills


def handle_message(body: str | bytes, seconds_left: float | None = None) -> dict[str, Any]:
    """Run what a queue message asks for. Raises (so the queue redelivers, then dead-letters)
    only for a message that names no job, or when the store cannot be reached.
    `seconds_left`: the invocation's remaining time, where the platform tells it (Lambda);
    else $MLFN_WORKER_TIMEOUT_SECONDS, the function's configured timeout."""
    try:
        message = json.loads(body)
    except ValueError:
        raise ValidationError("a training queue message must be JSON") from None
    if isinstance(message, dict) and message.get("action") == "sweep":
        return sweep_from_env()
    if isinstance(message, dict) and message.get("action") == "batch_chunk":
        from core.batch.jobs import handle_chunk_message

        return handle_chunk_message(message)
    if isinstance(message, dict) and message.get("action") in ("monitor", "retrain"):
        from core.jobs.scheduled import run_scheduled_from_env

        return run_scheduled_from_env(str(message["action"]))
    if not isinstance(message, dict) or not isinstance(message.get("job_id"), str):
        raise ValidationError('a training queue message must be {"job_id": "<id>"}')
    return run_job_by_id(message["job_id"], seconds_left)


def run_job_by_id(job_id: str, seconds_left: float | None = None) -> dict[str, Any]:
    """A worker function's job: settings and store from the environment, the job in a child
    process stopped (and failed with `timeout`) a margin before the function's own limit,
    which would otherwise kill it unrecorded and leave it to its lease."""
    from core.config import load_settings
    from core.jobs.supervise import run_job_in_child
    from core.storage import open_store

    settings = load_settings()
    store = open_store(settings.store_uri)
    record = run_job_in_child(settings, store, job_id, time_limit=_time_limit(seconds_left))
    if record["status"] in TERMINAL:
        report_job(process_telemetry(), record)
        _hand_on(settings, store)
    return record


def _time_limit(seconds_left: float | None) -> float | None:
    if seconds_left is None and os.environ.get(WORKER_TIMEOUT_ENV):
        seconds_left = float(os.environ[WORKER_TIMEOUT_ENV])
    return None if seconds_left is None else seconds_left - STOP_MARGIN_SECONDS


def _hand_on(settings: Any, store: Any) -> None:
    """A slot just freed: dispatch the job that has waited longest for one."""
    from core.jobs.manage import unfinished
    from core.jobs.queues import dispatcher_from_env
    from core.jobs.submit import dispatch

    jobs = JobStore(store)
    waiting = [r for r in unfinished(jobs) if r["status"] == QUEUED and r.get("waiting_for_slot")]
    if not waiting:
        return
    try:
        dispatch(jobs, dispatcher_from_env(settings, store), waiting[0], keep_on_failure=True)
    except MlfnError as exc:  # the sweep will try again
        logger.warning("could not dispatch waiting job %s: %s", waiting[0]["job_id"], exc.message)


def sweep_from_env() -> dict[str, Any]:
    from core.config import load_settings
    from core.jobs.queues import dispatcher_from_env
    from core.jobs.sweep import sweep
    from core.storage import open_store

    settings = load_settings()
    store = open_store(settings.store_uri)
    report = sweep(store, settings.config.training, dispatcher_from_env(settings, store))
    logger.warning("job sweep: %s", report)
    return report
