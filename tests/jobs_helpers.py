"""Helpers for job tests: a training slow enough to be interrupted, the real worker
processes running a job's attempts (found in /proc, killed with real signals), and a
dispatcher that only records."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# About ten seconds of real training on iris: long enough to kill or cancel mid-way.
SLOW = {
    "model_type": "neural_network",
    "params": {"neural_network": {"epochs": 200, "batch_size": 4, "patience": 100}},
}
FAST = {"model_type": "logistic_regression"}


class Recorder:
    """A dispatcher that only records what was handed to the queue."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def submit(self, job_id: str) -> None:
        self.sent.append(job_id)


# Short leases so that a lost worker is noticed in seconds, not a minute.
QUICK_LEASES = {
    "lease_seconds": 3,
    "heartbeat_seconds": 0.5,
    "cancel_poll_seconds": 0.2,
    "sweep_every_seconds": 1,
}


def attempt_pids(job_id: str, attempt: int | None = None) -> list[int]:
    """Processes running `python -m core.jobs ... JOB_ID` (one attempt's worker child)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"core.jobs" not in argv or job_id.encode() not in argv:
            continue
        if attempt is None or argv[argv.index(b"--attempt") + 1] == str(attempt).encode():
            found.append(int(entry.name))
    return found


def wait_until(condition: Callable[[], Any], seconds: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


def kill_attempt(job_id: str, attempt: int, read: Callable[[], dict[str, Any]]) -> int:
    """Wait until `attempt` runs and has renewed its lease once (it is mid-training), then
    SIGKILL its process. Returns the killed pid."""

    def running() -> list[int]:
        record = read()
        beating = record.get("attempt") == attempt and record.get("heartbeat_at") != record.get(
            "history", [{}]
        )[-1].get("started_at")
        return attempt_pids(job_id, attempt) if beating and record["status"] == "running" else []

    (pid,) = wait_until(running, what=f"attempt {attempt} of job {job_id} to run")
    os.kill(pid, signal.SIGKILL)
    return pid


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" in status.read_text()
