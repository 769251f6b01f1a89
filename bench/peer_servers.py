"""The servers of bench/peers.py: their environments, models, processes and requests.

MLServer and BentoML pin libraries that differ from mlfn's, so each lives in a venv of its
own under .tools/ (made on first use, scikit-learn pinned to the version that fitted the
model). The peers' model is a scikit-learn pipeline this bench fits and saves in its own
scratch folder — the same steps as mlfn's logistic regression candidate on the same CSV."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO, scratch_project
from bench.processes import BenchError, Request, Served
from tests.integration import emulators

BIN = Path(sys.executable).parent
TOOLS = REPO / ".tools"
ROW = [6.1, 2.8, 4.7, 1.2]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SECRET = "bench-secret-0123456789abcdefghijklmn"
PEER_PACKAGES = {
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1"],
    "bentoml": ["bentoml==1.4.40"],
}
BENTO_SERVICE = """
import os

import bentoml
import joblib
import numpy as np


@bentoml.service(workers=1)
class Iris:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["PEER_MODEL"])

    @bentoml.api
    def predict(self, data: list[list[float]]) -> list[str]:
        return self.model.predict(np.asarray(data)).tolist()
"""


@dataclass
class Peer:
    name: str
    make: Callable[[], Served]
    request: Request

    def served(self) -> Served:
        return self.make()


def peer_python(name: str) -> Path:
    """The venv of a peer, made when missing (scikit-learn as this environment's)."""
    import sklearn

    python = TOOLS / name / "bin" / "python"
    probe = [str(python), "-c", f"import {name.replace('-', '_')}, sklearn"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"bench: installing {name} into {TOOLS / name} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(TOOLS / name)], check=True)
    packages = [*PEER_PACKAGES[name], f"scikit-learn=={sklearn.__version__}"]
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
    return python


def fit_peer_model(directory: Path) -> tuple[Path, str]:
    """The peers' pipeline (median imputer, scaler, logistic regression) fitted on the iris
    CSV and saved with joblib in the scratch folder; its label for ROW."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    table = pd.read_csv(REPO / "examples" / "iris" / "iris.csv")
    features, target = table.iloc[:, :4].to_numpy(np.float64), table["species"].astype(str)
    pipeline = make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=1000)
    ).fit(features, target)
    path = directory / "model.joblib"
    joblib.dump(pipeline, path)
    return path, str(pipeline.predict(np.asarray([ROW]))[0])


def train_mlfn(directory: Path) -> Path:
    """`mlfn train` of the logistic regression candidate into a scratch local store."""
    config = scratch_project(directory, "iris")
    env = {"MLFN_CONFIG": str(config), "MLFN_TRACKING": "off", "PATH": str(BIN)}
    command = [str(BIN / "mlfn"), "train", "--model-type", "logistic_regression"]
    subprocess.run(command, env=env, cwd=directory, check=True, capture_output=True)
    return config


def split_body() -> bytes:
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": [ROW]}}).encode()


def _process(
    directory: Path, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None
) -> Served:
    """A server run in `cwd` (default `directory`), its log in `directory`."""
    import os

    return Served(name, argv, {**os.environ, **env}, cwd or directory, directory / f"{name}.log")


def _first_label(answer: Any) -> Any:
    return answer["predictions"][0]


def build(scratch: Path) -> dict[str, Peer]:
    """Every server of the comparison, ready to start."""
    config = train_mlfn(scratch / "mlfn")
    graph = scratch / "mlfn" / "store" / "models" / "iris" / "versions" / "1" / "model.onnx"
    model, label = fit_peer_model(scratch)
    return {
        "bare_limit": _bare(scratch, graph),
        "mlfn_serve": _mlfn(scratch, config),
        "mlfn_serve_telemetry_off": _mlfn(scratch, config, "mlfn_serve_telemetry_off", "off"),
        "mlserver": _mlserver(scratch, model, label),
        "bentoml": _bentoml(scratch, model, label),
        "mlflow_serve": _mlflow(scratch, model, label),
    }


def _bare(scratch: Path, graph: Path) -> Peer:
    port = emulators.free_port()
    argv = [sys.executable, "-m", "bench.bare_server", str(graph), str(port)]
    headers = {"Content-Type": "application/json"}
    request = Request(
        f"http://127.0.0.1:{port}/predict", split_body(), headers, lambda a: bool(_first_label(a))
    )
    return Peer("bare_limit", lambda: _process(scratch, "bare_limit", argv, {}, REPO), request)


def _mlfn(scratch: Path, config: Path, name: str = "mlfn_serve", telemetry: str = "on") -> Peer:
    """`mlfn serve`; with `telemetry="off"` (MLFN_TELEMETRY=off): no request ids, metrics or
    events, to show what they cost."""
    from core.auth import mint_token

    port = emulators.free_port()
    argv = [str(BIN / "mlfn"), "serve", "--port", str(port)]
    env = {"MLFN_CONFIG": str(config), "MLFN_TRACKING": "off", "MLFN_JWT_SECRET": SECRET,
           "MLFN_TELEMETRY": telemetry}  # fmt: skip
    token = mint_token(SECRET, ["predict"], ttl=3600 * 6)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = Request(f"http://127.0.0.1:{port}/predict", split_body(), headers,
                      lambda a: a["model"]["name"] == "iris")  # fmt: skip
    return Peer(name, lambda: _process(scratch / "mlfn", name, argv, env), request)


def _mlserver(scratch: Path, model: Path, label: str) -> Peer:
    python = peer_python("mlserver")
    folder = scratch / "mlserver"
    folder.mkdir()
    port = emulators.free_port()
    settings = {"http_port": port, "grpc_port": emulators.free_port(),
                "metrics_port": emulators.free_port(), "parallel_workers": 0,
                "host": "127.0.0.1"}  # fmt: skip
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {"name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
                      "parameters": {"uri": str(model)}}  # fmt: skip
    (folder / "model-settings.json").write_text(json.dumps(model_settings))
    argv = [str(python.parent / "mlserver"), "start", str(folder)]
    body = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROW}]}
    request = Request(f"http://127.0.0.1:{port}/v2/models/iris/infer", json.dumps(body).encode(),
                      {"Content-Type": "application/json"},
                      lambda a: a["outputs"][0]["data"][0] == label)  # fmt: skip
    return Peer("mlserver", lambda: _process(folder, "mlserver", argv, {}), request)


def _bentoml(scratch: Path, model: Path, label: str) -> Peer:
    python = peer_python("bentoml")
    folder = scratch / "bentoml"
    folder.mkdir()
    (folder / "service.py").write_text(BENTO_SERVICE)
    port = emulators.free_port()
    argv = [str(python.parent / "bentoml"), "serve", "service:Iris", "--host", "127.0.0.1",
            "--port", str(port)]  # fmt: skip
    env = {"PEER_MODEL": str(model), "BENTOML_DO_NOT_TRACK": "true",
           "BENTOML_HOME": str(folder / "home")}  # fmt: skip
    request = Request(f"http://127.0.0.1:{port}/predict", json.dumps({"data": [ROW]}).encode(),
                      {"Content-Type": "application/json"}, lambda a: a[0] == label)  # fmt: skip
    return Peer("bentoml", lambda: _process(folder, "bentoml", argv, env), request)


def _mlflow(scratch: Path, model: Path, label: str) -> Peer:
    import joblib
    import mlflow.sklearn

    folder = scratch / "mlflow-model"
    pipeline = joblib.load(model)  # the bench's own file, saved a moment ago
    mlflow.sklearn.save_model(pipeline, str(folder), skops_trusted_types=["numpy.dtype"])
    port = emulators.free_port()
    argv = [str(BIN / "mlflow"), "models", "serve", "-m", str(folder), "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
    env = {"PATH": f"{BIN}:/usr/bin:/bin"}
    request = Request(f"http://127.0.0.1:{port}/invocations", split_body(),
                      {"Content-Type": "application/json"},
                      lambda a: _first_label(a) == label)  # fmt: skip
    if not folder.exists():
        raise BenchError("MLflow did not save the peers' model")
    return Peer("mlflow_serve", lambda: _process(scratch, "mlflow_serve", argv, env), request)
