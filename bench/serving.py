"""mlfn side by side with `mlflow models serve` on the same ONNX model, fetched from the S3
emulator: cold start, throughput, batch rows/s and peak memory.

Each model is trained once by `mlfn train` into its own bucket on moto, with MLflow tracking
(artifacts in the same bucket), so MLflow serves the very graph mlfn serves: its
`models:/` version's s3:// download URI. The contenders, each a fresh process:
- `lambda_rie`: the AWS handler under the real Lambda runtime interface emulator (awslambdaric),
- `mlfn_serve`: `mlfn serve` (uvicorn, one process),
- `mlflow_serve`: `mlflow models serve --env-manager local` (uvicorn, one worker).
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO, scratch_project
from bench.loadgen import load
from bench.processes import BenchError, Request, Served
from tests.integration import emulators

MODELS = ("random_forest", "logistic_regression")
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROW = [6.1, 2.8, 4.7, 1.2]
SECRET = "bench-secret-0123456789abcdefghijklmn"
COLD_RUNS = 5
CONCURRENCY, LOAD_SECONDS, ALTERNATIONS = 10, 20, 2
BATCH_SIZES = (1, 100, 10_000)
BATCH_MIN_SECONDS, BATCH_MIN_REQUESTS = 3.0, 5
RSS_REQUESTS = 1000
AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
       "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
BIN = Path(sys.executable).parent


def split_body(rows: int) -> bytes:
    """MLflow's `dataframe_split` body, which both servers accept."""
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW] * rows}}).encode()


@dataclass
class Trained:
    model_type: str
    directory: Path
    config: Path
    store_uri: str
    mlflow_model_uri: str
    label: str


def train_into_s3(model_type: str, directory: Path, endpoint: str) -> Trained:
    import boto3
    import mlflow

    from core.config import load_settings
    from core.inference import Predictor
    from core.storage import open_store
    from core.training.run import train

    bucket = "bench-" + model_type.replace("_", "-")
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    config = scratch_project(directory, "iris")
    tracking = f"sqlite:///{directory / 'mlflow.db'}"
    os.environ.update({"MLFN_TRACKING": "on", "MLFLOW_TRACKING_URI": tracking})
    try:
        settings = load_settings(config, env="dev", store=f"s3://{bucket}")
        store = open_store(settings.store_uri)
        summary = train(settings, store, model_types=[model_type])
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI")
        os.environ["MLFN_TRACKING"] = "off"
    logged = summary.get("mlflow") or {}
    if not logged.get("model_version"):
        raise BenchError(f"mlfn train did not log the model to MLflow: {logged or 'tracking off'}")
    client = mlflow.MlflowClient(tracking_uri=tracking)
    model_uri = client.get_model_version_download_uri("iris", logged["model_version"])
    if not model_uri.startswith("s3://"):
        raise BenchError(f"MLflow stored the model outside the S3 emulator: {model_uri}")
    label = Predictor(store, "iris").predict([dict(zip(FEATURES, ROW, strict=True))])
    return Trained(model_type, directory, config, store.uri, model_uri, label["predictions"][0])


