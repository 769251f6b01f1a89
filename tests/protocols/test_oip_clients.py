"""Triton's and KServe's own Python clients against `mlfn serve` over real HTTP: probes,
metadata, and inference by feature name and as one 2-D tensor, giving what /predict gives.
The clients run in .tools/oip (`make setup`), beside mlfn's own environment."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.conftest import REPO
from tests.unit.test_api import token
from tests.unit.test_mlflow_protocol import api as api  # the fixture
from tests.unit.test_mlflow_protocol import served_over_http as served_over_http  # the fixture
from tests.unit.test_oip import ROWS

CLIENTS = REPO / ".tools" / "oip" / "bin" / "python"


def run_clients(port: int, bearer: str | None = None) -> dict[str, Any]:
    """What tritonclient.http and the KServe SDK read from the OIP server on `port`."""
    if not CLIENTS.exists():
        message = "the OIP clients are not installed: run `make setup` (.tools/oip)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    bearer = bearer or token("predict")["Authorization"].removeprefix("Bearer ")
    done = subprocess.run(
        [str(CLIENTS), str(REPO / "tests" / "protocols" / "oip_clients.py"),
         f"127.0.0.1:{port}", bearer, json.dumps(ROWS)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_triton_and_kserve_clients_get_what_predict_gives(served_over_http: int, api: Any) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    ScoringServerClient("127.0.0.1", served_over_http).wait_server_ready(timeout=60)
    found = run_clients(served_over_http)
    client, _ = api
    expected = client.post("/predict", json={"instances": ROWS}, headers=token("predict")).json()
    triton, kserve = found["triton"], found["kserve"]
    for seen in (triton, kserve):
        assert seen["live"] and seen["ready"] and seen["model_ready"]
        assert seen["labels"] == expected["predictions"]
        flat = [v for row in seen["probabilities"] for v in row]
        assert flat == pytest.approx([v for row in expected["probabilities"] for v in row])
    assert triton["labels_from_matrix"] == expected["predictions"]
    assert (triton["id"], kserve["id"], triton["model_version"]) == ("t-1", "k-1", "1")
    names = [t["name"] for t in triton["metadata"]["inputs"]]
    assert names == list(ROWS[0]) and triton["metadata"]["platform"] == "onnx_onnxv1"
