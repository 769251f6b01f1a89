"""Does training slow serving? `mlfn serve` answers /predict under the same load twice: idle,
and while a training job runs in its worker process (a neural network, long enough to
outlast the measurement), from the moment the job is running: the worker's start-up (its
interpreter, torch's import, the data) is inside the window. Goal: p99 while training
within 1.5x of idle."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import REPO, scratch_project
from bench.loadgen import load
from bench.processes import BenchError, Request, Served, post_json
from tests.integration import emulators

SECRET = "bench-job-isolation-secret-0123456789"
SECONDS, CONCURRENCY = 10, 4
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
# Long enough to outlast the window (with 128 hidden units the job ended after about 15 s,
# too close to the 10 s window and the wait for it to run); cancelled after the window.
LONG_JOB = {
    "model_type": "neural_network",
    "params": {
        "neural_network": {"epochs": 200, "batch_size": 1, "patience": 100, "hidden_size": 1024}
    },
}
GOAL_P99_RATIO = 1.5


def _job(base: str, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{base}/jobs/{job_id}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(json.load(answer))


def _measure(served_base: str, token: str) -> dict[str, Any]:
    predict = Request(
        f"{served_base}/predict",
        json.dumps({"instances": [ROW]}).encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        lambda answer: "predictions" in answer,
    )
    idle = load(predict, CONCURRENCY, SECONDS)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    job = post_json(f"{served_base}/train", json.dumps(LONG_JOB).encode(), headers)
    deadline = time.monotonic() + 60
    while _job(served_base, headers, job["job_id"])["status"] != "running":
        if time.monotonic() > deadline:
            raise BenchError("the training job did not start within 60 s")
        time.sleep(0.2)
    busy = load(predict, CONCURRENCY, SECONDS)
    still = _job(served_base, headers, job["job_id"])["status"]
    post_json(f"{served_base}/jobs/{job['job_id']}/cancel", b"", headers)
    if still != "running":
        raise BenchError(f"the job ended ({still}) before the measurement did")
    ratio = busy["p99_ms"] / idle["p99_ms"]
    return {
        "idle": idle,
        "training": busy,
        "p50_ratio": round(busy["p50_ms"] / idle["p50_ms"], 3),
        "p99_ratio": round(ratio, 3),
        "goal_p99_ratio": GOAL_P99_RATIO,
        "met": ratio <= GOAL_P99_RATIO,
        "cores": os.cpu_count(),
    }


def run() -> dict[str, Any]:
    from core.auth import mint_token
    from core.training.run import train

    with tempfile.TemporaryDirectory() as tmp:
        config = scratch_project(Path(tmp), "iris")
        env = {**os.environ, "MLFN_TRACKING": "off", "MLFN_JWT_SECRET": SECRET}
        os.environ["MLFN_TRACKING"] = "off"
        from core.config import load_settings
        from core.storage import open_store

        settings = load_settings(config, env="dev")
        train(settings, open_store(settings.store_uri), model_types=["logistic_regression"])
        port = emulators.free_port()
        argv = [sys.executable, "-m", "core.cli", "serve", "--config", str(config)]
        served = Served("mlfn_serve", [*argv, "--port", str(port)], env, REPO, Path(tmp) / "log")
        token = mint_token(SECRET, ["predict", "train"], ttl=3600)
        base = f"http://127.0.0.1:{port}"
        health = Request(f"{base}/predict", json.dumps({"instances": [ROW]}).encode(),
                         {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                         lambda answer: "predictions" in answer)  # fmt: skip
        served.first_answer(health, served.start())
        try:
            return _measure(base, token)
        finally:
            served.stop()
