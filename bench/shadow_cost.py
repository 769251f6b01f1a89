"""What a shadow challenger costs the caller of a warm /predict: the ASGI app called
in-process (as in telemetry_cost), telemetry and the prediction log on, the champion alone
against the champion with a shadow scoring a copy of every request (the same graph, so the
shadow costs what the champion does). The shadow runs after the answer is sent, so the
caller's clock (until the last body message) should barely move; the CPU clock (until the
app returns) shows what the instance pays, and what a Lambda caller waits for: there the
answer leaves only when the invocation returns. Rounds alternate so drift hits both alike."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.common import scratch_project
from bench.telemetry_cost import SECRET, _app, _caller

CALLS, ROUNDS = 2000, 5
GOAL_RATIO = 1.10  # the caller's p50 with a shadow, at most 10 % above without


def _stores(folder: Path) -> tuple[Any, Any, Any]:
    """The settings, a store whose champion serves alone, and a copy with a shadow."""
    from core.config import load_settings
    from core.registry import ModelRegistry
    from core.rollout.actions import set_challenger
    from core.storage import open_store
    from core.training.run import train

    settings = load_settings(scratch_project(folder / "project", "iris"), env="dev")
    alone = open_store(settings.store_uri)
    train(settings, alone, model_types=["logistic_regression"])
    registry = ModelRegistry(alone, "iris")
    meta = registry.metadata(1)
    files = {name: registry.read_file(1, name, meta) for name in meta["files"]}
    registry.create_version(files, {k: v for k, v in meta.items() if k != "files"})
    shutil.copytree(alone.uri.removeprefix("file://"), folder / "shadowed")
    shadowed = open_store(f"file://{folder / 'shadowed'}")
    set_challenger(ModelRegistry(shadowed, "iris"), 2, 100, "shadow", "bench")
    return settings, alone, shadowed


def run() -> dict[str, Any]:
    from core.auth import mint_token

    os.environ["MLFN_TRACKING"] = "off"
    os.environ["MLFN_PREDICTION_LOG"] = "on"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings, alone, shadowed = _stores(Path(tmp))
            token = mint_token(SECRET, ["predict"])
            callers = {
                "champion_alone": _caller(_app(settings, alone, "on"), token),
                "with_shadow": _caller(_app(settings, shadowed, "on"), token),
            }
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in callers}
            for call in callers.values():  # warm: both versions loaded
                for _ in range(200):
                    call()
            for _ in range(ROUNDS):
                for name, call in callers.items():
                    samples[name].extend(call() for _ in range(CALLS))
    finally:
        os.environ.pop("MLFN_PREDICTION_LOG", None)
    return _summary(samples)


def _summary(samples: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    result: dict[str, Any] = {"calls_each": len(samples["champion_alone"]), "goal": GOAL_RATIO}
    for name, pairs in samples.items():
        result[name] = {
            "p50_ms": round(statistics.median(pair[0] for pair in pairs), 4),
            "cpu_p50_ms": round(statistics.median(pair[1] for pair in pairs), 4),
        }
    for key in ("p50_ms", "cpu_p50_ms"):
        ratio = result["with_shadow"][key] / result["champion_alone"][key]
        result[f"ratio_{key}"] = round(ratio, 3)
    return result
