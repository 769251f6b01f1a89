"""The drift reference of a new version (core/drift/profile.py): its training rows
profiled, and a seeded sample of them with the model's own predictions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from core.drift.profile import build_reference, reference_sample
from core.export.onnx_export import graph_predictions, onnx_feeds, run_graph
from core.features import prepare_frame

if TYPE_CHECKING:
    import pandas as pd

    from core.training.run import TrainingData
    from core.training.select import Exported


def reference_files(frame: pd.DataFrame, data: TrainingData, best: Exported) -> dict[str, bytes]:
    """The drift reference of the new version: its training rows profiled, and a seeded
    sample of them with the model's own predictions."""
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
    return build_reference(frame, sample, kinds, labels, data.config.resolved_task)
