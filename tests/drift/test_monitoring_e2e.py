"""The monitoring loop end to end, through the HTTP API: a model trained on one world,
shifted traffic through /predict, labels through /feedback, the scheduled job reporting
drift and queueing a retraining on the configured source, and the challenger promoted
because it wins on the reference rows and on the labelled live rows. Unshifted traffic is
not called drift; the schedule fires under `mlfn serve`'s clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.api import Services, create_app
from core.config import load_settings
from core.drift.compare import drift_of
from core.drift.job import load_reference
from core.jobs.scheduled import run_scheduled, start_local_schedules
from core.registry import ModelRegistry
from core.storage import open_store
from core.training.run import train
from tests.jobs_helpers import wait_until
from tests.unit.test_api import local_services, token

POLICY = {"schedule": "0 * * * *", "window": "1h", "min_rows": 100, "action": "retrain",
          "cooldown": "1h", "min_labels": 30}  # fmt: skip


def world(rows: int, low: float, high: float, seed: int, noise: int = 0) -> pd.DataFrame:
    """A checkerboard: more rows, and rows where the traffic now is, make a better model.
    `noise` more features that do not decide the label."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.uniform(low, high, rows), rng.uniform(0, 3, rows)
    label = np.where((np.floor(x1) + np.floor(x2)) % 2 == 0, "even", "odd")
    extra = {f"n{i}": rng.normal(0, 1, rows) for i in range(noise)}
    return pd.DataFrame({"x1": x1, "x2": x2, **extra, "label": label})


def project(folder: Path, monitoring: dict[str, Any] = POLICY, noise: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    world(150, 0, 3, 1, noise).to_csv(folder / "data.csv", index=False)
    config = {
        "model_name": "board", "task": "classification", "model_type": ["random_forest"],
        "features": ["x1", "x2", *(f"n{i}" for i in range(noise))], "target": "label",
        "train_split": 0.8,
        "data_source": "data.csv", "monitoring": monitoring,
        "promotion": {"dev": {"store": f"file://{folder / 'store'}"}},
    }  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return folder / "config.json"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Services, Path]]:
    config = project(tmp_path / "board")
    settings = load_settings(config, "dev")
    store = open_store(settings.store_uri)
    assert train(settings, store)["promoted"]
    services = local_services(settings, store)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client, services, config


def _predict(client: TestClient, rows: pd.DataFrame, answers: list[str] | None = None
             ) -> list[str]:  # fmt: skip
    ids: list[str] = []
    for start in range(0, len(rows), 25):
        part = rows.iloc[start : start + 25][["x1", "x2"]].to_dict(orient="records")
        answer = client.post("/predict", json={"instances": part}, headers=token("predict"))
        assert answer.status_code == 200, answer.text
        ids += answer.json()["prediction_ids"]
        if answers is not None:
            answers += answer.json()["predictions"]
    return ids


def test_shifted_traffic_is_drift_and_a_better_challenger_takes_over(served: Any) -> None:
    client, services, config = served
    live = world(300, 2, 5, 3)  # x1 has moved: the champion never saw x1 > 3
    ids = _predict(client, live)
    assert len(set(ids)) == 300
    labels = [{"prediction_id": i, "label": y} for i, y in zip(ids, live["label"], strict=True)]
    assert (
        client.post("/feedback", json={"feedback": labels}, headers=token("predict")).status_code
        == 403
    )  # the feedback scope, unless the config says predict
    sent = client.post("/feedback", json={"feedback": labels}, headers=token("feedback"))
    assert sent.status_code == 200 and sent.json() == {"accepted": 300}
    services.predictor.log.flush()  # type: ignore[union-attr]
    # the configured source has grown meanwhile: the old rows and many where traffic is now
    pd.concat([world(150, 0, 3, 1), world(3000, 0, 5, 2)]).to_csv(config.parent / "data.csv",
                                                                   index=False)  # fmt: skip

    firing = datetime.now(UTC)  # one firing, delivered twice below
    result = run_scheduled(services.settings, services.store, "monitor", services.dispatcher,
                           at=firing)  # fmt: skip
    services.dispatcher.wait()  # type: ignore[attr-defined]
    assert result["status"] == "ran" and result["outcome"]["status"] == "retrain queued"
    report = client.get("/monitoring/drift/latest", headers=token("predict")).json()
    drift = report["drift"]
    assert drift["status"] == "ok" and drift["dataset_drift"] is True
    assert "x1" in drift["drifted_features"] and "x2" not in drift["drifted_features"]
    assert report["live"]["1"]["labels"] == 300
    assert report["live"]["1"]["metrics"]["accuracy"] < 0.8  # the champion is failing live
    job = client.get(f"/jobs/{result['outcome']['job_id']}", headers=token("train", "admin")).json()
    assert job.get("status") == "succeeded", job
    registry = ModelRegistry(services.store, "board")
    assert registry.champion().version == 2  # type: ignore[union-attr]
    assert "labelled live rows" in job["result"]["reason"] and "beats" in job["result"]["reason"]
    html = client.get("/monitoring/drift/latest?format=html", headers=token("predict"))
    assert html.headers["content-type"].startswith("text/html") and "<svg" in html.text
    again = run_scheduled(services.settings, services.store, "monitor", services.dispatcher,
                          at=firing)  # fmt: skip
    assert again["status"] == "already run for this minute"  # a redelivered firing


