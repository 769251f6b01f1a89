"""How far a batch is: from its plan, its chunk records and its manifest."""

from __future__ import annotations

from typing import Any

from core.batch.plan import batch_key, chunk_records, load_plan
from core.errors import NotFoundError, ValidationError
from core.storage import Store

BATCH_ID_LENGTH = 21


def check_batch_id(batch_id: str) -> None:
    if (
        len(batch_id) != BATCH_ID_LENGTH
        or not batch_id.startswith("b")
        or not all(c in "0123456789abcdef" for c in batch_id[1:])
    ):
        raise ValidationError(f"'{batch_id}' is not a batch id (b followed by 20 hex digits)")


def batch_status(store: Store, batch_id: str) -> dict[str, Any]:
    """state planned | running | succeeded, chunks done of all, rows so far; the manifest
    once it is written."""
    check_batch_id(batch_id)
    plan = load_plan(store, batch_id)
    records = chunk_records(store, plan)
    status: dict[str, Any] = {
        "batch_id": batch_id, "model": plan.model, "output": plan.output, "rows": plan.rows,
        "chunks": len(plan.chunks), "chunks_done": len(records),
        "rows_out": sum(r["rows_out"] for r in records.values()),
        "rejected": sum(r["rejected"] for r in records.values()),
    }  # fmt: skip
    try:
        status["manifest"] = store.read_json(batch_key(batch_id, "manifest.json"))
        status["state"] = "succeeded"
    except NotFoundError:
        status["state"] = "running" if records else "planned"
    return status
