"""GIVEN a `train` caller asking for unbounded work WHEN it posts /train or /retrain THEN
parameters out of bounds, repeated model types and oversized record lists are 422, and a
job over the training timeout is killed and failed with `timeout`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient

from core.api import create_app
from tests.conftest import project_settings
from tests.jobs_helpers import SLOW
from tests.unit.test_api import ROW, SECRET, local_services, token

PROBES = [
    {"params": {"random_forest": {"n_estimators": 1e30}}},
    {"params": {"random_forest": {"n_estimators": "100"}}},
    {"params": {"random_forest": {"n_estimators": True}}},
    {"params": {"random_forest": {"n_estimators": 0}}},
    {"params": {"random_forest": {"n_estimators": 10.5}}},
    {"params": {"random_forest": {"n_jobs": 64}}},
    {"params": {"neural_network": {"epochs": 10**9}}},
    {"params": {"neural_network": {"hidden_size": 10**6}}},
    {"params": {"gradient_boosting": {"max_depth": 1000}}},
    {"params": {"logistic_regression": {"max_iter": 10**8}}},
    {"params": {"svm": {}}},
    {"model_type": ["random_forest", "random_forest"]},
    {"model_type": []},
    {"model_type": "clustering"},
    {"dataset": "x" * 5000},
]


@pytest.mark.parametrize("body", PROBES)
def test_unbounded_work_is_refused(api: Any, body: dict) -> None:
    client, services = api
    answer = client.post("/train", json=body, headers=token("train"))
    assert answer.status_code == 422, (body, answer.text)
    assert services.store.list("jobs/") == []


def test_too_many_records_are_refused(api: Any) -> None:
    client, _ = api
    records = [{**ROW, "species": "setosa"}] * 10_001
    answer = client.post("/retrain", json={"records": records}, headers=token("train"))
    assert answer.status_code == 422


def test_a_job_over_its_time_limit_is_killed(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path, training_timeout_seconds=2)
    services = local_services(settings, store, SECRET)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        started = time.monotonic()
        # about ten seconds of training, whatever the machine's speed: well over the limit
        job = client.post("/train", json=SLOW, headers=token("train")).json()
        services.dispatcher.wait()  # type: ignore[attr-defined]
        record = client.get(f"/jobs/{job['job_id']}", headers=token("train")).json()
    assert record["status"] == "failed" and record["error"]["code"] == "timeout", record
    assert time.monotonic() - started < 30
    leftovers = [  # this job's (its id is on its command line): not another test run's
        p
        for p in psutil.process_iter(["cmdline"])
        if "core.jobs" in (line := " ".join(p.info["cmdline"] or [])) and job["job_id"] in line
    ]
    assert leftovers == []
    assert services.registry.champion() is None  # nothing half-done was promoted