class Contenders:
    """Builds the three server processes and the request each must answer."""

    def __init__(self, trained: Trained, endpoint: str) -> None:
        from core.auth import mint_token

        self.trained = trained
        self.base_env = {
            **os.environ,
            **AWS,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",  # mlflow runs `uvicorn`
            "AWS_ENDPOINT_URL_S3": endpoint,
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
            "MLFN_CONFIG": str(trained.config),
            "MLFN_STORE": trained.store_uri,
            "MLFN_TRACKING": "off",
            "MLFN_JWT_SECRET": SECRET,
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
        }
        self.token = mint_token(SECRET, ["predict"], ttl=3600 * 6)

    def _served(self, name: str, argv: list[str], port: int, **env: str) -> Served:
        log = self.trained.directory / f"{name}-{port}.log"
        return Served(name, argv, {**self.base_env, **env}, REPO, log)

    def mlfn_serve(self, rows: int = 1) -> tuple[Served, Request]:
        port = emulators.free_port()
        served = self._served("mlfn_serve", [str(BIN / "mlfn"), "serve", "--port", str(port)], port)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        request = Request(
            f"http://127.0.0.1:{port}/predict",
            split_body(rows),
            headers,
            lambda answer: answer["predictions"][0] == self.trained.label,
        )
        return served, request

    def mlflow_serve(self, rows: int = 1) -> tuple[Served, Request]:
        port = emulators.free_port()
        argv = [str(BIN / "mlflow"), "models", "serve", "-m", self.trained.mlflow_model_uri,
                "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
                "-w", "1"]  # fmt: skip
        request = Request(
            f"http://127.0.0.1:{port}/invocations",
            split_body(rows),
            {"Content-Type": "application/json"},
            lambda answer: answer["predictions"][0]["label"] == self.trained.label,
        )
        return self._served("mlflow_serve", argv, port), request

    def lambda_rie(self) -> tuple[Served, Request]:
        from tests.contract.lambda_runtime import runtime_emulator

        port = emulators.free_port()
        argv = [str(runtime_emulator()), "--runtime-interface-emulator-address",
                f"127.0.0.1:{port}", "--runtime-api-address", f"127.0.0.1:{emulators.free_port()}",
                sys.executable, "-m", "awslambdaric", "functions.aws.handler.handler"]  # fmt: skip
        event = json.loads((REPO / "tests" / "events" / "apigw_http_v2.json").read_text())
        event["headers"]["authorization"] = f"Bearer {self.token}"
        event.update(body=base64.b64encode(split_body(1)).decode(), isBase64Encoded=True)

        def correct(answer: Any) -> bool:
            body = answer.get("body") or ""
            decoded = base64.b64decode(body) if answer.get("isBase64Encoded") else body
            return bool(
                answer.get("statusCode") == 200
                and json.loads(decoded)["predictions"][0] == self.trained.label
            )

        served = self._served(
            "lambda_rie", argv, port, AWS_LAMBDA_FUNCTION_NAME="mlfn", AWS_REGION="us-east-1",
            PYTHONPATH=str(REPO),
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        return served, Request(url, json.dumps(event).encode(), {}, correct)


@contextmanager
def running(served: Served, request: Request) -> Iterator[float]:
    """A started server; yields the seconds it took to answer `request` correctly."""
    started = served.start()
    try:
        yield served.first_answer(request, started)
    finally:
        served.stop()


def cold_starts(contenders: Contenders) -> dict[str, Any]:
    """Median of COLD_RUNS fresh starts each, the three interleaved run by run."""
    samples: dict[str, list[float]] = {"lambda_rie": [], "mlfn_serve": [], "mlflow_serve": []}
    for _ in range(COLD_RUNS):
        for name, make in (("lambda_rie", contenders.lambda_rie),
                           ("mlfn_serve", contenders.mlfn_serve),
                           ("mlflow_serve", contenders.mlflow_serve)):  # fmt: skip
            with running(*make()) as seconds:
                samples[name].append(seconds)
    medians = {name: round(statistics.median(values), 3) for name, values in samples.items()}
    return {
        "runs": COLD_RUNS,
        "median_seconds": medians,
        "samples_seconds": {k: [round(v, 3) for v in vs] for k, vs in samples.items()},
        "ratio_lambda_rie_over_mlflow": round(medians["lambda_rie"] / medians["mlflow_serve"], 3),
        "ratio_mlfn_serve_over_mlflow": round(medians["mlfn_serve"] / medians["mlflow_serve"], 3),
    }


def _rows_per_second(request: Request, rows: int) -> dict[str, Any]:
    import httpx

    with httpx.Client(timeout=120) as client:
        client.post(request.url, content=request.body, headers=request.headers).raise_for_status()
        count, started = 0, time.perf_counter()
        while count < BATCH_MIN_REQUESTS or time.perf_counter() - started < BATCH_MIN_SECONDS:
            answer = client.post(request.url, content=request.body, headers=request.headers)
            answer.raise_for_status()
            count += 1
        elapsed = time.perf_counter() - started
    return {"requests": count, "rows_per_s": round(rows * count / elapsed, 1),
            "ms_per_request": round(elapsed / count * 1000, 3)}  # fmt: skip


def throughput_and_batches(contenders: Contenders) -> dict[str, Any]:
    """Both servers up; one-row load alternated (mlfn, mlflow, mlfn, mlflow), then batches."""
    runs: dict[str, list[dict[str, Any]]] = {"mlfn_serve": [], "mlflow_serve": []}
    batches: dict[str, dict[str, Any]] = {"mlfn_serve": {}, "mlflow_serve": {}}
    with ExitStack() as stack:
        servers = {"mlfn_serve": contenders.mlfn_serve(), "mlflow_serve": contenders.mlflow_serve()}
        for served, request in servers.values():
            stack.enter_context(running(served, request))
        for _ in range(ALTERNATIONS):
            for name, (_, request) in servers.items():
                runs[name].append(load(request, CONCURRENCY, LOAD_SECONDS))
        for rows in BATCH_SIZES:
            for name, (_, request) in servers.items():
                batch = Request(request.url, split_body(rows), request.headers, request.check)
                batches[name][str(rows)] = _rows_per_second(batch, rows)
    summary = {
        name: {
            "requests_per_s": round(statistics.fmean(r["requests_per_s"] for r in rs), 1),
            "p50_ms": round(statistics.fmean(r["p50_ms"] for r in rs), 3),
            "p99_ms": round(max(r["p99_ms"] for r in rs), 3),
            "errors": sum(r["errors"] for r in rs),
        }
        for name, rs in runs.items()
    }
    return {
        "concurrency": CONCURRENCY,
        "seconds_each": LOAD_SECONDS,
        "alternations": ALTERNATIONS,
        "tool": runs["mlfn_serve"][0]["tool"],
        "runs": runs,
        "summary": summary,
        "ratio_requests_per_s": round(
            summary["mlfn_serve"]["requests_per_s"] / summary["mlflow_serve"]["requests_per_s"], 2
        ),
        "batch_rows_per_s": batches,
    }


def memory_after_requests(contenders: Contenders) -> dict[str, Any]:
    """Peak RSS of each fresh server's processes after RSS_REQUESTS one-row requests."""
    import httpx

    results: dict[str, Any] = {}
    for name, make in (("lambda_rie", contenders.lambda_rie),
                       ("mlfn_serve", contenders.mlfn_serve),
                       ("mlflow_serve", contenders.mlflow_serve)):  # fmt: skip
        served, request = make()
        with running(served, request), httpx.Client(timeout=60) as client:
            for _ in range(RSS_REQUESTS):
                client.post(request.url, content=request.body, headers=request.headers)
            peaks = served.peak_rss_mb()
        results[name] = {
            "requests": RSS_REQUESTS,
            "processes_peak_rss_mb": peaks,
            "largest_process_mb": max(peaks.values()),
            "all_processes_mb": round(sum(peaks.values()), 1),
        }
    return results


def run() -> dict[str, Any]:
    server = emulators.Emulator("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", "0"], 0)
    server.port = emulators.free_port()
    server.command[-1] = str(server.port)
    saved = {k: os.environ.get(k) for k in (*AWS, "AWS_ENDPOINT_URL_S3")}
    os.environ.update({**AWS, "AWS_ENDPOINT_URL_S3": server.url})
    server.start()
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for model_type in MODELS:
                trained = train_into_s3(model_type, Path(tmp) / model_type, server.url)
                contenders = Contenders(trained, server.url)
                results[model_type] = {
                    "mlflow_model_uri": trained.mlflow_model_uri,
                    "cold_start": cold_starts(contenders),
                    "throughput": throughput_and_batches(contenders),
                    "memory": memory_after_requests(contenders),
                }
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return results
