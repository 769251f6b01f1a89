"""The worker: claims a job's attempt and runs it in a child process it watches.

The child does the work and holds the lease (its heartbeat stops when it dies). The parent
kills it on a cancel (within `cancel_poll_seconds`) or past `training_timeout_seconds`, and
when it dies (SIGKILL, out of memory) requeues the job for its next attempt at once. If the
parent dies too (a function's timeout), the lease runs out and a redelivery or the sweep
takes the job up again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from core.config import Settings
from core.errors import MlfnError
from core.jobs.lease import (
    Claim,
    cancelled_fields,
    claim,
    claimable,
    finish,
    new_worker_id,
    release_lost,
)
from core.jobs.record import FAILED, QUEUED, JobStore, stamp
from core.jobs.slots import Slots
from core.monitoring.telemetry import DOOR_ENV, use_door
from core.storage import Store

logger = logging.getLogger("mlfn.jobs")
ORPHAN_CHECK_SECONDS = 1.0
BACKGROUND_ENV = "MLFN_JOB_BACKGROUND"
SUPERVISOR_ENV = "MLFN_JOB_SUPERVISOR_PID"  # set for the children of `mlfn serve`'s workers


def run_job_in_child(
    settings: Settings,
    store: Store,
    job_id: str,
    background: bool = False,
    time_limit: float | None = None,
) -> dict[str, Any]:
    """Run attempts until the job is finished, held by another live worker, waiting for a
    slot (`training.max_concurrent_jobs`), or out of attempts. `background` (mlfn serve)
    runs the child at a lower priority with fewer threads, so serving keeps its CPU."""
    jobs = JobStore(store)
    policy = settings.config.training
    slots = Slots(jobs, policy)
    while claimable(record := jobs.get(job_id)) == "claim":
        slot = slots.acquire(job_id)
        if slot is None:
            return _mark_waiting(jobs, job_id) or jobs.get(job_id)
        try:
            claim_ = claim(jobs, job_id, new_worker_id(), policy)
            if claim_ is None:
                return jobs.get(job_id)
            ended = _watch(settings, jobs, claim_, background, time_limit)
        finally:
            slots.release(slot, job_id)
        if ended != "lost":
            return jobs.get(job_id)
    return record


def _mark_waiting(jobs: JobStore, job_id: str) -> dict[str, Any] | None:
    return jobs.modify(
        job_id,
        lambda r: (
            {**r, "waiting_for_slot": True, "waiting_since": r.get("waiting_since") or stamp()}
            if r["status"] == QUEUED
            else None
        ),
    )


def _watch(
    settings: Settings, jobs: JobStore, claim_: Claim, background: bool, limit: float | None
) -> str:
    """Run the attempt's child to its end: 'done', 'cancelled', 'timeout', 'superseded' or
    'lost' (the child died; the job was requeued or failed with worker_lost). `limit` is
    the function's own time left, when shorter than `training_timeout_seconds`."""
    policy, timeout = settings.config.training, settings.config.training_timeout_seconds
    which = "training_timeout_seconds"
    if limit is not None and limit < timeout:
        timeout, which = max(limit, 1.0), "the worker function's own time limit"
    with _settings_file(settings) as path:
        child = _spawn(path, claim_, background)
        deadline = time.monotonic() + timeout
        while True:
            try:
                child.wait(timeout=policy.cancel_poll_seconds)
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                _kill(child)
                message = (
                    f"training took longer than {timeout:g} s ({which}); its work was "
                    "stopped before the platform could kill it"
                )
                finish(jobs, claim_, FAILED, error={"code": "timeout", "message": message})
                return "timeout"
            stop = _should_stop(jobs, claim_)
            if stop:
                _kill(child)
                if stop == "cancelled":
                    finish(jobs, claim_, **cancelled_fields())
                return stop
    if child.returncode == 0 and not claim_.holds(jobs.get(claim_.job_id)):
        return "done"
    why = f"the worker process ended with code {child.returncode}"
    logger.warning("job %s attempt %s: %s", claim_.job_id, claim_.attempt, why)
    release_lost(jobs, claim_.job_id, settings.config.training, claim_, why)
    return "lost"


def _should_stop(jobs: JobStore, claim_: Claim) -> str | None:
    try:
        record = jobs.get(claim_.job_id)
    except MlfnError:
        return None  # the store hiccuped: look again next time
    if not claim_.holds(record):
        return "superseded"  # the lease ran out and the job moved on: this work is moot
    return "cancelled" if record.get("cancel_requested_at") else None


