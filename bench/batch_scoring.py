"""Batch scoring throughput: 1,000,000 iris rows from Parquet to Parquet part files through
`score_locally` (plan, columnar validation with rejection, ONNX, parts, chunk records and
the manifest), in one process and in a pool of two; against a bare reference in the same
run — read the Parquet, run the same ONNX session on the float matrix, write the Parquet —
with no validation, no records and no manifest. Goal: ≥ 500,000 rows/s."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import scratch_project

ROWS = 1_000_000
GOAL_ROWS_PER_SECOND = 500_000
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _input(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    table = pa.table({name: rng.uniform(0.1, 7.9, ROWS) for name in FEATURES})
    pq.write_table(table, path, row_group_size=100_000)


def _bare(store: Any, source: Path, out: Path) -> float:
    """The limit: Arrow in, one ONNX run per 100,000 rows, Arrow out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.inference import Predictor

    model = Predictor(store, "iris").current()
    names = [c.input for c in model.spec.columns]
    started = time.perf_counter()
    parquet = pq.ParquetFile(source)
    for index in range(parquet.num_row_groups):
        table = parquet.read_row_group(index)
        feeds = {n: table.column(c).to_numpy().astype(np.float32)
                 for n, c in zip(names, FEATURES, strict=True)}  # fmt: skip
        outputs = model.session.run(None, model.spec.graph_feeds(feeds))
        proba = np.column_stack(outputs[-3:])
        pq.write_table(pa.table({"label": np.argmax(proba, axis=1), "p": proba.max(axis=1)}),
                       out / f"bare-{index}.parquet")  # fmt: skip
    return time.perf_counter() - started


def _mlfn(store: Any, source: Path, out: Path, workers: int) -> float:
    from core.batch.plan import BatchRequest
    from core.batch.run import plan_batch, score_locally

    started = time.perf_counter()
    plan = plan_batch(store, BatchRequest(str(source), str(out)), "iris")
    manifest = score_locally(store, plan, workers)
    assert manifest["rows_out"] == ROWS
    return time.perf_counter() - started


def run() -> dict[str, Any]:
    from core.config import load_settings
    from core.storage import open_store
    from core.training.run import train

    os.environ["MLFN_TRACKING"] = "off"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = load_settings(scratch_project(folder / "project", "iris"), env="dev")
        store = open_store(settings.store_uri)
        train(settings, store, model_types=["logistic_regression"])
        _input(folder / "in.parquet")
        (folder / "bare").mkdir()
        bare = min(_bare(store, folder / "in.parquet", folder / "bare") for _ in range(3))
        one = min(_mlfn(store, folder / "in.parquet", folder / f"one-{k}", 1) for k in range(3))
        two = min(_mlfn(store, folder / "in.parquet", folder / f"two-{k}", 2) for k in range(2))
    best = min(one, two)
    return {
        "rows": ROWS,
        "seconds": {
            "bare": round(bare, 3),
            "one_process": round(one, 3),
            "two_processes": round(two, 3),
        },
        "rows_per_second": {
            "bare": round(ROWS / bare),
            "one_process": round(ROWS / one),
            "two_processes": round(ROWS / two),
        },
        "ratio_to_bare": round(bare / best, 3),
        "goal_rows_per_second": GOAL_ROWS_PER_SECOND,
    }
