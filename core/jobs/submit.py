"""Submitting a job: an Idempotency-Key record, the job record, and one dispatch.

The key record (idempotency/<hash>.json: job id, body hash, time) is written first by
compare-and-swap, so two racing requests with one key name one job. The same key with the
same body returns that job; with another body it is refused (422); after a failed enqueue,
the same key dispatches the still-queued job for real. Keys expire after
`training.idempotency_ttl_seconds` (24 h).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any, Protocol

from core.config import JobsConfig
from core.errors import (
    AlreadyExistsError,
    ConflictError,
    IdempotencyKeyReusedError,
    NotFoundError,
    UnavailableError,
)
from core.jobs.record import FAILED, QUEUED, JobStore, new_job_id, now, parse_stamp, stamp
from core.storage import Store, encode_json, join_key

logger = logging.getLogger("mlfn.jobs")
KEYS_PREFIX = "idempotency"


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
    policy: JobsConfig | None = None,
) -> dict[str, Any]:
    """Create (or, for a repeated Idempotency-Key, find) a job and dispatch it.
    `authority` is the submitter's highest scope: only an admin's job on data the caller
    supplied may promote automatically. UnavailableError when the queue refused it."""
    jobs, policy = JobStore(store), policy or JobsConfig()
    if not idempotency_key:
        record = jobs.create(kind, request, authority=authority, owner=subject)
        return dispatch(jobs, dispatcher, record, keep_on_failure=False)
    job_id = _job_for_key(store, policy, (subject, kind, idempotency_key), request)
    try:
        record = jobs.create(kind, request, job_id=job_id, authority=authority, owner=subject)
    except AlreadyExistsError:
        record = jobs.get(job_id)
    if record["status"] == QUEUED and not record.get("dispatched_at"):
        return dispatch(jobs, dispatcher, record, keep_on_failure=True)
    return record


def dispatch(
    jobs: JobStore, dispatcher: Dispatcher, record: dict[str, Any], keep_on_failure: bool
) -> dict[str, Any]:
    """Hand the job to the queue and note when. If the queue refuses, a job with an
    Idempotency-Key stays queued for the caller's retry; one without is failed, so nothing
    runs that the caller was told did not start."""
    job_id = record["job_id"]
    try:
        dispatcher.submit(job_id)
    except UnavailableError as exc:
        error = {"code": "enqueue_failed", "message": exc.message}
        if keep_on_failure:
            jobs.update(job_id, dispatch_error=error)
        else:
            jobs.update(job_id, status=FAILED, finished_at=stamp(), error=error)
        raise UnavailableError(
            f"{exc.message}; the job was not started"
            + ("; retry with the same Idempotency-Key" if keep_on_failure else "")
        ) from None
    written = jobs.modify(
        job_id,
        lambda now_: {
            **now_,
            "dispatched_at": stamp(),
            "dispatches": now_.get("dispatches", 0) + 1,
            "dispatch_error": None,
        },
    )
    assert written is not None
    return written


def _key_record_key(owner: tuple[str, str, str]) -> str:
    digest = hashlib.sha256("\0".join(owner).encode()).hexdigest()[:40]
    return join_key(KEYS_PREFIX, f"{digest}.json")


def body_digest(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _job_for_key(
    store: Store, policy: JobsConfig, owner: tuple[str, str, str], request: dict[str, Any]
) -> str:
    """The job id this key names: an unexpired key's own, or a new one recorded for it."""
    key, digest = _key_record_key(owner), body_digest(request)
    for _ in range(5):
        try:
            data, token = store.read_with_token(key)
            held: dict[str, Any] | None = json.loads(data)
        except NotFoundError:
            held, token = None, None
        if held is not None and not key_expired(held, policy):
            if held["body_sha256"] != digest:
                raise IdempotencyKeyReusedError(
                    "this Idempotency-Key was already used with a different request body; "
                    "use a new key for a different request"
                )
            return str(held["job_id"])
        job_id = new_job_id()
        claim = {"job_id": job_id, "body_sha256": digest, "created_at": stamp()}
        try:
            store.replace(key, encode_json(claim), token)
            return job_id
        except ConflictError:
            continue  # another request with this key got there first: read theirs
    raise ConflictError("the Idempotency-Key kept changing; retry the request")


def key_expired(held: dict[str, Any], policy: JobsConfig) -> bool:
    created = parse_stamp(held.get("created_at"))
    return created is None or now() - created > timedelta(seconds=policy.idempotency_ttl_seconds)


def expired_keys(store: Store, policy: JobsConfig) -> list[str]:
    """Key records past their time (the sweep deletes them)."""
    expired = []
    for key in store.list(KEYS_PREFIX + "/"):
        try:
            if key_expired(store.read_json(key), policy):
                expired.append(key)
        except (NotFoundError, ValueError):
            continue
    return expired
