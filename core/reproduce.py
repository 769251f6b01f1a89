"""`mlfn reproduce VERSION`: retrain a version from its recorded dataset and config into a
scratch store and compare every candidate's metrics with the recorded ones.

The dataset is read from the version's store by its recorded key and its sha256 checked
again; the config is the one recorded (its hash checked); the model types, parameters and
seeds are the recorded ones. MLflow tracking is off for the scratch training. The code and
library versions of now and then are shown side by side: a difference there is the usual
reason a metric moves."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core import constants
from core.config import METRICS_BY_TASK, ParserConfig, ProjectConfig, Settings
from core.data.ingest import DatasetVersion, dataset_sha256
from core.errors import DataError, ValidationError
from core.lineage import code_version, config_record
from core.lineage_chain import trained_where
from core.registry import ModelRegistry
from core.storage import Store, open_store

DEFAULT_TOLERANCE = 1e-6


def recorded_lineage(metadata: dict[str, Any], version: int) -> dict[str, Any]:
    lineage = metadata.get("lineage")
    if not lineage:
        raise ValidationError(
            f"version {version} has no lineage record: it was trained before mlfn recorded "
            "one (or copied from such a version); retrain it to record its lineage"
        )
    config = ProjectConfig.model_validate(lineage["config"]["config"])
    parser = ParserConfig.model_validate(lineage["config"]["parser"])
    if config_record(config, parser)["sha256"] != lineage["config"]["sha256"]:
        raise ValidationError(f"version {version}'s recorded config does not match its hash")
    return lineage


def _dataset_bytes(store: Store, lineage: dict[str, Any]) -> tuple[bytes, DatasetVersion]:
    import pandas as pd

    recorded = lineage["dataset"]
    data = store.read_bytes(recorded["key"])
    frame = pd.read_parquet(io.BytesIO(data))
    if dataset_sha256(frame) != recorded["sha256"]:
        raise DataError(f"dataset {recorded['key']} in {store.uri} no longer has its sha256")
    columns = [str(c) for c in frame.columns]
    source = lineage["source"]["uri"]
    return data, DatasetVersion(
        recorded["sha256"], len(frame), columns, recorded["key"], source, True
    )


@contextlib.contextmanager
def _tracking_off() -> Iterator[None]:
    before = os.environ.get(constants.ENV_TRACKING)
    os.environ[constants.ENV_TRACKING] = "off"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(constants.ENV_TRACKING, None)
        else:
            os.environ[constants.ENV_TRACKING] = before


def compare_metrics(
    recorded: dict[str, Any], again: dict[str, Any], task: str, tolerance: float
) -> list[dict[str, Any]]:
    """Each candidate's metrics then and now, and whether they agree within `tolerance`."""
    rows = []
    for candidate, then in sorted(recorded.items()):
        now = again.get(candidate, {})
        for metric in METRICS_BY_TASK[task]:
            if then.get(metric) is None:
                continue
            value = now.get(metric)
            difference = None if value is None else value - then[metric]
            rows.append({
                "candidate": candidate, "metric": metric, "recorded": then[metric],
                "reproduced": value, "difference": difference,
                "within_tolerance": difference is not None and abs(difference) <= tolerance,
            })  # fmt: skip
    return rows


def _differences(then: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    return {k: {"recorded": then.get(k), "now": now.get(k)}
            for k in sorted(set(then) | set(now)) if then.get(k) != now.get(k)}  # fmt: skip


def reproduce(
    settings: Settings, version: int, scratch: Path | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, Any]:  # fmt: skip
    """Retrain `version` from its record into `scratch` (a new temporary folder by default)."""
    from core.training.run import library_versions, train

    metadata = ModelRegistry(open_store(settings.store_uri), settings.config.model_name).metadata(
        version
    )
    env, trained_in = trained_where(settings, version)
    store = open_store(trained_in)  # a copied version's dataset stayed where it was trained
    lineage = recorded_lineage(metadata, version)
    config = ProjectConfig.model_validate(lineage["config"]["config"])
    parser = ParserConfig.model_validate(lineage["config"]["parser"])
    data, dataset = _dataset_bytes(store, lineage)
    folder = scratch or Path(tempfile.mkdtemp(prefix="mlfn-reproduce-"))
    scratch_store = open_store(f"file://{folder.resolve()}")
    scratch_store.write_bytes(dataset.key, data)
    again_settings = Settings(config, parser, settings.config_path, env, scratch_store.uri)
    training = lineage["training"]
    with _tracking_off():
        summary = train(again_settings, scratch_store, model_types=training["model_types"],
                        params=training["params"], dataset=dataset, force=True)  # fmt: skip
    rows = compare_metrics(metadata["candidates"], summary["candidates"], config.resolved_task,
                           tolerance)  # fmt: skip
    return {
        "model_name": config.model_name, "version": version, "env": settings.env,
        "reproduced": bool(rows) and all(row["within_tolerance"] for row in rows),
        "tolerance": tolerance, "metrics": rows, "scratch_store": scratch_store.uri,
        "scratch_version": summary["version"], "dataset": dataset.sha256,
        "config_sha256": lineage["config"]["sha256"],
        "code": {"recorded": lineage["code"], "now": code_version()},
        "libraries_changed": _differences(metadata.get("libraries", {}), library_versions()),
    }  # fmt: skip
