"""At most `training.max_concurrent_jobs` jobs run per store: one slot object per place
(locks/training/<n>.json), taken by compare-and-swap. A slot is free when it names no job,
a finished job, or a job whose lease ran out; so a killed worker's slot frees itself.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from core.config import JobsConfig
from core.errors import ConflictError, NotFoundError
from core.jobs.lease import lease_expired
from core.jobs.record import RUNNING, TERMINAL, JobStore, now, parse_stamp, stamp
from core.storage import encode_json, join_key

PREFIX = "locks/training"


def _key(slot: int) -> str:
    return join_key(PREFIX, f"{slot}.json")


class Slots:
    def __init__(self, jobs: JobStore, policy: JobsConfig) -> None:
        self.jobs, self.policy, self.store = jobs, policy, jobs.store

    def acquire(self, job_id: str) -> int | None:
        """A slot for `job_id` (the one it already holds, if any), or None when all are
        taken by live jobs."""
        for slot in range(self.policy.max_concurrent_jobs):
            if self._take(slot, job_id):
                return slot
        return None

    def _take(self, slot: int, job_id: str) -> bool:
        try:
            data, token = self.store.read_with_token(_key(slot))
            holder: dict[str, Any] | None = json.loads(data)
        except NotFoundError:
            holder, token = None, None
        if holder and holder.get("job_id") == job_id:
            return True
        if holder and not self._free(holder):
            return False
        try:
            self.store.replace(
                _key(slot), encode_json({"job_id": job_id, "taken_at": stamp()}), token
            )
        except ConflictError:
            return False  # another worker took it first
        return True

    def _free(self, holder: dict[str, Any]) -> bool:
        job_id = holder.get("job_id")
        if not job_id:
            return True
        try:
            record = self.jobs.get(job_id)
        except NotFoundError:
            return True
        if record["status"] in TERMINAL:
            return True
        if record["status"] == RUNNING:
            return lease_expired(record)
        taken = parse_stamp(holder.get("taken_at"))  # queued: give its worker time to claim
        return taken is None or now() - taken > timedelta(seconds=self.policy.lease_seconds)

    def release(self, slot: int, job_id: str) -> None:
        try:
            data, token = self.store.read_with_token(_key(slot))
        except NotFoundError:
            return
        if json.loads(data).get("job_id") != job_id:
            return  # already taken over: not ours to free
        try:
            self.store.replace(_key(slot), encode_json({"job_id": None}), token)
        except ConflictError:
            return

    def in_use(self) -> int:
        count = 0
        for slot in range(self.policy.max_concurrent_jobs):
            try:
                holder = self.store.read_json(_key(slot))
            except NotFoundError:
                continue
            count += not self._free(holder)
        return count
