"""Where a batch's predictions go: part files in a folder or store (Parquet, JSON lines or
CSV), or one Kafka message per prediction (core/batch/kafka.py). A chunk scored again (a
redelivered message, a resumed batch) writes the same part under the same name: nothing
twice."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any, Protocol

from core.parquet import table_parquet
from core.storage import Store, open_store, store_uri_of

EXTENSIONS = {"parquet": "parquet", "jsonl": "jsonl", "csv": "csv"}
MANIFEST = "_manifest.json"


class Sink(Protocol):
    def write(self, chunk: int, predictions: Any, meta: dict[str, Any]) -> dict[str, Any]:
        """Deliver one chunk's predictions; returns what the chunk's record notes of it."""
        ...

    def finish(self, manifest: dict[str, Any]) -> None: ...


def table_bytes(table: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "parquet":
        return table_parquet(table)
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, buffer)
    else:
        table.to_pandas().to_json(buffer, orient="records", lines=True)
    return buffer.getvalue()


class FolderSink:
    """`part-<n>.<ext>` per chunk, `rejected/part-<n>.parquet` for a chunk with rejected
    rows, and `_manifest.json` at the end, in a local folder or any store URI."""

    def __init__(self, location: str, fmt: str) -> None:
        self.store: Store = open_store(store_uri_of(location))
        self.format = fmt

    def write(self, chunk: int, predictions: Any, meta: dict[str, Any]) -> dict[str, Any]:
        data = table_bytes(predictions, self.format)
        name = f"part-{chunk:05d}.{EXTENSIONS[self.format]}"
        self.store.write_bytes(name, data)
        return {"part": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    def write_rejected(self, chunk: int, rejected: Any) -> str:
        name = f"rejected/part-{chunk:05d}.parquet"
        self.store.write_bytes(name, table_bytes(rejected, "parquet"))
        return name

    def finish(self, manifest: dict[str, Any]) -> None:
        self.store.write_bytes(MANIFEST, json.dumps(manifest, indent=2).encode())


def open_sink(output: str, fmt: str, batch_id: str) -> Any:
    if output.startswith("kafka://"):
        from core.batch.kafka import KafkaSink

        return KafkaSink(output, batch_id)
    return FolderSink(output, fmt)
