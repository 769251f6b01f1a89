"""One attempt of one job, in the process that does the work: heartbeat, train, finish.

The heartbeat renews the lease and watches the record; a cancel or a lost lease stops the
training at its next checkpoint (between candidates, between epochs, before registering),
so a cancelled or superseded attempt never touches the champion.
"""

from __future__ import annotations

import io
import logging
import threading
import traceback
from typing import Any

from core.config import JobsConfig, Settings
from core.errors import MlfnError, NotFoundError
from core.jobs.lease import Claim, cancelled_fields, claim, finish, new_worker_id, renew
from core.jobs.record import FAILED, SUCCEEDED, JobStore
from core.monitoring.jobs import job_context
from core.storage import Store

logger = logging.getLogger("mlfn.jobs")


class Stopped(Exception):
    """Raised at a training checkpoint when the attempt must end early."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "cancelled" or "lease_lost"


class Heartbeat:
    """Renews the lease every `heartbeat_seconds` in a daemon thread, saves the log so far,
    and is the job's Progress: each checkpoint raises Stopped when the job must end."""

    def __init__(self, jobs: JobStore, claim_: Claim, policy: JobsConfig, log: Any) -> None:
        self.jobs, self.claim, self.policy, self.log = jobs, claim_, policy, log
        self.reason: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="mlfn-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=self.policy.heartbeat_seconds)

    def _beat(self) -> None:
        while not self._done.wait(self.policy.heartbeat_seconds):
            try:
                record = renew(self.jobs, self.claim, self.policy)
            except MlfnError as exc:  # the store hiccuped: the lease has slack for that
                logger.warning("heartbeat of job %s failed: %s", self.claim.job_id, exc.message)
                continue
            if record is None:
                self.reason = "lease_lost"
                return
            if record.get("cancel_requested_at"):
                self.reason = "cancelled"
            self.log.save()

    def check(self) -> None:
        if self.reason is not None:
            raise Stopped(self.reason)

    # Progress: every step of the training is a checkpoint.
    def start(self, description: str, total: int) -> int:
        self.check()
        return 0

    def advance(self, task_id: int, steps: int = 1) -> None:
        self.check()


class JobLog:
    """The job's log: earlier attempts' text, then this attempt's lines, saved as it runs."""

    def __init__(self, jobs: JobStore, claim_: Claim) -> None:
        self.jobs, self.claim = jobs, claim_
        self.earlier = jobs.read_log(claim_.job_id)
        self.buffer = io.StringIO()
        self.buffer.write(f"--- attempt {claim_.attempt} on worker {claim_.worker} ---\n")
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def __enter__(self) -> JobLog:
        logging.getLogger("mlfn").addHandler(self.handler)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger("mlfn").removeHandler(self.handler)
        self.save()

    def save(self) -> None:
        try:
            self.jobs.write_log(self.claim.job_id, self.earlier + self.buffer.getvalue())
        except MlfnError as exc:
            logger.warning("could not save the log of job %s: %s", self.claim.job_id, exc.message)


def run_job(
    settings: Settings, store: Store, job_id: str, worker: str | None = None
) -> dict[str, Any]:
    """Claim and run a job in this process. A finished job (a redelivered message) or one
    another live worker holds is returned as it is."""
    jobs = JobStore(store)
    claim_ = claim(jobs, job_id, worker or new_worker_id(), settings.config.training)
    if claim_ is None:
        return jobs.get(job_id)
    return run_claimed(settings, store, claim_)


def run_claimed(settings: Settings, store: Store, claim_: Claim) -> dict[str, Any]:
    """Run an attempt this worker already claimed, to its end; never raises for the job's
    own failure. Returns the record as it is afterwards."""
    jobs = JobStore(store)
    log = JobLog(jobs, claim_)
    record = jobs.get(claim_.job_id)
    with job_context(record), log, Heartbeat(jobs, claim_, settings.config.training, log) as beat:
        outcome = _attempt(settings, store, record, beat, log)
        lost = outcome["status"] == "lease_lost"
        if lost or finish(jobs, claim_, **outcome) is None:
            logger.warning(
                "job %s attempt %s no longer holds the job: its outcome (%s) is discarded",
                claim_.job_id,
                claim_.attempt,
                outcome["status"],
            )
    return jobs.get(claim_.job_id)


