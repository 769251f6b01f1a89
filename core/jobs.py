"""Asynchronous training: a job record in the store, a dispatcher, and the worker that runs it.

The API writes a queued job and hands its id to a dispatcher: locally a background thread;
on the clouds a queue (SQS, Pub/Sub, a Storage queue) feeding a worker function that calls
`run_job`. Job state lives in the store, so any process can answer GET /jobs/{id}.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from core.config import Settings
from core.errors import AlreadyExistsError, MlfnError, ValidationError
from core.logs import JobStore
from core.storage import Store

logger = logging.getLogger("mlfn.jobs")


class Dispatcher(Protocol):
    def submit(self, job_id: str) -> None: ...


def submit_job(
    store: Store,
    dispatcher: Dispatcher,
    kind: str,
    request: dict[str, Any],
    idempotency_key: str | None = None,
    subject: str = "",
    authority: str = "train",
) -> dict[str, Any]:
    """Create (or, for a repeated Idempotency-Key, find) a job and dispatch it once.
    `authority` is the submitter's highest scope: only an admin's job on data the caller
    supplied may promote automatically."""
    jobs = JobStore(store)
    job_id = None
    if idempotency_key:  # the same key (per caller and kind) always names the same job
        key = f"{subject}\0{kind}\0{idempotency_key}".encode()
        job_id = hashlib.sha256(key).hexdigest()[:32]
    try:
        record = jobs.create(kind, request, job_id=job_id, authority=authority)  # create-only
    except AlreadyExistsError:
        return jobs.get(str(job_id))
    dispatcher.submit(record["job_id"])
    return record


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _summary_result(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("version", "model_type", "metrics", "promoted", "reason", "champion", "dataset")
    return {key: summary.get(key) for key in keys}


def retrain_dataset(settings: Settings, store: Store, request: dict[str, Any]) -> Any:
    """The dataset for a retrain: the champion's data plus the posted records, or a new source."""
    import pandas as pd

    from core.data.access import caller_dataset
    from core.data.ingest import load_dataset, save_dataset
    from core.registry import ModelRegistry

    if request.get("dataset"):
        return caller_dataset(settings, store, request["dataset"])
    registry = ModelRegistry(store, settings.config.model_name)
    champion = registry.champion()
    if champion is None:
        raise ValidationError("retrain needs a champion to extend; train one first")
    base = load_dataset(store, settings, registry.metadata(champion.version)["dataset"]["sha256"])
    frame = pd.concat([base, pd.DataFrame.from_records(request["records"])], ignore_index=True)
    return save_dataset(settings, store, frame[base.columns], f"retrain of v{champion.version}")


def run_job(settings: Settings, store: Store, job_id: str) -> dict[str, Any]:
    """Run a queued job to succeeded or failed; never raises for a job's own failure."""
    from core.training.run import train

    jobs = JobStore(store)
    record = jobs.get(job_id)
    if record["status"] in {"succeeded", "failed"}:
        return record  # a redelivered message: the work is done
    jobs.update(job_id, status="running", started_at=_now())
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger("mlfn").addHandler(handler)
    request = record["request"]
    try:
        logger.warning("job %s (%s) started", job_id, record["kind"])
        dataset = (
            retrain_dataset(settings, store, request)
            if record["kind"] == "retrain"
            else (None if not request.get("dataset") else _ingest(settings, store, request))
        )
        model_types = request.get("model_type")
        if record["kind"] == "retrain" and not model_types:
            model_types = _champion_model_type(settings, store)
        callers_data = bool(request.get("dataset") or request.get("records"))
        summary = train(
            settings,
            store,
            dataset=dataset,
            params=request.get("params"),
            model_types=[model_types] if isinstance(model_types, str) else model_types,
            may_promote=not callers_data or record.get("authority") == "admin",
        )
        logger.warning(
            "job %s succeeded: version %s, promoted %s",
            job_id,
            summary["version"],
            summary["promoted"],
        )
        final = jobs.update(
            job_id, status="succeeded", finished_at=_now(), result=_summary_result(summary)
        )
    except MlfnError as exc:
        logger.warning("job %s failed: %s", job_id, exc.message)
        final = jobs.update(
            job_id,
            status="failed",
            finished_at=_now(),
            error={"code": exc.code, "message": exc.message},
        )
    except Exception:  # a bug, not bad input: keep the trace in the job log, not the answer
        log.write(traceback.format_exc())
        final = jobs.update(
            job_id,
            status="failed",
            finished_at=_now(),
            error={
                "code": "internal_error",
                "message": "training failed unexpectedly; see the job log",
            },
        )
    finally:
        logging.getLogger("mlfn").removeHandler(handler)
        jobs.write_log(job_id, log.getvalue())
    return final


