"""Single-row predict latency: the ONNX Predictor versus the native scikit-learn pipeline."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench.common import scratch_project, timed_calls

ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}
CALLS = 2000


def run() -> dict[str, Any]:
    import pandas as pd

    from core.config import load_settings
    from core.data.ingest import ingest, load_dataset
    from core.features import prepare_frame
    from core.inference import Predictor, clear_cache
    from core.storage import open_store
    from core.training.candidates import fit_candidate
    from core.training.run import prepare_training, train

    os.environ["MLFN_TRACKING"] = "off"
    results: dict[str, Any] = {}
    for model_type in ("random_forest", "logistic_regression"):
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(scratch_project(Path(tmp), "iris"), env="dev")
            store = open_store(settings.store_uri)
            train(settings, store, model_types=[model_type])
            clear_cache()
            predictor = Predictor(store, "iris")
            onnx = timed_calls(lambda p=predictor: p.predict([ROW]), CALLS)

            frame = load_dataset(store, settings, ingest(settings, store).sha256)
            data = prepare_training(settings.config, frame)
            params = settings.config.training_params.get(model_type, {})
            pipeline = fit_candidate(
                model_type, data.spec, data.split, data.config, params
            ).pipeline

            def native(p: Any = pipeline, spec: Any = data.spec) -> object:
                one = prepare_frame(pd.DataFrame([ROW]), spec)
                return p.predict(one), p.predict_proba(one)

            sklearn = timed_calls(native, CALLS)
        results[model_type] = {
            "onnx_predictor": onnx,
            "sklearn_pipeline": sklearn,
            "speedup_p50": round(sklearn["p50_ms"] / onnx["p50_ms"], 1),
        }
    return results
