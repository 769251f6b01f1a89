"""Each handler's cold start with the model in its own cloud's store: a fresh interpreter to
the Google Cloud entry point's first /predict with the model on the GCS emulator, and to
the Azure function's with the model on Azurite (the AWS handler's, under the Lambda runtime
emulator with the model on the S3 emulator, is bench/serving.py's). Each emulator runs on
127.0.0.1 for the section only; the champion is trained into it first."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import scratch_project
from bench.doors import ROW, SECRET, first_answer_ms
from tests.integration import emulators

RUNS = 5
GOAL_MS = 500.0


def _gcs(folder: Path) -> tuple[emulators.Emulator, dict[str, str], Callable[[], None]]:
    server = emulators.gcs()
    env = {"STORAGE_EMULATOR_HOST": server.url}

    def make_bucket() -> None:
        from core.storage.gcs import default_client

        default_client().create_bucket("cold")

    return server, env, make_bucket


def _azurite(folder: Path) -> tuple[emulators.Emulator, dict[str, str], Callable[[], None]]:
    server = emulators.azurite(folder)
    env = {"AZURE_STORAGE_CONNECTION_STRING": emulators.azurite_connection_string(server.port)}

    def make_container() -> None:
        from core.storage.azure import default_service

        default_service().create_container("cold")

    return server, env, make_container


CLOUDS = {"gcp": ("gs://cold", _gcs), "azure": ("az://cold", _azurite)}


def _first_answers(door: str, env: dict[str, str], body: bytes, token: str) -> list[float]:
    return [first_answer_ms(door, env, "-", body, token) for _ in range(RUNS)]


def _one_cloud(door: str, folder: Path) -> dict[str, Any]:
    from core.auth import mint_token
    from core.config import load_settings
    from core.storage import open_store
    from core.training.run import train

    store_uri, make = CLOUDS[door]
    server, cloud_env, make_store = make(folder)
    saved = dict(os.environ)
    server.start()
    try:
        os.environ.update(cloud_env)
        make_store()
        config = scratch_project(folder / "project", "iris")
        env = {**os.environ, "MLFN_TRACKING": "off", "MLFN_CONFIG": str(config),
               "MLFN_JWT_SECRET": SECRET, "MLFN_STORE": store_uri}  # fmt: skip
        os.environ.update(env)
        settings = load_settings(config, env="dev")
        train(settings, open_store(settings.store_uri), model_types=["logistic_regression"])
        body = json.dumps({"instances": [ROW]}).encode()
        samples = _first_answers(door, env, body, mint_token(SECRET, ["predict"]))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()
    return {"store": store_uri, "samples_ms": samples, "median_ms": statistics.median(samples)}


def run() -> dict[str, Any]:
    results: dict[str, Any] = {"runs": RUNS, "goal_ms": GOAL_MS}
    for door in CLOUDS:
        with tempfile.TemporaryDirectory() as tmp:
            results[door] = _one_cloud(door, Path(tmp))
    return results
