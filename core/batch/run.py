"""Run a batch: plan it, score its chunks (a local process pool, or one queue message per
chunk for the cloud's workers), and write the manifest when the last chunk is in."""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from typing import Any

from core.batch.encode import check_columns
from core.batch.inputs import InputReader, Reading, resolve_inputs
from core.batch.plan import BatchRequest, Plan, batch_key, chunk_key, chunk_records, load_plan
from core.batch.plan import make_plan as _make_plan
from core.batch.score import score_table
from core.batch.sinks import open_sink, table_bytes
from core.errors import AlreadyExistsError, ConflictError, NotFoundError, ValidationError
from core.inference import LoadedModel, Predictor
from core.model_pool import missing_model, parse_model_ref
from core.progress import NULL_PROGRESS, Progress
from core.storage import Store, open_store, store_uri_of

logger = logging.getLogger("mlfn.batch")


def plan_batch(store: Store, request: BatchRequest, default_model: str) -> Plan:
    """Resolve the input and the model version, check the columns, and plan (or find the
    plan of the same batch, to continue it)."""
    request.check()
    if request.output and request.output.startswith("kafka://"):
        from core.batch.kafka import parse_kafka_url

        parse_kafka_url(request.output)
    ref = parse_model_ref(request.model or default_model)
    predictor = Predictor(store, ref.name)
    if not predictor.registry.versions():
        raise NotFoundError(missing_model(store, ref.name))
    model = (predictor.predict_version_model(ref.version) if ref.version is not None
             else predictor.current())  # fmt: skip
    files = resolve_inputs(request.input)
    reader = InputReader()
    for file in files:
        names = reader.read(file, 0, 1, request.reading()).column_names
        check_columns(model.spec, names, file.uri)
        if request.id_column and request.id_column not in names:
            raise NotFoundError(f"input '{file.uri}' has no id column '{request.id_column}'")
    sha256 = predictor.registry.served_sha256(model.version, model.metadata)
    described = {"name": ref.name, "version": model.version, "task": model.metadata["task"],
                 "sha256": sha256}  # fmt: skip
    return _make_plan(request, files, described, store)


@lru_cache(maxsize=8)
def _model(store_uri: str, name: str, version: int, sha256: str) -> LoadedModel:
    predictor = Predictor(open_store(store_uri), name)
    model = predictor.predict_version_model(version)
    if predictor.registry.served_sha256(version, model.metadata) != sha256:
        raise ConflictError(f"model '{name}' version {version} changed since the batch began")
    return model


def score_chunk(store_uri: str, batch_id: str, chunk: int) -> dict[str, Any]:
    """Score one chunk and record it (a chunk recorded already is returned as it is)."""
    store = open_store(store_uri)
    record_key = chunk_key(batch_id, chunk)
    if store.exists(record_key):
        return dict(store.read_json(record_key))
    started = time.perf_counter()
    plan = load_plan(store, batch_id)
    if not 0 <= chunk < len(plan.chunks):
        raise ValidationError(f"batch {batch_id} has chunks 0 to {len(plan.chunks) - 1}")
    _, start, stop = plan.chunks[chunk]
    reading = Reading.of_request(plan.request)
    table = InputReader().read(plan.input_file(chunk), start, stop, reading)
    info = plan.model
    model = _model(store_uri, info["name"], info["version"], info["sha256"])
    id_column = plan.request.get("id_column")
    scored = score_table(model, table, plan.offsets[chunk], id_column)
    sink = open_sink(plan.output, plan.request["format"], batch_id)
    meta = {"batch_id": batch_id, "model": info, "id_column": id_column}
    record: dict[str, Any] = {
        "chunk": chunk, "rows_in": table.num_rows, "rows_out": scored.predictions.num_rows,
        "rejected": scored.rejected.num_rows, "reasons": scored.reasons,
    }  # fmt: skip
    record.update(sink.write(chunk, scored.predictions, meta))
    if scored.rejected.num_rows:
        record["rejected_part"] = _keep_rejected(store, sink, batch_id, chunk, scored.rejected)
    record["seconds"] = round(time.perf_counter() - started, 3)
    try:
        store.write_new(record_key, _json(record))
    except AlreadyExistsError:  # the same chunk, scored twice at once: the first record stands
        return dict(store.read_json(record_key))
    return record


