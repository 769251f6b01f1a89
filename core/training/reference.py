"""The drift reference of a new version (core/drift/profile.py): its training rows
profiled, and a seeded sample of them with the model's own predictions."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from core.drift.profile import build_reference, features_profile, reference_sample
from core.export.onnx_export import graph_predictions, onnx_feeds, run_graph
from core.features import prepare_frame

if TYPE_CHECKING:
    import pandas as pd

    from core.training.run import TrainingData
    from core.training.select import Exported


def profile_meanwhile(frame: pd.DataFrame, data: TrainingData) -> Future[dict[str, Any]]:
    """The training rows' feature profile, made on a thread of its own while the candidates
    fit (numpy leaves the GIL for both): it needs the rows and the specification only."""
    kinds = {column.name: column.kind for column in data.spec.columns}
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlfn-profile")
    try:
        return executor.submit(features_profile, frame, kinds)
    finally:
        executor.shutdown(wait=False)  # the thread ends with its one task


def reference_files(
    frame: pd.DataFrame,
    data: TrainingData,
    best: Exported,
    features: Future[dict[str, Any]] | None = None,
) -> dict[str, bytes]:
    """The drift reference of the new version: its training rows profiled, and a seeded
    sample of them with the model's own predictions. `features`: `profile_meanwhile`'s."""
    spec, classes = data.spec, data.classes
    sample = reference_sample(frame, data.config.random_seed)
    prepared = prepare_frame(sample, spec)
    if best.model_bytes:
        outputs = run_graph(best.model_bytes, onnx_feeds(prepared, spec))
        predicted = graph_predictions(outputs, len(classes or []))[0]
    else:
        predicted = np.asarray(best.candidate.pipeline.predict(prepared))
    labels = [classes[int(i)] for i in predicted] if classes else predicted.tolist()
    kinds = {column.name: column.kind for column in spec.columns}
    task = data.config.resolved_task
    profiled = features.result() if features is not None else None
    return build_reference(frame, sample, kinds, labels, task, profiled)