def _attempt(
    settings: Settings, store: Store, record: dict[str, Any], beat: Heartbeat, log: JobLog
) -> dict[str, Any]:
    """The fields that end this attempt: succeeded with a result, failed, or cancelled."""
    job_id = record["job_id"]
    try:
        logger.warning("job %s (%s) attempt %s started", job_id, record["kind"], record["attempt"])
        summary = execute(settings, store, record, beat)
        if record["kind"] == "batch":
            logger.warning("job %s succeeded: batch %s", job_id, summary["batch_id"])
            return {"status": SUCCEEDED, "result": summary, "error": None}
        logger.warning(
            "job %s succeeded: version %s, promoted %s",
            job_id,
            summary["version"],
            summary["promoted"],
        )
        return {"status": SUCCEEDED, "result": summary_result(summary), "error": None}
    except Stopped as stop:
        logger.warning("job %s stopped: %s", job_id, stop.reason)
        return cancelled_fields() if stop.reason == "cancelled" else {"status": "lease_lost"}
    except MlfnError as exc:
        logger.warning("job %s failed: %s", job_id, exc.message)
        return {"status": FAILED, "error": {"code": exc.code, "message": exc.message}}
    except Exception:  # a bug, not bad input: the trace goes to the job log, not the answer
        log.buffer.write(traceback.format_exc())
        return {
            "status": FAILED,
            "error": {
                "code": "internal_error",
                "message": f"the {record['kind']} job failed unexpectedly; see the job log",
            },
        }


def summary_result(summary: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "version",
        "model_type",
        "metrics",
        "promoted",
        "reason",
        "champion",
        "dataset",
        "notes",
    )
    return {key: summary.get(key) for key in keys} | {"steps": training_steps(summary)}


def training_steps(summary: dict[str, Any]) -> dict[str, float]:
    """Seconds per step of a training: fitting every candidate, ONNX export, the parity
    check, tracking, and the whole."""
    candidates = summary.get("candidates") or {}
    rows = candidates.values() if isinstance(candidates, dict) else candidates
    fits = [row.get("fit_seconds") for row in rows if isinstance(row, dict)]
    steps = {"fit": round(sum(f for f in fits if isinstance(f, int | float)), 3)}
    for step in ("export", "parity", "tracking"):
        if isinstance(summary.get(f"{step}_seconds"), int | float):
            steps[step] = summary[f"{step}_seconds"]
    if isinstance(summary.get("seconds"), int | float):
        steps["total"] = summary["seconds"]
    return steps


def execute(settings: Settings, store: Store, record: dict[str, Any], beat: Any) -> dict[str, Any]:
    """Train (or retrain) as the job's request says; `beat` is the checkpoint progress."""
    from core.training.run import train

    request = record["request"]
    if record["kind"] == "batch":
        from core.batch.jobs import run_batch_job

        return run_batch_job(settings, store, request, beat)
    if record["kind"] == "retrain":
        dataset = retrain_dataset(settings, store, request)
    else:
        dataset = _caller_dataset(settings, store, request) if request.get("dataset") else None
    model_types = request.get("model_type")
    if record["kind"] == "retrain" and not model_types:
        model_types = _champion_model_type(settings, store)
    callers_data = bool(request.get("dataset") or request.get("records"))
    return train(
        settings,
        store,
        dataset=dataset,
        params=request.get("params"),
        model_types=[model_types] if isinstance(model_types, str) else model_types,
        may_promote=not callers_data or record.get("authority") == "admin",
        progress=beat,
        labelled=_labelled(settings, store, request),
    )


def _labelled(settings: Settings, store: Store, request: dict[str, Any]) -> Any:
    """For a retraining the monitoring job triggered: the recent labelled live rows."""
    policy = settings.config.monitoring
    if not request.get("labelled_window") or policy is None:
        return None
    from datetime import UTC, datetime

    from core.drift.feedback import labelled_basis
    from core.drift.job import window_of

    return labelled_basis(store, window_of(policy, datetime.now(UTC)), policy.min_labels)


def retrain_dataset(settings: Settings, store: Store, request: dict[str, Any]) -> Any:
    """The dataset for a retrain: the champion's data plus the posted records, or a new source."""
    import pandas as pd

    from core.data.ingest import load_dataset, save_dataset
    from core.errors import ValidationError
    from core.registry import ModelRegistry

    if request.get("dataset"):
        return _caller_dataset(settings, store, request)
    registry = ModelRegistry(store, settings.config.model_name)
    champion = registry.champion()
    if champion is None:
        raise ValidationError("retrain needs a champion to extend; train one first")
    base = load_dataset(store, settings, registry.metadata(champion.version)["dataset"]["sha256"])
    frame = pd.concat([base, pd.DataFrame.from_records(request["records"])], ignore_index=True)
    return save_dataset(settings, store, frame[base.columns], f"retrain of v{champion.version}")


def _caller_dataset(settings: Settings, store: Store, request: dict[str, Any]) -> Any:
    from core.data.access import caller_dataset

    return caller_dataset(settings, store, request["dataset"])


def _champion_model_type(settings: Settings, store: Store) -> list[str] | None:
    from core.registry import ModelRegistry

    registry = ModelRegistry(store, settings.config.model_name)
    try:
        champion = registry.champion()
    except NotFoundError:
        return None
    return [registry.metadata(champion.version)["model_type"]] if champion else None