def test_feedback_changes_the_live_metrics(served: Any) -> None:
    client, services, _ = served
    live = world(120, 0, 3, 7)  # the champion's own world
    predicted: list[str] = []
    ids = _predict(client, live, predicted)
    services.predictor.log.flush()  # type: ignore[union-attr]
    run_scheduled(services.settings, services.store, "monitor", services.dispatcher)
    assert client.get("/models/1/live", headers=token("predict")).status_code == 404
    labels = [{"prediction_id": i, "label": y} for i, y in zip(ids, live["label"], strict=True)]
    client.post("/feedback", json={"feedback": labels}, headers=token("feedback"))
    later = datetime.now(UTC) + timedelta(minutes=1)  # the next firing
    run_scheduled(services.settings, services.store, "monitor", services.dispatcher, at=later)
    answer = client.get("/models/1/live", headers=token("predict"))
    assert answer.status_code == 200 and answer.json()["labels"] == 120
    right = sum(p == y for p, y in zip(predicted, live["label"], strict=True))
    assert answer.json()["metrics"]["accuracy"] == pytest.approx(right / 120)
    metrics = client.get("/metrics").text
    assert 'mlfn_live_labels{model="board",version="1"} 120.0' in metrics


def test_unshifted_traffic_is_not_drift_in_19_of_20_windows(tmp_path: Path) -> None:
    """Four features: a dataset drifts when two of them do (drift_share 0.5)."""
    settings = load_settings(project(tmp_path / "board", noise=2), "dev")
    store = open_store(settings.store_uri)
    train(settings, store)
    profile, sample = load_reference(ModelRegistry(store, "board"), 1)
    verdicts = []
    for seed in range(100, 120):
        window = world(300, 0, 3, seed, noise=2)
        window["__prediction__"] = (
            sample["__prediction__"].sample(300, replace=True, random_state=seed).to_numpy()
        )
        verdicts.append(drift_of(sample, window, profile, 0.5, 100)["dataset_drift"])
    assert verdicts.count(False) >= 19, verdicts


def test_the_schedule_fires_under_mlfn_serves_clock(tmp_path: Path) -> None:
    """A fake clock one minute before the hour, then on it: the monitor runs once."""
    config = project(tmp_path / "board", {**POLICY, "action": "alert", "min_rows": 10})
    settings = load_settings(config, "dev")
    store = open_store(settings.store_uri)
    train(settings, store)
    moments = iter([datetime(2026, 12, 1, 3, 59, 30, tzinfo=UTC)]
                   + [datetime(2026, 12, 1, 4, 0, 5, tzinfo=UTC)] * 1000)  # fmt: skip
    stop = threading.Event()
    thread = start_local_schedules(settings, store, None, stop, clock=lambda: next(moments))
    assert thread is not None
    try:
        wait_until(
            lambda: (
                bool(store.list("reports/drift/board/2026"))
                or bool(store.list("schedules/board/monitor/"))
            ),
            seconds=30,
            what="the monitor firing",
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    assert [k.rsplit("/", 1)[-1] for k in store.list("schedules/board/monitor/")] == [
        "20261201T0400.json"
    ]


@pytest.mark.tracking
def test_the_report_is_logged_to_mlflow(tmp_path: Path) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    from core.drift.act import run_monitoring
    from core.tracking import tracking_uri

    config = project(tmp_path / "board", {**POLICY, "action": "alert"})
    settings = load_settings(config, "dev")
    store = open_store(settings.store_uri)
    train(settings, store)
    report = run_monitoring(settings, store)
    assert report["mlflow_run"] is not None
    mlflow.set_tracking_uri(tracking_uri(store))
    client = MlflowClient()
    run = client.get_run(report["mlflow_run"])
    assert run.data.tags["mlfn_kind"] == "drift" and run.data.tags["champion"] == "1"
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert logged == {"drift/report.json", "drift/report.html"}