def _ingest(settings: Settings, store: Store, request: dict[str, Any]) -> Any:
    from core.data.access import caller_dataset

    return caller_dataset(settings, store, request["dataset"])


def _champion_model_type(settings: Settings, store: Store) -> list[str] | None:
    from core.registry import ModelRegistry

    registry = ModelRegistry(store, settings.config.model_name)
    champion = registry.champion()
    return [registry.metadata(champion.version)["model_type"]] if champion else None


class LocalDispatcher:
    """Runs jobs one at a time (`mlfn serve`), each in a child process: training never
    competes with the API's own process, and a job over `training_timeout_seconds` is
    killed and failed with `timeout`."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlfn-job")
        self.on_finished: Callable[[dict[str, Any]], None] | None = None  # e.g. metrics

    def _run(self, job_id: str) -> None:
        record = run_job_in_child(self.settings, self.store, job_id)
        if self.on_finished is not None:
            self.on_finished(record)

    def submit(self, job_id: str) -> None:
        self._pool.submit(self._run, job_id)

    def wait(self) -> None:
        """Finish queued jobs (tests and shutdown)."""
        self._pool.shutdown(wait=True)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlfn-job")


def run_job_in_child(settings: Settings, store: Store, job_id: str) -> dict[str, Any]:
    """Run a job in `python -m core.jobs`, killed after the config's training timeout."""
    import subprocess
    import sys
    import tempfile

    timeout = settings.config.training_timeout_seconds
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(settings.to_json())
    argv = [sys.executable, "-m", "core.jobs", "--settings", handle.name, job_id]
    try:
        # The job id is one JobStore created (hex), the settings file our own: no shell.
        child = subprocess.Popen(argv, start_new_session=True)  # noqa: S603
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(child)
            return _fail_unless_done(
                store,
                job_id,
                "timeout",
                f"training took longer than {timeout:g} s "
                "(training_timeout_seconds); its work was stopped",
            )
    finally:
        os.unlink(handle.name)
    if child.returncode != 0:
        return _fail_unless_done(
            store,
            job_id,
            "worker_crashed",
            f"the training process ended with code {child.returncode}",
        )
    return JobStore(store).get(job_id)


def _kill(child: Any) -> None:
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)  # the job and anything it started
    child.wait()


def _fail_unless_done(store: Store, job_id: str, code: str, message: str) -> dict[str, Any]:
    jobs = JobStore(store)
    record = jobs.get(job_id)
    if record["status"] in {"succeeded", "failed"}:
        return record
    logger.warning("job %s failed: %s", job_id, message)
    return jobs.update(
        job_id, status="failed", finished_at=_now(), error={"code": code, "message": message}
    )


def _main(argv: list[str] | None = None) -> int:
    """`python -m core.jobs --settings FILE JOB_ID`: one job, in its own process."""
    import argparse

    from core.config import Settings
    from core.storage import open_store

    parser = argparse.ArgumentParser(prog="python -m core.jobs")
    parser.add_argument("--settings", required=True)
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    with open(args.settings, encoding="utf-8") as handle:
        settings = Settings.from_json(handle.read())
    run_job(settings, open_store(settings.store_uri), args.job_id)
    return 0


def run_job_by_id(job_id: str) -> dict[str, Any]:
    """What a worker function calls: settings and store from the environment. The job runs
    in a child process, so `training_timeout_seconds` stops it cleanly (set it below the
    function's own timeout: the platform's kill would leave no record)."""
    from core.config import load_settings
    from core.storage import open_store

    settings = load_settings()
    return run_job_in_child(settings, open_store(settings.store_uri), job_id)


if __name__ == "__main__":
    raise SystemExit(_main())