@contextlib.contextmanager
def _settings_file(settings: Settings) -> Any:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(settings.to_json())
    try:
        yield handle.name
    finally:
        os.unlink(handle.name)


def _spawn(settings_path: str, claim_: Claim, background: bool) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "core.jobs",
        "--settings",
        settings_path,
        "--worker",
        claim_.worker,
        "--attempt",
        str(claim_.attempt),
        claim_.job_id,
    ]
    env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
    # The job id matched JOB_ID and the settings file is our own: no shell, no user text.
    return launch(argv, env, background)


def launch(argv: list[str], env: dict[str, str], background: bool) -> subprocess.Popen[bytes]:
    """A training process in a session of its own. `background` (mlfn serve): it yields the
    CPU to serving (`_yield_cpu_to_serving`) as soon as it exists, before its interpreter's
    start-up and imports, with one BLAS thread per CPU it may use."""
    if background:
        threads = str(len(training_cpus(_cpus())))
        env = {**env, BACKGROUND_ENV: "1"}
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(name, threads)
    child = subprocess.Popen(argv, start_new_session=True, env=env)  # noqa: S603
    if background:  # at once: the interpreter's start-up and imports are work too
        _yield_cpu_to_serving(child.pid)
    return child


def _cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return set(range(os.cpu_count() or 1))


def _kill(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)  # the job and anything it started
    child.wait()


def _die_with_supervisor() -> None:
    """If the worker that watches this attempt dies, so does the attempt (as a function's
    sandbox does): the lease then runs out and the job is retried, never run twice. A
    watchdog thread checks every second (PR_SET_PDEATHSIG is not delivered everywhere)."""
    import threading

    parent = int(os.environ.get(SUPERVISOR_ENV, os.getppid()))

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_SECONDS)
        logger.warning("the supervising worker is gone: this attempt stops")
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="mlfn-orphan-watch", daemon=True).start()


def _yield_cpu_to_serving(pid: int) -> None:
    """Run a training process only on CPU time serving leaves idle (`_idle_class`), and off
    the first of its CPUs, which stays serving's (`training_cpus`). Once, by the worker
    that starts it: a second pass would take one more CPU away."""
    _idle_class(pid)
    with contextlib.suppress(AttributeError, OSError):  # macOS has no CPU affinity
        os.sched_setaffinity(pid, training_cpus(os.sched_getaffinity(pid)))


def _idle_class(pid: int = 0) -> None:
    """SCHED_IDLE for `pid` (0: this thread) where Linux has it (inherited by the threads
    torch and BLAS start later), else the lowest priority. Setting it again changes
    nothing."""
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, 19)


def training_cpus(allowed: set[int]) -> set[int]:
    """The CPUs a background training may run on: all but the lowest of `allowed` when
    there are two or more. SCHED_IDLE alone is not enough: with a SCHED_IDLE process
    spinning on any CPU, a one-row /predict's p99 went from 0.8 to 0.9 ms to 3.8 ms in one
    run and 2.4 ms in another (2 CPUs, Linux 6.18; about one scheduler tick, so most likely
    a woken request waiting for the task to step aside). Kept off one CPU, the same
    process left p99 at 0.58 to 0.67 ms in three runs: serving always has a CPU free."""
    if len(allowed) < 2:
        return set(allowed)
    return set(sorted(allowed)[1:])


def child_main(argv: list[str] | None = None) -> int:
    """`python -m core.jobs --settings FILE --worker ID --attempt N JOB_ID`: one attempt a
    supervisor claimed, run in this process."""
    import argparse

    from core.jobs.runner import run_claimed
    from core.storage import open_store

    parser = argparse.ArgumentParser(prog="python -m core.jobs")
    parser.add_argument("--settings", required=True)
    parser.add_argument("--worker", required=True)
    parser.add_argument("--attempt", type=int, required=True)
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    if os.environ.get(DOOR_ENV):  # log (and trace) as the worker that started this process
        use_door(os.environ[DOOR_ENV])
    _die_with_supervisor()
    if os.environ.get(BACKGROUND_ENV):  # as the worker set it: also when started by hand
        _idle_class()
    with open(args.settings, encoding="utf-8") as handle:
        settings = Settings.from_json(handle.read())
    store = open_store(settings.store_uri)
    claim_ = Claim(args.job_id, args.worker, args.attempt)
    if claim_.holds(JobStore(store).get(args.job_id)):
        run_claimed(settings, store, claim_)
    return 0
