"""Loading the champion from each store: first load (pointer, metadata, model, session) and
cached predictions, against the same emulators the tests use."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import scratch_project, timed_calls
from tests.integration import emulators

ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}
FIRST_LOADS = 7


@contextmanager
def running(server: emulators.Emulator, env: dict[str, str]) -> Iterator[None]:
    server.start()
    old = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()


def measure(uri: str, tmp: Path) -> dict[str, Any]:
    from core.config import load_settings
    from core.inference import Predictor, clear_cache
    from core.storage import open_store
    from core.training.run import train

    settings = load_settings(scratch_project(tmp, "iris"), env="dev")
    store = open_store(uri)
    train(settings, store, model_types=["random_forest"])
    firsts = []
    for _ in range(FIRST_LOADS):
        clear_cache()
        started = time.perf_counter()
        Predictor(open_store(uri), "iris").predict([ROW])
        firsts.append((time.perf_counter() - started) * 1000)
    cached = Predictor(store, "iris")
    pointer_each_time = Predictor(store, "iris", champion_ttl=0)
    return {
        "first_load_ms_median": round(statistics.median(firsts), 2),
        "cached_predict": timed_calls(lambda: cached.predict([ROW]), 500),
        "pointer_recheck_every_request": timed_calls(lambda: pointer_each_time.predict([ROW]), 200),
    }


def run() -> dict[str, Any]:
    from tests.emulator_fixtures import (
        AWS_ENV,
        make_azure_container,
        make_gcs_bucket,
        make_s3_bucket,
    )

    os.environ["MLFN_TRACKING"] = "off"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results["local"] = measure(f"file://{root / 'local'}", root / "p-local")
        s3 = emulators.moto()
        with running(s3, {**AWS_ENV, "AWS_ENDPOINT_URL_S3": s3.url}):
            results["s3_moto"] = measure(f"s3://{make_s3_bucket()}/bench", root / "p-s3")
        gcs = emulators.gcs()
        with running(gcs, {"STORAGE_EMULATOR_HOST": gcs.url}):
            results["gcs_emulator"] = measure(f"gs://{make_gcs_bucket()}/bench", root / "p-gs")
        azure = emulators.azurite(root / "azurite")
        connection = emulators.azurite_connection_string(azure.port)
        with running(azure, {"AZURE_STORAGE_CONNECTION_STRING": connection}):
            uri = f"az://{make_azure_container()}/bench"
            results["azure_azurite"] = measure(uri, root / "p-az")
    return results
