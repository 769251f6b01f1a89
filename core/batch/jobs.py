"""Batches as jobs: `POST /batch` queues a job of kind `batch`; the worker that runs it plans
the batch and then either scores it in a local process pool (`mlfn serve`, no queue) or puts
one `{"action": "batch_chunk"}` message per chunk on the cloud's queue (SQS, Pub/Sub, the
Azure queue), which the worker functions score in parallel. The chunk that completes the
batch writes its manifest."""

from __future__ import annotations

import os
from typing import Any

from core.batch.plan import BatchRequest, load_plan
from core.batch.run import finalize, plan_batch, score_chunk, score_locally, scored_chunks
from core.batch.status import check_batch_id
from core.config import Settings
from core.data.access import check_caller_dataset
from core.errors import SourceNotAllowedError, ValidationError
from core.progress import NULL_PROGRESS, Progress
from core.storage import Store

KAFKA_OUTPUTS_ENV = "MLFN_BATCH_KAFKA_OUTPUTS"  # kafka:// URLs an HTTP caller may write to
CHUNK_ACTION = "batch_chunk"


def caller_request(settings: Settings, store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """The job request for an HTTP caller's batch, or a refusal naming what is not allowed:
    the input is a key under the environment's raw or processed paths in the store, or a URI
    under one of its `data_sources`; the output is the store (default) or a Kafka topic
    listed in $MLFN_BATCH_KAFKA_OUTPUTS."""
    source = str(body["input"])
    if source.startswith(("/", ".")) or ("://" not in source and "/" not in source):
        raise SourceNotAllowedError(
            f"input '{source}' is not allowed: name a key under the environment's raw or "
            "processed path in the store, or a URI under one of its data_sources"
        )
    check_caller_dataset(settings, source)
    if "://" not in source:
        source = f"{store.uri.rstrip('/')}/{source}"
    output = body.get("output")
    allowed = [u.strip() for u in os.environ.get(KAFKA_OUTPUTS_ENV, "").split(",") if u.strip()]
    if output is not None and output not in allowed:
        raise SourceNotAllowedError(
            f"output '{output}' is not allowed: leave it out (the part files go to the store's "
            f"batches/<id>/output/) or name a Kafka topic listed in {KAFKA_OUTPUTS_ENV}"
        )
    return {**body, "input": source}


def run_batch_job(
    settings: Settings, store: Store, request: dict[str, Any], progress: Progress = NULL_PROGRESS
) -> dict[str, Any]:
    """A batch job's work; its result names the batch (and has the totals when scored here)."""
    from core.jobs.queues import dispatcher_from_env

    parser = settings.parser
    reading = {"field_mappings": dict(parser.field_mappings), "decimal": parser.decimal,
               "missing_values": list(parser.missing_values)}  # fmt: skip
    batch = BatchRequest(**{**reading, **request})
    plan = plan_batch(store, batch, settings.config.model_name)
    queue = dispatcher_from_env(settings, store)
    if not hasattr(queue, "send"):  # no cloud queue: score here, a process per core
        manifest = score_locally(store, plan, None, progress)
        keys = ("batch_id", "rows_in", "rows_out", "rejected", "output", "model")
        return {key: manifest[key] for key in keys} | {"state": "succeeded"}
    done = scored_chunks(store, plan)
    pending = [n for n in range(len(plan.chunks)) if n not in done]
    for chunk in pending:
        queue.send({"action": CHUNK_ACTION, "batch_id": plan.batch_id, "chunk": chunk})
    if not pending:
        finalize(store, plan)
    return {"batch_id": plan.batch_id, "state": "dispatched", "chunks": len(plan.chunks),
            "queued": len(pending), "output": plan.output, "model": plan.model}  # fmt: skip


def handle_chunk_message(message: dict[str, Any]) -> dict[str, Any]:
    """A worker's `batch_chunk` message: score the chunk (again, the same part: a
    redelivery writes nothing twice), then the manifest if it was the last."""
    from core.config import load_settings
    from core.storage import open_store

    batch_id, chunk = message.get("batch_id"), message.get("chunk")
    if not isinstance(batch_id, str) or not isinstance(chunk, int) or isinstance(chunk, bool):
        raise ValidationError('a batch message must be {"batch_id": "...", "chunk": N}')
    check_batch_id(batch_id)
    store = open_store(load_settings().store_uri)
    record = score_chunk(store.uri, batch_id, chunk)
    manifest = finalize(store, load_plan(store, batch_id))
    return {"batch_id": batch_id, "chunk": chunk, "record": record,
            "finished": manifest is not None}  # fmt: skip
