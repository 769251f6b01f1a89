"""Prediction logs and job records on every store, per the store layout."""

from __future__ import annotations

import json
import threading

import pytest

from core.errors import AlreadyExistsError, NotFoundError
from core.inference import Predictor
from core.jobs.record import JobStore
from core.logs import PredictionLog
from core.storage import Store, open_store
from core.storage.gcs import GCSStore
from core.training.run import train
from tests.conftest import project_settings

STORES = ["local_uri", "s3_uri", "gcs_uri", "azure_uri"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Store:
    return open_store(request.getfixturevalue(request.param))


def test_prediction_logs_are_new_jsonl_objects_in_batches(store: Store) -> None:
    log = PredictionLog(store, batch_size=100, max_age_seconds=3600)
    writers = [
        threading.Thread(
            target=lambda w=w: [
                log.record(f"req-{w}-{i}", [{"x": i}], {"predictions": [i]}, 1, 0.5)
                for i in range(50)
            ]
        )
        for w in range(5)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    log.flush()
    keys = store.list("logs/predictions/")
    assert len(keys) == 3  # 100 + 100 + the 50 flushed at the end
    assert all(k.endswith(".jsonl") and k.count("/") == 5 for k in keys)  # logs/predictions/y/m/d/
    lines = [json.loads(line) for key in keys for line in store.read_bytes(key).splitlines()]
    assert len(lines) == 250 and len({line["request_id"] for line in lines}) == 250
    assert set(lines[0]) == {
        "id",  # row i's prediction id is f"{id}-{i}"
        "request_id",
        "time",
        "model_version",
        "latency_ms",
        "inputs",
        "outputs",
    }
    assert log.flush() is None  # nothing buffered, nothing written


def test_job_records_and_logs(store: Store) -> None:
    jobs = JobStore(store)
    record = jobs.create("train", {"model_type": "random_forest"}, job_id="job-1")
    assert record["status"] == "queued" and store.exists("jobs/job-1.json")
    if not isinstance(store, GCSStore):  # the GCS emulator ignores preconditions (see the fake)
        with pytest.raises(AlreadyExistsError):
            jobs.create("train", {}, job_id="job-1")
    jobs.update("job-1", status="running")
    done = jobs.update("job-1", status="succeeded", result={"version": 3})
    assert jobs.get("job-1") == done and done["result"] == {"version": 3}
    assert jobs.write_log("job-1", "epoch 1\nepoch 2\n") == "logs/jobs/job-1.log"
    assert store.read_bytes("logs/jobs/job-1.log") == b"epoch 1\nepoch 2\n"
    with pytest.raises(NotFoundError, match="job 'nope' does not exist"):
        jobs.get("nope")


def test_predictor_logs_each_prediction(tmp_path, s3_uri: str) -> None:
    settings, _ = project_settings(tmp_path)
    store = open_store(s3_uri)
    train(settings, store)
    log = PredictionLog(store, batch_size=2)
    predictor = Predictor(store, "iris", log=log)
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    predictor.predict([row], request_id="r1")
    assert store.list("logs/predictions/") == []  # still buffered
    predictor.predict([row], request_id="r2")
    (key,) = store.list("logs/predictions/")
    first = json.loads(store.read_bytes(key).splitlines()[0])
    assert first["request_id"] == "r1" and first["model_version"] == 1
    assert first["inputs"] == [row] and first["outputs"]["predictions"] == ["setosa"]
