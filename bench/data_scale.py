"""Real-world scale: `mlfn train` on 200,000 x 20, 2,000 x 1,000 and a 5,000-value
categorical, each against a plain scikit-learn fit of the same candidates on the same rows.

Per case: the train time relative to the plain fit (goal <= 2x), the true peak memory of
the whole `mlfn train` process tree measured from outside (wait4's rusage; goal <= 4 GB)
next to the figure the summary reports, the exported model's size (<= 50 MB) and one-row
predict latency and peak memory in a fresh process (<= 20 ms, <= 1 GB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import REPO, scratch_project

CASES = {
    "rows_200k_x_20": (200_000, 20, 0),
    "rows_2k_x_1000": (2_000, 1_000, 0),
    "categories_5000": (20_000, 5, 5_000),
}
CANDIDATES = ["logistic_regression", "random_forest"]
LATENCY_CALLS = 200


def synthetic(path: Path, rows: int, features: int, categories: int) -> list[str]:
    import pandas as pd

    rng = np.random.default_rng(20261130)
    X = rng.normal(size=(rows, features))
    weights = rng.normal(size=(features, 3))
    frame = pd.DataFrame(X.round(5), columns=[f"f{i:04d}" for i in range(features)])
    logits = X @ weights + rng.normal(size=(rows, 3))
    if categories:
        codes = np.minimum(rng.zipf(1.2, rows), categories) - 1
        frame["shop"] = [f"shop-{c:05d}" for c in codes]
        logits[:, 0] += np.where(codes < 10, 2.0, 0.0)
    frame["label"] = np.array(["a", "b", "c"])[np.argmax(logits, 1)]
    frame.to_csv(path, index=False)
    return [c for c in frame.columns if c != "label"]


def _tree_high_water_mb(pid: int) -> float:
    """VmHWM (peak resident set since exec) of a process plus its children's, from /proc."""
    import psutil

    total = 0
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0.0
    for process in processes:
        try:
            with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
                total += next(int(x.split()[1]) for x in status if x.startswith("VmHWM:"))
        except (OSError, StopIteration):
            continue
    return total / 1024


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """stdout, wall seconds and the peak RSS (MB) of the child's process tree, read from
    outside every 20 ms (VmHWM only grows, so the last reading is the peak up to then).
    wait4's ru_maxrss would include the memory of this bench, which the child forked from."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    peak = [0.0]

    def watch() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_high_water_mb(process.pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, _ = process.communicate()
    watcher.join()
    if process.returncode:
        raise RuntimeError(f"{argv[2:4]} failed ({process.returncode})")
    return out.decode(), time.perf_counter() - started, peak[0]


def plain_fit_seconds(data: Path, names: list[str]) -> float:
    """A plain scikit-learn fit of the same candidates, same defaults, same rows."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from core.models import build_estimator

    frame = pd.read_csv(data)
    numeric = [n for n in names if n != "shop"]
    steps: list[Any] = [
        ("n", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)
    ]
    if "shop" in names:
        steps.append(("c", OneHotEncoder(handle_unknown="ignore"), ["shop"]))
    total = 0.0
    for model_type in CANDIDATES:
        pipe = make_pipeline(
            ColumnTransformer(steps), build_estimator(model_type, "classification", {}, 42)
        )
        rows = frame.sample(frac=0.8, random_state=42)
        started = time.perf_counter()
        pipe.fit(rows[names], rows["label"])
        total += time.perf_counter() - started
    return total


PREDICT_SCRIPT = """
import json, sys, time
from core.inference import Predictor
from core.storage import open_store
row = json.loads(sys.argv[3])
predictor = Predictor(open_store(sys.argv[1]), sys.argv[2])
predictor.predict([row])
times = []
for _ in range({calls}):
    started = time.perf_counter()
    predictor.predict([row])
    times.append(time.perf_counter() - started)
times.sort()
p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
print(json.dumps({{"p50_ms": p50 * 1000, "p99_ms": p99 * 1000}}))
"""


