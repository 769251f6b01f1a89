"""The job lifecycle with real worker processes: SIGKILL mid-training, redelivery, cancel,
leases, late workers, concurrency slots and the sweep."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.jobs.lease import claim, finish, renew
from core.jobs.manage import cancel_job
from core.jobs.record import JobStore, stamp
from core.jobs.runner import run_job
from core.jobs.supervise import run_job_in_child
from core.jobs.sweep import sweep
from core.registry import ModelRegistry
from core.training.run import train
from tests.conftest import project_settings
from tests.jobs_helpers import (
    FAST,
    QUICK_LEASES,
    SLOW,
    Recorder,
    attempt_pids,
    gone,
    kill_attempt,
    wait_until,
)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Any, Any]:
    settings, store = project_settings(tmp_path, training=QUICK_LEASES)
    train(settings, store, model_types=["logistic_regression"])
    return settings, store


def _in_thread(target: Any, *args: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: out.update(record=target(*args)), daemon=True)
    thread.start()
    return thread, out


def test_sigkilled_worker_is_retried_then_succeeds(project: tuple[Any, Any]) -> None:
    settings, store = project
    jobs = JobStore(store)
    job = jobs.create("train", SLOW)
    thread, out = _in_thread(run_job_in_child, settings, store, job["job_id"])
    pid = kill_attempt(job["job_id"], 1, lambda: jobs.get(job["job_id"]))
    thread.join(timeout=300)  # two attempts of a deliberately slow training; a busy CI is slower
    record = out["record"]
    assert gone(pid)
    assert record["status"] == "succeeded", record
    assert record["attempts"] == 2 and len(record["history"]) == 2
    first, second = record["history"]
    assert "ended with code -9" in first["outcome"] and second["outcome"] == "succeeded"
    assert first["worker"] != second["worker"]
    assert ModelRegistry(store, "iris").versions()[-1] == record["result"]["version"]
    assert "--- attempt 2" in jobs.read_log(job["job_id"])


def test_killed_on_every_attempt_fails_with_worker_lost(project: tuple[Any, Any]) -> None:
    settings, store = project
    jobs, champion = JobStore(store), ModelRegistry(store, "iris").champion()
    job = jobs.create("train", SLOW)
    thread, out = _in_thread(run_job_in_child, settings, store, job["job_id"])
    for attempt in (1, 2):  # training.max_attempts defaults to 2
        kill_attempt(job["job_id"], attempt, lambda: jobs.get(job["job_id"]))
    thread.join(timeout=60)
    record = out["record"]
    assert record["status"] == "failed" and record["error"]["code"] == "worker_lost", record
    assert record["attempts"] == 2
    assert ModelRegistry(store, "iris").champion() == champion


def test_whole_worker_lost_then_redelivered_after_the_lease(project: tuple[Any, Any]) -> None:
    """A function killed with its child (timeout, out of memory): the record stays
    `running` until the lease runs out; a redelivery before that is acknowledged and does
    nothing, one after it runs attempt 2."""
    settings, store = project
    jobs = JobStore(store)
    job = jobs.create("train", FAST)
    lost = claim(jobs, job["job_id"], "dead-worker", settings.config.training)
    assert lost is not None and lost.attempt == 1  # its heartbeat will never come
    early = run_job_in_child(settings, store, job["job_id"])
    assert early["status"] == "running" and early["attempts"] == 1  # busy: not run twice
    wait_until(lambda: jobs.get(job["job_id"])["lease_expires_at"] < stamp(), what="lease end")
    record = run_job_in_child(settings, store, job["job_id"])
    assert record["status"] == "succeeded" and record["attempts"] == 2, record
    assert record["history"][0]["outcome"] == "lease expired"
    assert finish(jobs, lost, "succeeded", result={"version": 99}) is None  # late: discarded
    assert jobs.get(job["job_id"])["result"] == record["result"]


def test_an_attempt_dies_with_its_supervisor_and_runs_again_after_the_lease(
    tmp_path: Path,
) -> None:
    """The worker process itself SIGKILLed (as a function's sandbox is): its attempt's
    process goes with it, and once the lease runs out a redelivery runs attempt 2."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO, make_project

    config = make_project(tmp_path, training=QUICK_LEASES)
    settings, store = project_settings(tmp_path, training=QUICK_LEASES)
    jobs = JobStore(store)
    job = jobs.create("train", SLOW)
    code = f"from core.jobs import run_job_by_id; run_job_by_id({job['job_id']!r})"
    env = {**os.environ, "MLFN_CONFIG": str(config), "MLFN_TRACKING": "off"}
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
    (pid,) = wait_until(lambda: attempt_pids(job["job_id"], 1), what="the attempt's process")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    wait_until(lambda: gone(pid), seconds=5, what="the orphaned attempt to die")
    assert jobs.get(job["job_id"])["status"] == "running"  # until its lease runs out
    wait_until(lambda: jobs.get(job["job_id"])["lease_expires_at"] < stamp(), what="lease end")
    jobs.update(job["job_id"], request=FAST)  # the retry may be quick: only its count matters
    record = run_job_in_child(settings, store, job["job_id"])
    assert record["status"] == "succeeded" and record["attempts"] == 2, record


def test_one_message_delivered_twice_runs_once(project: tuple[Any, Any]) -> None:
    settings, store = project
    jobs, registry = JobStore(store), ModelRegistry(store, "iris")
    before = len(registry.versions())
    job = jobs.create("train", {"model_type": "random_forest"})
    threads = [_in_thread(run_job_in_child, settings, store, job["job_id"]) for _ in range(2)]
    for thread, _ in threads:
        thread.join(
            timeout=300
        )  # two attempts of a deliberately slow training; a busy CI is slower
    record = jobs.get(job["job_id"])
    assert record["status"] == "succeeded" and record["attempts"] == 1
    assert len(registry.versions()) == before + 1
    again = run_job_in_child(settings, store, job["job_id"])  # a third delivery, later
    assert again == record


def test_cancel_stops_a_running_job_within_seconds(project: tuple[Any, Any]) -> None:
    settings, store = project
    jobs, registry = JobStore(store), ModelRegistry(store, "iris")
    champion, versions = registry.champion(), registry.versions()
    job = jobs.create("train", SLOW, owner="alice")
    thread, out = _in_thread(run_job_in_child, settings, store, job["job_id"])
    (pid,) = wait_until(lambda: attempt_pids(job["job_id"]), what="the worker process")
    asked = cancel_job(jobs, job["job_id"], "alice", is_admin=False)
    assert asked["status"] == "running" and asked["cancel_requested_at"]
    thread.join(timeout=10)  # the poll is 0.2 s here; the job itself would take ~10 s more
    assert not thread.is_alive() and gone(pid)
    record = out["record"]
    assert record["status"] == "cancelled" and record["cancelled_by"] == "alice", record
    assert registry.champion() == champion and registry.versions() == versions


def test_a_cancel_seen_by_the_heartbeat_stops_training_at_a_checkpoint(
    project: tuple[Any, Any],
) -> None:
    """In the working process itself (no supervisor to kill it): the heartbeat sees the
    request and the next epoch's checkpoint ends the attempt."""
    settings, store = project
    jobs, registry = JobStore(store), ModelRegistry(store, "iris")
    versions = registry.versions()
    job = jobs.create("train", SLOW)
    thread, out = _in_thread(run_job, settings, store, job["job_id"])
    wait_until(lambda: _renewed(jobs.get(job["job_id"])), what="training under way")
    cancel_job(jobs, job["job_id"])
    thread.join(timeout=15)
    assert out["record"]["status"] == "cancelled", out["record"]
    assert registry.versions() == versions


def _renewed(record: dict[str, Any]) -> bool:
    """Running, and its heartbeat has renewed the lease at least once."""
    history = record.get("history") or [{}]
    return record["status"] == "running" and record["heartbeat_at"] != history[-1]["started_at"]


def test_cancel_a_queued_job_and_its_message_is_ignored(project: tuple[Any, Any]) -> None:
    settings, store = project
    jobs = JobStore(store)
    job = jobs.create("train", FAST)
    assert cancel_job(jobs, job["job_id"])["status"] == "cancelled"
    record = run_job_in_child(settings, store, job["job_id"])
    assert record["status"] == "cancelled" and record["attempts"] == 0
    from core.errors import ConflictError

    with pytest.raises(ConflictError, match="already cancelled"):
        cancel_job(jobs, job["job_id"])


def test_a_late_worker_cannot_renew_or_finish(project: tuple[Any, Any]) -> None:
    settings, store = project
    jobs, policy = JobStore(store), settings.config.training
    job = jobs.create("train", FAST)
    first = claim(jobs, job["job_id"], "worker-a", policy)
    assert first is not None and claim(jobs, job["job_id"], "worker-b", policy) is None  # busy
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    jobs.update(job["job_id"], lease_expires_at=past)
    second = claim(jobs, job["job_id"], "worker-b", policy)
    assert second is not None and second.attempt == 2
    assert renew(jobs, first, policy) is None
    assert finish(jobs, first, "failed", error={"code": "x", "message": "late"}) is None
    assert finish(jobs, second, "succeeded", result={"version": 2}) is not None
    record = jobs.get(job["job_id"])
    assert record["status"] == "succeeded" and record["worker"] == "worker-b"


def test_sweep_requeues_a_lost_job_then_fails_it_after_the_last_attempt(
    project: tuple[Any, Any],
) -> None:
    settings, store = project
    jobs, policy, queue = JobStore(store), settings.config.training, Recorder()
    job = jobs.create("train", FAST)
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    for attempt in (1, 2):
        assert claim(jobs, job["job_id"], f"lost-{attempt}", policy) is not None
        jobs.update(job["job_id"], lease_expires_at=past)
        report = sweep(store, policy, queue)
        key = "requeued" if attempt == 1 else "failed"
        assert report[key] == [job["job_id"]], report
    assert queue.sent == [job["job_id"]]  # the requeued attempt was dispatched again
    record = jobs.get(job["job_id"])
    assert record["status"] == "failed" and record["error"]["code"] == "worker_lost"


def test_at_most_max_concurrent_jobs_run_at_once(tmp_path: Path) -> None:
    from core.jobs.local import LocalDispatcher

    settings, store = project_settings(
        tmp_path, training={**QUICK_LEASES, "workers": 3, "max_concurrent_jobs": 1}
    )
    jobs = JobStore(store)
    dispatcher = LocalDispatcher(settings, store)
    ids = [jobs.create("train", FAST)["job_id"] for _ in range(3)]
    for job_id in ids:
        dispatcher.submit(job_id)
    most = 0
    while any(jobs.get(i)["status"] in ("queued", "running") for i in ids):
        most = max(most, sum(jobs.get(i)["status"] == "running" for i in ids))
    dispatcher.wait()
    dispatcher.close()
    assert most == 1
    assert [jobs.get(i)["status"] for i in ids] == ["succeeded"] * 3
    assert any(jobs.get(i).get("waiting_since") for i in ids)  # someone had to wait
