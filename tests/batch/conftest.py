"""A trained iris project and input files for the batch tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import project_settings

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def iris_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    from core.training.run import train

    os.environ["MLFN_TRACKING"] = "off"
    root = tmp_path_factory.mktemp("batch")
    settings, store = project_settings(root)
    train(settings, store)
    return settings, store, root


def feature_table(rows: int, seed: int = 0, first_id: int = 0) -> Any:
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns = {name: rng.uniform(0.1, 7.9, rows) for name in FEATURES}
    columns["customer"] = [f"c{first_id + i}" for i in range(rows)]
    columns["note"] = ["extra columns are carried along and ignored"] * rows
    return pa.table(columns)
