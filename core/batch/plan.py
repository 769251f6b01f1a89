"""A batch's plan and state in the deployment's store, under `batches/<id>/`:

- `plan.json` — the input files and their rows, the chunks (file, first row, end row), the
  model version and graph sha256 every chunk uses, the output and its format;
- `chunks/<n>.json` — one per chunk scored (create-only): rows in and out, rejected rows by
  reason, the part written and its sha256;
- `manifest.json` — once every chunk is scored (create-only): the totals and every part.

The id is a hash of what the batch is (its input files and their sizes in rows, the model
version, the output, the format, the chunk size): the same command again continues the same
batch, scoring only the chunks that have no record, and a finished batch is not redone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.batch.inputs import InputFile, InputReader, Reading
from core.errors import AlreadyExistsError, NotFoundError, ValidationError
from core.storage import Store, join_key

DEFAULT_CHUNK_ROWS = 100_000
OUTPUT_FORMATS = ("parquet", "jsonl", "csv")


@dataclass(frozen=True)
class BatchRequest:
    input: str
    output: str | None = None  # None: the store's batches/<id>/output/
    model: str = ""  # NAME[@VERSION]; "" = the deployment's own model
    format: str = "parquet"
    id_column: str | None = None
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    # the project's field_mappings (original name -> feature name): inputs in the source's
    # own column names are scored as training read them
    field_mappings: dict[str, str] = field(default_factory=dict)
    # the parser config's reading of text: its decimal mark and the cells meaning "missing"
    decimal: str | None = None
    missing_values: list[str] = field(default_factory=list)

    def reading(self) -> Reading:
        return Reading(self.field_mappings, self.decimal, self.missing_values)

    def check(self) -> None:
        if self.format not in OUTPUT_FORMATS:
            raise ValidationError(f"format '{self.format}' is not one of {list(OUTPUT_FORMATS)}")
        if not 1_000 <= self.chunk_rows <= 5_000_000:
            raise ValidationError("chunk_rows must be from 1,000 to 5,000,000")


@dataclass
class Plan:
    batch_id: str
    request: dict[str, Any]
    model: dict[str, Any]  # name, version, sha256, task, classes
    output: str
    files: list[dict[str, Any]]  # store_uri, key, format, rows
    chunks: list[list[int]]  # [file index, start row, end row]; chunk n's first row: offsets
    offsets: list[int]  # the input row number each chunk starts at
    rows: int
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def input_file(self, chunk: int) -> InputFile:
        info = self.files[self.chunks[chunk][0]]
        return InputFile(info["store_uri"], info["key"], info["format"])


def batch_key(batch_id: str, *parts: str) -> str:
    return join_key("batches", batch_id, *parts)


def chunk_key(batch_id: str, chunk: int) -> str:
    return batch_key(batch_id, "chunks", f"{chunk:05d}.json")


def make_plan(
    request: BatchRequest, files: list[InputFile], model: dict[str, Any], store: Store
) -> Plan:
    """Count the rows, cut the chunks, fix the id; kept create-only (a plan that exists is
    the same batch, and is what is read back)."""
    reader = InputReader()
    counted = [{**asdict(f), "rows": reader.row_count(f)} for f in files]
    chunks, offsets, total = [], [], 0
    for index, info in enumerate(counted):
        for start in range(0, info["rows"], request.chunk_rows):
            chunks.append([index, start, min(start + request.chunk_rows, info["rows"])])
            offsets.append(total + start)
        total += info["rows"]
    if total == 0:
        raise ValidationError(f"input '{request.input}' holds no rows")
    identity = {"files": [[f["store_uri"], f["key"], f["rows"]] for f in counted],
                "model": [model["name"], model["version"], model["sha256"]],
                "output": request.output, "format": request.format,
                "id_column": request.id_column, "chunk_rows": request.chunk_rows,
                "field_mappings": request.field_mappings}  # fmt: skip
    if request.decimal or request.missing_values:  # (older plans' ids stay as they were)
        identity.update(decimal=request.decimal, missing_values=request.missing_values)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    batch_id = f"b{digest}"
    output = request.output or f"{store.uri.rstrip('/')}/{batch_key(batch_id, 'output')}"
    plan = Plan(batch_id, asdict(request), model, output, counted, chunks, offsets, total)
    try:
        store.write_new(batch_key(batch_id, "plan.json"), json.dumps(asdict(plan)).encode())
    except AlreadyExistsError:
        return load_plan(store, batch_id)
    return plan


def load_plan(store: Store, batch_id: str) -> Plan:
    try:
        return Plan(**store.read_json(batch_key(batch_id, "plan.json")))
    except NotFoundError:
        raise NotFoundError(f"no batch '{batch_id}' in the store") from None


def chunk_records(store: Store, plan: Plan) -> dict[int, dict[str, Any]]:
    """The records of the chunks already scored, by chunk number."""
    done = {}
    for key in store.list(batch_key(plan.batch_id, "chunks") + "/"):
        name = key.rsplit("/", 1)[-1].removesuffix(".json")
        if name.isdigit():
            done[int(name)] = store.read_json(key)
    return done
