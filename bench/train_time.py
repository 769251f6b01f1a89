"""`mlfn train` wall time versus a plain scikit-learn fit of the same pipeline on the same data."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import scratch_project

ROWS, FEATURES = 100_000, 20


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


def run() -> dict[str, Any]:
    from sklearn.pipeline import Pipeline

    from core.config import load_settings
    from core.features import build_preprocessor
    from core.featurespec import ColumnSpec, FeatureSpec
    from core.models import build_estimator
    from core.storage import open_store
    from core.training.run import train

    results: dict[str, Any] = {"rows": ROWS, "features": FEATURES}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "synthetic.csv"
        names = synthetic_csv(data)
        for model_type, params in (
            ("logistic_regression", {}),
            ("random_forest", {"n_estimators": 100, "n_jobs": 2}),  # the example: 100 trees
        ):
            for tracking in ("off", "on"):
                os.environ["MLFN_TRACKING"] = tracking
                project = Path(tmp) / f"{model_type}-{tracking}"
                config = scratch_project(
                    project,
                    "iris",
                    model_name="synthetic",
                    features=names,
                    feature_types={},
                    target="label",
                    data_source=str(data),
                    model_type=[model_type],
                    training_params={model_type: params},
                )
                (project / "project_parser_config.json").write_text("{}")
                settings = load_settings(config, env="dev")
                started = time.perf_counter()
                store = open_store(settings.store_uri)
                summary = train(settings, store)
                wall = time.perf_counter() - started
                folder = f"models/synthetic/versions/{summary['version']}/"
                artifact_mb = (
                    sum(
                        len(store.read_bytes(key))
                        for key in store.list(folder)
                        if not key.endswith("metadata.json")
                    )
                    / 2**20
                )
                results[f"{model_type}_tracking_{tracking}"] = {
                    "mlfn_train_seconds": round(wall, 2),
                    "fit_seconds": summary["candidates"][model_type]["fit_seconds"],
                    "export_seconds": summary.get("export_seconds"),
                    "parity_seconds": summary.get("parity_seconds"),
                    "tracking_seconds": summary["tracking_seconds"],
                    "artifact_mb": round(artifact_mb, 2),
                    "parity": summary["parity"],
                }
            import pandas as pd

            frame = pd.read_csv(data)
            spec = FeatureSpec(tuple(ColumnSpec(n, n, "numeric") for n in names))
            pipeline = Pipeline(
                [
                    ("preprocess", build_preprocessor(spec, 500, model_type != "random_forest")),
                    ("model", build_estimator(model_type, "classification", params, 42)),
                ]
            )
            started = time.perf_counter()
            pipeline.fit(frame[names].iloc[: int(ROWS * 0.8)], frame["label"][: int(ROWS * 0.8)])
            plain = time.perf_counter() - started
            results[f"{model_type}_plain_sklearn_fit_seconds"] = round(plain, 2)
            off = results[f"{model_type}_tracking_off"]["mlfn_train_seconds"]
            results[f"{model_type}_ratio_mlfn_over_plain"] = round(off / plain, 2)
    os.environ["MLFN_TRACKING"] = "off"
    return results