def one_case(tmp: Path, name: str, shape: tuple[int, int, int]) -> dict[str, Any]:
    data = tmp / f"{name}.csv"
    names = synthetic(data, *shape)
    config = scratch_project(
        tmp / name,
        "iris",
        model_name="scale",
        features=names,
        feature_types={},
        target="label",
        data_source=str(data),
        model_type=CANDIDATES,
        training_params={},
    )
    (tmp / name / "project_parser_config.json").write_text("{}")
    env = {**os.environ, "MLFN_TRACKING": "off"}
    cli = [sys.executable, "-m", "core.cli"]
    run_measured([*cli, "ingest", "--config", str(config)], env)
    out, wall, peak_mb = run_measured([*cli, "train", "--config", str(config), "--json"], env)
    summary = json.loads(out)
    store = summary["store"]
    model = Path(store.removeprefix("file://")) / "models/scale/versions/1/model.onnx"
    row = json.dumps({n: ("shop-00001" if n == "shop" else 0.1) for n in names})
    script = PREDICT_SCRIPT.format(calls=LATENCY_CALLS)
    latency, _, predict_mb = run_measured([sys.executable, "-c", script, store, "scale", row], env)
    plain = plain_fit_seconds(data, names)
    # The same fit as a user's plain script: a fresh process that imports, reads and fits.
    script = [sys.executable, "-m", "bench.data_scale", "--plain", str(data), json.dumps(names)]
    _, plain_wall, _ = run_measured(script, {**env, "PYTHONPATH": str(REPO)})
    forest = servability(cli, config, env, store, row)
    return {
        "rows": shape[0],
        "columns": shape[1] + (1 if shape[2] else 0),
        "train_seconds": summary["seconds"],
        "command_seconds": round(wall, 2),
        "plain_fit_seconds": round(plain, 2),
        "plain_script_seconds": round(plain_wall, 2),
        # `mlfn train` as a command against the plain script as a command: both start an
        # interpreter, import, read the data and fit the same candidates.
        "ratio_to_plain_fit": round(wall / plain_wall, 2),
        "ratio_train_seconds_to_fit_only": round(summary["seconds"] / plain, 2),
        "peak_rss_mb_outside": round(peak_mb, 1),
        "peak_rss_mb_summary": summary["system"]["peak_rss_mb"],
        "model_type": summary["model_type"],
        "model_mb": round(model.stat().st_size / 1e6, 2),
        "export_seconds": summary["export_seconds"],
        "predict_one_row": json.loads(latency),
        "predict_peak_rss_mb": round(predict_mb, 1),
        "metrics": summary["metrics"],
        "promoted": summary["promoted"],
        "graph_mb_per_candidate": {k: v.get("graph_mb") for k, v in summary["candidates"].items()},
        "random_forest_served": forest,
    }


def servability(cli: list[str], config: Path, env: dict[str, str], store: str, row: str) -> Any:
    """The forest (the largest candidate) registered on its own, then served: its size and
    one-row latency and memory, whatever the training size."""
    argv = [*cli, "train", "--config", str(config), "--json", "--force"]
    summary = json.loads(run_measured([*argv, "--model-type", "random_forest"], env)[0])
    version = summary["version"]
    model = Path(store.removeprefix("file://")) / f"models/scale/versions/{version}/model.onnx"
    script = PREDICT_SCRIPT.format(calls=LATENCY_CALLS)
    latency, _, peak = run_measured([sys.executable, "-c", script, store, "scale", row], env)
    return {
        "model_mb": round(model.stat().st_size / 1e6, 2),
        "metrics": summary["metrics"],
        "predict_one_row": json.loads(latency),
        "predict_peak_rss_mb": round(peak, 1),
    }


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in CASES.items():
            print(f"bench: data_scale {name} ...", flush=True)
            results[name] = one_case(Path(tmp), name, shape)
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plain"]:  # the plain script, timed from outside by one_case
        plain_fit_seconds(Path(sys.argv[2]), json.loads(sys.argv[3]))
    else:
        print(json.dumps(run(), indent=2))
