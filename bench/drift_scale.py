"""The drift job at a day's scale: 1,000,000 predicted rows in 10,000 small prediction-log
objects (100 requests each, as serving instances flush them), read and tested against an
iris champion's reference by `mlfn drift run`'s own code, in a fresh process.

Reported: rows per second over a whole run (window read, tests, live metrics, report;
goal >= 200,000) as a worker that has run once before does it, the first run's figure
(which also imports SciPy's statistics, ≈ 1.4 s), and the process's peak memory
(ru_maxrss) next to the size of the log text it read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, scratch_project

ROWS, PER_OBJECT = 1_000_000, 100
GOAL_ROWS_PER_S = 200_000
CLASSES = ["setosa", "versicolor", "virginica"]
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CHILD = """
import json, resource, sys, time
from datetime import UTC, datetime
from core.config import load_settings
from core.drift.act import run_monitoring
from core.storage import open_store
settings = load_settings(sys.argv[1], "dev")
store = open_store(settings.store_uri)
seconds = []
for _ in range(2):  # the first run imports SciPy's statistics (≈ 1.4 s); the second is warm
    started = time.perf_counter()
    report = run_monitoring(settings, store)
    seconds.append(time.perf_counter() - started)
print(json.dumps({"seconds": seconds, "rows": report["drift"]["rows"]["window"],
                  "dataset_drift": report["drift"]["dataset_drift"],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_logs(root: Path, rows: int, now: datetime) -> int:
    """`rows` one-row requests as the serving path logs them; returns the bytes written."""
    rng = np.random.default_rng(20261201)
    values = rng.normal([6.4, 3.0, 4.8, 1.6], 0.5, size=(rows, 4)).round(2)
    objects, written = rows // PER_OBJECT, 0
    for number in range(objects):
        at = now - timedelta(seconds=(objects - number) * 5)
        stamp = at.isoformat(timespec="milliseconds")
        lines = []
        for i in range(number * PER_OBJECT, (number + 1) * PER_OBJECT):
            inputs = dict(zip(NAMES, values[i].tolist(), strict=True))
            outputs = {"predictions": [CLASSES[i % 3]], "probabilities": [[0.1, 0.2, 0.7]]}
            lines.append(json.dumps({"id": uuid.uuid4().hex, "request_id": "bench",
                                     "time": stamp, "model_version": 1, "latency_ms": 0.3,
                                     "inputs": [inputs], "outputs": outputs}))  # fmt: skip
        folder = root / "logs" / "predictions" / f"{at:%Y/%m/%d}"
        folder.mkdir(parents=True, exist_ok=True)
        text = ("\n".join(lines) + "\n").encode()
        (folder / f"{at:%H%M%S}-{uuid.uuid4().hex}.jsonl").write_bytes(text)
        written += len(text)
    return written


def run() -> dict[str, Any]:
    from core.config import load_settings
    from core.storage import open_store
    from core.training.run import train

    with tempfile.TemporaryDirectory() as tmp:
        monitoring = {"window": "24h", "min_rows": 1000, "action": "alert"}
        config = scratch_project(Path(tmp), "iris", monitoring=monitoring)
        settings = load_settings(config, "dev")
        os.environ["MLFN_TRACKING"] = "off"
        train(settings, open_store(settings.store_uri))
        # the day ends now: a window of 24 h holds all of it, whatever the hour
        written = write_logs(Path(tmp) / "store", ROWS, datetime.now(UTC) - timedelta(minutes=1))
        env = {**os.environ, "PYTHONPATH": str(REPO), "MLFN_TRACKING": "off"}
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", CHILD, str(config)], capture_output=True,
                               text=True, env=env, timeout=900, check=True)  # fmt: skip
        wall = time.perf_counter() - started
    result = json.loads(child.stdout.strip().splitlines()[-1])
    cold, warm = result["seconds"]
    return {
        "rows": result["rows"], "objects": ROWS // PER_OBJECT,
        "log_mb": round(written / 2**20, 1), "run_seconds": round(warm, 2),
        "first_run_seconds": round(cold, 2), "process_seconds": round(wall, 2),
        "rows_per_second": round(result["rows"] / warm),
        "first_run_rows_per_second": round(result["rows"] / cold),
        "goal_rows_per_second": GOAL_ROWS_PER_S,
        "peak_memory_mb": round(result["peak_mb"]), "dataset_drift": result["dataset_drift"],
    }  # fmt: skip
