"""The local dispatcher of `mlfn serve`: `training.workers` threads, each running one job at
a time in a child process (see supervise.py), so training never shares the API's process;
and the sweep, at start and then every `training.sweep_every_seconds`."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from core.config import Settings
from core.errors import MlfnError
from core.jobs.record import QUEUED, TERMINAL
from core.jobs.supervise import run_job_in_child
from core.storage import Store

logger = logging.getLogger("mlfn.jobs")


class LocalDispatcher:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.policy = settings.config.training
        self.on_finished: Callable[[dict[str, Any]], None] | None = None  # e.g. metrics
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def submit(self, job_id: str) -> None:
        self._start_workers()
        self._queue.put(job_id)

    def _start_workers(self) -> None:
        with self._lock:
            if self._threads:
                return
            for number in range(self.policy.workers):
                thread = threading.Thread(
                    target=self._work, name=f"mlfn-job-worker-{number}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            try:
                self._run(job_id)
            except Exception:
                logger.exception("job %s: the local worker failed", job_id)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _run(self, job_id: str) -> None:
        while not self._stop.is_set():
            record = run_job_in_child(self.settings, self.store, job_id, background=True)
            if record["status"] == QUEUED and record.get("waiting_for_slot"):
                self._stop.wait(self.policy.cancel_poll_seconds)  # all slots busy: wait
                continue
            if record["status"] in TERMINAL and self.on_finished is not None:
                self.on_finished(record)
            return

    def wait(self) -> None:
        """Until every submitted job has been handled (tests, shutdown)."""
        self._queue.join()

    @property
    def stopping(self) -> threading.Event:
        """Set when the dispatcher closes: the server's own threads stop with it."""
        return self._stop

    def close(self) -> None:
        self._stop.set()
        for _ in self._threads:
            self._queue.put(None)

    def start_sweeps(self) -> threading.Thread:
        """Recover this store's jobs now (every queued one: a previous server's queue is
        gone), then every `training.sweep_every_seconds`."""
        thread = threading.Thread(target=self._sweeps, name="mlfn-job-sweep", daemon=True)
        thread.start()
        return thread

    def _sweeps(self) -> None:
        from core.jobs.sweep import sweep

        first = True
        while not self._stop.is_set():
            try:
                report = sweep(self.store, self.policy, self, requeue_all=first)
                if any(report[k] for k in ("requeued", "failed", "redispatched")):
                    logger.warning("job sweep: %s", report)
            except MlfnError as exc:
                logger.warning("job sweep failed: %s", exc.message)
            first = False
            self._stop.wait(self.policy.sweep_every_seconds)