def _keep_rejected(store: Store, sink: Any, batch_id: str, chunk: int, rejected: Any) -> str:
    if hasattr(sink, "write_rejected"):
        return str(sink.write_rejected(chunk, rejected))
    key = batch_key(batch_id, "rejected", f"part-{chunk:05d}.parquet")
    store.write_bytes(key, table_bytes(rejected, "parquet"))
    return f"{store.uri.rstrip('/')}/{key}"


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value, sort_keys=True).encode()


def scored_chunks(store: Store, plan: Plan) -> dict[int, dict[str, Any]]:
    """The records of the chunks scored whose parts are still in the output: a chunk whose
    part (or rejected part) has gone from the folder since — deleted, lost — loses its
    record (and the batch its manifest), so running the batch again scores it again."""
    done = chunk_records(store, plan)
    if not done or plan.output.startswith("kafka://"):  # a topic's messages cannot be looked up
        return done
    present = set(open_store(store_uri_of(plan.output)).list(""))
    lost = [n for n, record in done.items() if not _parts_present(record, present)]
    for chunk in lost:
        store.delete(chunk_key(plan.batch_id, chunk))
        del done[chunk]
    if lost:
        store.delete(batch_key(plan.batch_id, "manifest.json"))
        logger.warning("batch %s: %d chunk(s) lost from %s, scored again", plan.batch_id,
                       len(lost), plan.output)  # fmt: skip
    return done


def _parts_present(record: dict[str, Any], present: set[str]) -> bool:
    parts = [record.get("part"), record.get("rejected_part")]
    return all(part in present for part in parts if part and "://" not in part)


def finalize(store: Store, plan: Plan) -> dict[str, Any] | None:
    """The manifest once every chunk has its record (None before); written once."""
    records = chunk_records(store, plan)
    if len(records) < len(plan.chunks):
        return None
    key = batch_key(plan.batch_id, "manifest.json")
    if store.exists(key):
        return dict(store.read_json(key))
    manifest = build_manifest(plan, records)
    if not plan.output.startswith("kafka://"):  # a topic's manifest is the store's alone
        open_sink(plan.output, plan.request["format"], plan.batch_id).finish(manifest)
    try:
        store.write_new(key, _json(manifest))
    except AlreadyExistsError:
        return dict(store.read_json(key))
    return manifest


def build_manifest(plan: Plan, records: dict[int, dict[str, Any]]) -> dict[str, Any]:
    ordered = [records[n] for n in range(len(plan.chunks))]
    reasons: dict[str, int] = {}
    for record in ordered:
        for reason, count in record.get("reasons", {}).items():
            reasons[reason] = reasons.get(reason, 0) + count
    fields = ("part", "bytes", "sha256", "topic", "messages", "rows_out", "rejected_part")
    parts = [{key: r[key] for key in fields if key in r} for r in ordered]
    return {
        "batch_id": plan.batch_id, "input": plan.request["input"], "output": plan.output,
        "format": plan.request["format"], "model": plan.model,
        "rows_in": sum(r["rows_in"] for r in ordered),
        "rows_out": sum(r["rows_out"] for r in ordered),
        "rejected": {"rows": sum(r["rejected"] for r in ordered), "reasons": reasons},
        "chunks": len(ordered), "parts": parts, "started": plan.created,
        "scoring_seconds": round(sum(r.get("seconds", 0.0) for r in ordered), 3),
    }  # fmt: skip


ROWS_PER_WORKER = 2_000_000  # below this a process's start (~1 s) costs more than it saves


def default_workers(rows: int) -> int:
    return max(1, min(os.cpu_count() or 1, rows // ROWS_PER_WORKER))


def score_locally(
    store: Store, plan: Plan, workers: int | None = None, progress: Progress = NULL_PROGRESS
) -> dict[str, Any]:
    """Every chunk without a record, in a pool of processes (one per core by default);
    then the manifest. Interrupted, the same call later continues where it stopped."""
    done = scored_chunks(store, plan)
    pending = [n for n in range(len(plan.chunks)) if n not in done]
    task = progress.start(f"batch {plan.batch_id}: {plan.rows:,} rows", len(plan.chunks))
    progress.advance(task, len(done))
    workers = max(1, min(workers or default_workers(plan.rows), len(pending) or 1))
    if workers == 1:
        for chunk in pending:
            score_chunk(store.uri, plan.batch_id, chunk)
            progress.advance(task)
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no fork of a loaded ONNX session
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(score_chunk, store.uri, plan.batch_id, n) for n in pending]
            for future in as_completed(futures):
                future.result()
                progress.advance(task)
    manifest = finalize(store, plan)
    assert manifest is not None  # every chunk has its record now
    return manifest
