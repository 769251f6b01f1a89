"""`mlfn train` wall time versus a plain scikit-learn fit of the same pipeline on the same data.

Both run warm in this process (an untimed training on the iris example first: imports are a
one-time cost either way), alternated run by run (5 runs each for logistic regression, whose
0.3 s fit makes single runs noisy; 2 for the random forest), the better time of each kept.
The reference is what a plain script must do to train from the same file: read the CSV with
pandas, then fit. The fit alone is reported too."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import scratch_project

ROWS, FEATURES = 100_000, 20
RUNS = {"logistic_regression": 5, "random_forest": 2}  # runs of each, alternated
GOALS = {"logistic_regression": 1.5, "random_forest": 1.3}
CANDIDATES = {
    "logistic_regression": {},
    "random_forest": {"n_estimators": 100, "n_jobs": 2},  # the example: 100 trees
}


def synthetic_csv(path: Path) -> list[str]:
    """A deterministic classification set: 20 numeric features, 3 classes."""
    import pandas as pd

    rng = np.random.default_rng(20261123)
    X = rng.normal(size=(ROWS, FEATURES))
    weights = rng.normal(size=(FEATURES, 3))
    labels = np.array(["a", "b", "c"])[np.argmax(X @ weights + rng.normal(size=(ROWS, 3)), 1)]
    names = [f"f{i:02d}" for i in range(FEATURES)]
    frame = pd.DataFrame(X, columns=names)
    frame["label"] = labels
    frame.to_csv(path, index=False)
    return names


def _warm_up(tmp: Path) -> None:
    from core.config import load_settings
    from core.storage import open_store
    from core.training.run import train

    os.environ["MLFN_TRACKING"] = "off"
    settings = load_settings(scratch_project(tmp / "warm-up", "iris"), env="dev")
    train(settings, open_store(settings.store_uri), model_types=["logistic_regression"])


def _mlfn_train(tmp: Path, data: Path, names: list[str], model_type: str, run: str) -> Any:
    """One `mlfn train` into a fresh store: (seconds, summary, store)."""
    from core.config import load_settings
    from core.storage import open_store
    from core.training.run import train

    project = tmp / f"{model_type}-{run}"
    config = scratch_project(project, "iris", model_name="synthetic", features=names,
                             feature_types={}, target="label", data_source=str(data),
                             model_type=[model_type],
                             training_params={model_type: CANDIDATES[model_type]})  # fmt: skip
    (project / "project_parser_config.json").write_text("{}")
    settings = load_settings(config, env="dev")
    started = time.perf_counter()
    store = open_store(settings.store_uri)
    summary = train(settings, store)
    return time.perf_counter() - started, summary, store


def _row(wall: float, summary: dict[str, Any], store: Any, model_type: str) -> dict[str, Any]:
    folder = f"models/synthetic/versions/{summary['version']}/"
    keys = [key for key in store.list(folder) if not key.endswith("metadata.json")]
    return {
        "mlfn_train_seconds": round(wall, 2),
        "fit_seconds": summary["candidates"][model_type]["fit_seconds"],
        "export_seconds": summary.get("export_seconds"),
        "parity_seconds": summary.get("parity_seconds"),
        "tracking_seconds": summary["tracking_seconds"],
        "artifact_mb": round(sum(len(store.read_bytes(key)) for key in keys) / 2**20, 2),
        "graph_mb": summary["candidates"][model_type].get("graph_mb"),
        "parity": summary["parity"],
    }


def _plain(data: Path, names: list[str], model_type: str) -> tuple[float, float]:
    """(read the CSV + fit, fit alone) of the same pipeline on the same 80 % of rows."""
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from core.features import build_preprocessor
    from core.featurespec import ColumnSpec, FeatureSpec
    from core.models import build_estimator

    started = time.perf_counter()
    frame = pd.read_csv(data)
    read = time.perf_counter() - started
    spec = FeatureSpec(tuple(ColumnSpec(n, n, "numeric") for n in names))
    pipeline = Pipeline([
        ("preprocess", build_preprocessor(spec, 500, model_type != "random_forest")),
        ("model", build_estimator(model_type, "classification", CANDIDATES[model_type], 42)),
    ])  # fmt: skip
    train_rows = int(ROWS * 0.8)
    started = time.perf_counter()
    pipeline.fit(frame[names].iloc[:train_rows], frame["label"][:train_rows])
    fit = time.perf_counter() - started
    return read + fit, fit


def _model_results(tmp: Path, data: Path, names: list[str], model_type: str) -> dict[str, Any]:
    """Tracking off and the plain fit alternated run by run (a slow spell of the machine
    hits both), the best of each kept; then one run with tracking on."""
    results: dict[str, Any] = {}
    os.environ["MLFN_TRACKING"] = "off"
    timed, plains = [], []
    for run in range(RUNS[model_type]):
        timed.append(_mlfn_train(tmp, data, names, model_type, f"off{run}"))
        plains.append(_plain(data, names, model_type))
    results[f"{model_type}_tracking_off"] = _row(*min(timed, key=lambda t: t[0]), model_type)
    os.environ["MLFN_TRACKING"] = "on"
    results[f"{model_type}_tracking_on"] = _row(*_mlfn_train(tmp, data, names, model_type, "on"),
                                                model_type)  # fmt: skip
    plain = min(plains)
    off = results[f"{model_type}_tracking_off"]["mlfn_train_seconds"]
    results[f"{model_type}_plain_read_and_fit_seconds"] = round(plain[0], 2)
    results[f"{model_type}_plain_sklearn_fit_seconds"] = round(plain[1], 2)
    results[f"{model_type}_ratio_mlfn_over_plain"] = round(off / plain[0], 2)
    results[f"{model_type}_ratio_mlfn_over_fit_alone"] = round(off / plain[1], 2)
    results[f"{model_type}_goal_ratio"] = GOALS[model_type]
    return results


def run() -> dict[str, Any]:
    results: dict[str, Any] = {"rows": ROWS, "features": FEATURES, "runs": RUNS}  # per model
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        data = tmp / "synthetic.csv"
        names = synthetic_csv(data)
        _warm_up(tmp)
        for model_type in CANDIDATES:
            results.update(_model_results(tmp, data, names, model_type))
    os.environ["MLFN_TRACKING"] = "off"
    return results
