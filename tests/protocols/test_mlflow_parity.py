"""The same /invocations requests against `mlflow models serve` (the model mlfn registered
in MLflow at training) and against `mlfn serve` (the champion from the store) give the same
predictions: every JSON shape of MLflow's scoring protocol, and CSV."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, project_settings
from tests.integration.emulators import free_port, unavailable
from tests.unit.test_api import SECRET, token
from tests.unit.test_oip import ROWS

BIN = Path(sys.executable).parent
NAMES = list(ROWS[0])
BODIES: dict[str, tuple[str, bytes]] = {
    "dataframe_split": ("application/json", json.dumps({"dataframe_split": {
        "columns": NAMES, "data": [[r[n] for n in NAMES] for r in ROWS]}}).encode()),
    "dataframe_records": ("application/json", json.dumps({"dataframe_records": ROWS}).encode()),
    "instances": ("application/json", json.dumps({"instances": ROWS}).encode()),
    "inputs": ("application/json", json.dumps({"inputs": {n: [r[n] for r in ROWS]
                                                          for n in NAMES}}).encode()),
    "csv": ("text/csv", (",".join(NAMES) + "\n" + "\n".join(
        ",".join(str(r[n]) for n in NAMES) for r in ROWS) + "\n").encode()),
}  # fmt: skip


def _post(port: int, content_type: str, body: bytes, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                     headers={"Content-Type": content_type, **headers})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def _wait(port: int, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            unavailable(f"the server on port {port} exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).close()
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    unavailable(f"the server on port {port} did not answer /ping in {seconds:.0f} s")


@pytest.fixture(scope="module")
def both_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    import mlflow

    from core.training.run import train

    root = tmp_path_factory.mktemp("parity")
    tracking = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFN_TRACKING", "on")
        patch.setenv("MLFLOW_TRACKING_URI", tracking)
        settings, store = project_settings(root)
        summary = train(settings, store, model_types=["logistic_regression"])
    version = summary["mlflow"]["model_version"]
    model_uri = mlflow.MlflowClient(tracking_uri=tracking).get_model_version_download_uri(
        "iris", version)  # fmt: skip
    env = {**os.environ, "MLFN_CONFIG": str(settings.config_path), "MLFN_JWT_SECRET": SECRET,
           "MLFN_TRACKING": "off", "MLFLOW_TRACKING_URI": tracking,
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    ports = free_port(), free_port()
    servers = [
        subprocess.Popen([str(BIN / "mlflow"), "models", "serve", "-m", model_uri,
                          "--env-manager", "local", "-h", "127.0.0.1", "-p", str(ports[0]),
                          "-w", "1"], env=env, cwd=root,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "core.cli", "serve", "--port", str(ports[1])],
                         env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]  # fmt: skip
    try:
        for port, server in zip(ports, servers, strict=True):
            _wait(port, server)
        yield ports
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)


@pytest.mark.e2e
@pytest.mark.parametrize("shape", list(BODIES))
def test_mlflow_models_serve_and_mlfn_serve_agree(
    both_servers: tuple[int, int], shape: str
) -> None:
    mlflow_port, mlfn_port = both_servers
    content_type, body = BODIES[shape]
    theirs = _rows(_post(mlflow_port, content_type, body, {})["predictions"])
    ours = _post(mlfn_port, content_type, body, token("predict"))
    assert [row["label"] for row in theirs] == ours["predictions"]
    native = _post_json(mlfn_port, "/predict", {"instances": ROWS})  # the probabilities
    for row, probabilities in zip(theirs, native["probabilities"], strict=True):
        mine = [row[f"probability_{k}"] for k in range(len(native["classes"]))]
        assert mine == pytest.approx(probabilities, rel=1e-6)


def _rows(predictions: Any) -> list[dict[str, Any]]:
    """MLflow answers a tensor-shaped request (instances, inputs) column-wise:
    {"label": [...], "probability_0": [...]}; a DataFrame-shaped one row-wise."""
    if isinstance(predictions, dict):
        names = list(predictions)
        return [dict(zip(names, values, strict=True))
                for values in zip(*(predictions[n] for n in names), strict=True)]  # fmt: skip
    return list(predictions)


def _post_json(port: int, path: str, body: Any) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **token("predict")})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)
