"""The monitoring run (`mlfn drift run`, and the `monitor` schedule on every cloud): the
champion's reference against a window of the prediction log, live metrics from feedback,
the config's policy, a report in the store, and — when the policy says `retrain` and the
cooldown allows — a training job on the configured data source.

Reports: reports/drift/<model>/<yyyymmddThhmmssZ>/report.json and report.html, and
reports/drift/<model>/latest.json. A triggered retraining claims
reports/drift/<model>/retrain/<slot>.json create-only, so concurrent runs queue one job."""

from __future__ import annotations

import io
import json
import threading
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from core.config import MonitoringConfig, Settings
from core.cron import parse_duration
from core.drift.compare import drift_of
from core.drift.feedback import labelled, live_metrics, read_feedback
from core.drift.profile import PROFILE_FILE, SAMPLE_FILE
from core.drift.records import reports_prefix
from core.drift.window import VERSION, Window, log_schema, read_window
from core.errors import AlreadyExistsError, ConfigError, NotFoundError, ValidationError
from core.registry import ModelRegistry
from core.storage import Store, join_key
from core.training.metrics import is_better


def policy_of(settings: Settings) -> MonitoringConfig:
    if settings.config.monitoring is None:
        raise ConfigError(
            f'{settings.config_path}: no "monitoring" section: add e.g. {{"monitoring": '
            '{"window": "24h", "action": "alert"}} to check drift (docs/drift.md)'
        )
    return settings.config.monitoring


def window_of(policy: MonitoringConfig, now: datetime) -> Window:
    if isinstance(policy.window, int):
        return Window(rows=policy.window, end=now)
    return Window(span=parse_duration(policy.window), end=now)


def load_reference(registry: ModelRegistry, version: int) -> tuple[dict[str, Any], pd.DataFrame]:
    metadata = registry.metadata(version)
    if PROFILE_FILE not in metadata["files"]:
        raise NotFoundError(
            f"version {version} has no drift reference (trained before mlfn kept one): "
            "retrain it (mlfn train) to check its drift"
        )
    profile = json.loads(registry.read_file(version, PROFILE_FILE, metadata))
    sample = pd.read_parquet(io.BytesIO(registry.read_file(version, SAMPLE_FILE, metadata)))
    return profile, sample


def metric_decline(
    metadata: dict[str, Any], live: dict[str, Any] | None, policy: MonitoringConfig
) -> dict[str, Any] | None:
    """The primary metric on labelled live rows against its value at training, when it
    fell by more than `metric_drop` (absolute for scores, relative for errors)."""
    metric = metadata["primary_metric"]
    if not live or live.get("metrics") is None or metric not in live["metrics"]:
        return None
    trained, now = metadata["metrics"][metric], live["metrics"][metric]
    lower_better = not is_better(metric, 1.0, 0.0)
    drop = (now - trained) / max(abs(trained), 1e-12) if lower_better else trained - now
    return {
        "metric": metric,
        "at_training": trained,
        "live": now,
        "drop": drop,
        "threshold": policy.metric_drop,
        "declined": drop > policy.metric_drop,
    }


def _reasons(drift: dict[str, Any], decline: dict[str, Any] | None) -> list[str]:
    reasons = []
    if drift.get("dataset_drift"):
        reasons.append(
            f"dataset drift: {len(drift['drifted_features'])} of "
            f"{drift['tested_features']} features drifted "
            f"(share {drift['drift_share']:.2f} ≥ {drift['drift_share_threshold']})"
        )
    if decline and decline["declined"]:
        reasons.append(
            f"{decline['metric']} fell from {decline['at_training']:.4f} to "
            f"{decline['live']:.4f} on labelled live rows"
        )
    return reasons


def _last_retrain(store: Store, prefix: str) -> dict[str, Any] | None:
    keys = [k for k in store.list(prefix) if k.endswith(".json")]
    if not keys:
        return None
    newest = max(keys, key=lambda k: int(k.rsplit("/", 1)[-1].split(".")[0]))
    return dict(store.read_json(newest))


def claim_retrain(
    store: Store, model_name: str, cooldown: timedelta, now: datetime, reasons: list[str]
) -> dict[str, Any] | None:
    """The claim of this cooldown's one triggered retraining, or None when one ran within
    the cooldown (or a concurrent run claimed it first)."""
    prefix = join_key(reports_prefix(model_name), "retrain") + "/"
    last = _last_retrain(store, prefix)
    if last and now - datetime.fromisoformat(last["at"]) < cooldown:
        return None
    slot = int(now.timestamp() // cooldown.total_seconds())
    claim = {"at": now.isoformat(timespec="seconds"), "reasons": reasons}
    try:
        store.write_new(f"{prefix}{slot}.json", json.dumps(claim).encode())
    except AlreadyExistsError:
        return None
    return claim


def champion_of(registry: ModelRegistry) -> int:
    pointer = registry.champion()
    if pointer is None:
        raise ValidationError(f"model '{registry.name}' has no champion to monitor (mlfn train)")
    return pointer.version


def _import_the_tests() -> None:
    import scipy.spatial.distance
    import scipy.stats  # noqa: F401  (≈ 1.4 s: done while the window is read)


def assess(settings: Settings, store: Store, now: datetime) -> dict[str, Any]:
    """The report of one monitoring run, without acting on it."""
    threading.Thread(target=_import_the_tests, name="mlfn-drift-imports", daemon=True).start()
    policy, name = policy_of(settings), settings.config.model_name
    registry = ModelRegistry(store, name)
    version = champion_of(registry)
    metadata = registry.metadata(version)
    profile, sample = load_reference(registry, version)
    window = window_of(policy, now)
    feedback = read_feedback(store, window if window.span else Window(end=now))
    kinds = {name: spec["kind"] for name, spec in profile["features"].items()}
    rows = read_window(store, window, schema=log_schema(kinds, metadata["task"]),
                       with_ids=not feedback.empty)  # fmt: skip
    drift = drift_of(
        sample,
        rows,
        profile,
        policy.drift_share,
        policy.min_rows,
        served=rows[rows[VERSION] == version],
    )
    live = (live_metrics(labelled(rows, feedback), metadata["task"], policy.min_labels)
            if not feedback.empty else {})  # fmt: skip
    decline = metric_decline(metadata, live.get(str(version)), policy)
    start, end = window.bounds()
    return {
        "model_name": name,
        "champion": version,
        "env": settings.env,
        "time": now.isoformat(timespec="seconds"),
        "window": {
            "setting": policy.window,
            "start": start.isoformat(timespec="seconds"),
            "end": end.isoformat(timespec="seconds"),
        },
        "drift": drift,
        "live": live,
        "metric_decline": decline,
        "reasons": _reasons(drift, decline),
        "action": policy.action,
    }
