"""The issue's done-when, at full size: a 1,000,000-row batch scored end to end with the CLI
on the local disk and on the S3 emulator (input and output in buckets), rerun without a
duplicate, and sent to Kafka with exactly one message per row, read back by a consumer."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.batch.plan import BatchRequest
from core.batch.run import plan_batch, score_locally
from core.storage import open_store
from tests.batch.conftest import feature_table
from tests.batch.kafka_broker import create_topic, read_topic, tansu

ROWS = 1_000_000
MLFN = str(Path(sys.executable).parent / "mlfn")


def _mlfn(root: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run([MLFN, "batch", "--config", str(root / "config.json"), "--json", *args],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("million") / "in.parquet"
    pq.write_table(feature_table(ROWS), path, row_group_size=100_000)
    return path


@pytest.mark.e2e
def test_a_million_rows_on_the_local_disk(iris_project: Any, million: Path, tmp_path: Path) -> None:
    _, _, root = iris_project
    out = tmp_path / "out"
    manifest = _mlfn(root, "--input", str(million), "--output", str(out), "--id-column", "customer")
    assert manifest["rows_in"] == manifest["rows_out"] == ROWS and manifest["chunks"] == 10
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}
    again = _mlfn(root, "--input", str(million), "--output", str(out), "--id-column", "customer")
    assert again == manifest
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")} == stamps  # not rewritten
    rows = pq.read_table(out, columns=["row"]).column("row")
    assert len(rows) == ROWS and pa.compute.count_distinct(rows).as_py() == ROWS


@pytest.mark.e2e
def test_a_million_rows_on_the_s3_emulator(iris_project: Any, million: Path, s3_uri: str) -> None:
    _, store, _ = iris_project
    bucket = open_store(s3_uri)
    bucket.write_bytes("input/part-a.parquet", million.read_bytes())
    request = BatchRequest(f"{s3_uri}/input/*.parquet", f"{s3_uri}/scored", id_column="customer")
    manifest = score_locally(store, plan_batch(store, request, "iris"), workers=2)
    assert manifest["rows_in"] == manifest["rows_out"] == ROWS
    again = score_locally(store, plan_batch(store, request, "iris"), workers=2)
    assert again == manifest
    parts = sorted(k for k in bucket.list("scored/") if k.endswith(".parquet"))
    assert len(parts) == 10 and bucket.exists("scored/_manifest.json")
    tables = [pq.read_table(io.BytesIO(bucket.read_bytes(k)), columns=["row"]) for k in parts]
    rows = pa.concat_tables(tables).column("row")
    assert len(rows) == ROWS and pa.compute.count_distinct(rows).as_py() == ROWS


@pytest.mark.e2e
def test_a_million_rows_to_kafka(iris_project: Any, million: Path) -> None:
    _, store, _ = iris_project
    with tansu() as servers:
        create_topic(servers, "daily-scores", partitions=4)
        request = BatchRequest(str(million), f"kafka://{servers}/daily-scores",
                               id_column="customer")  # fmt: skip
        manifest = score_locally(store, plan_batch(store, request, "iris"), workers=1)
        score_locally(store, plan_batch(store, request, "iris"), workers=1)  # rerun: nothing
        messages = read_topic(servers, "daily-scores", ROWS, seconds=240)
    assert manifest["rows_out"] == ROWS
    keys = {m.key() for m in messages}
    assert len(messages) == ROWS and len(keys) == ROWS
