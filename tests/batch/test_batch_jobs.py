"""Batches as jobs: POST /batch (scope predict) queues one; locally it is scored in the job,
in the cloud each chunk is a queue message that any worker scores, in any order, as many
times as the queue delivers it — and the manifest is written once, by the last."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from core.api.app import create_app
from core.batch.jobs import run_batch_job
from core.batch.status import batch_status
from core.jobs import queues
from core.jobs.worker import handle_message
from tests.batch.conftest import feature_table
from tests.unit.test_api import local_services, token


class CapturingQueue:
    """The cloud queue, as the batch job sees it: messages kept for the test to deliver."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def submit(self, job_id: str) -> None:
        self.send({"job_id": job_id})


def test_chunks_fan_out_as_queue_messages_and_the_last_writes_the_manifest(
    iris_project: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store, root = iris_project
    monkeypatch.setenv("MLFN_CONFIG", str(root / "config.json"))
    monkeypatch.setenv("MLFN_ENV", "dev")
    pq.write_table(feature_table(5_000), tmp_path / "in.parquet")
    queue = CapturingQueue()
    monkeypatch.setattr(queues, "dispatcher_from_env", lambda *_: queue)
    request = {"input": str(tmp_path / "in.parquet"), "output": str(tmp_path / "out"),
               "chunk_rows": 1_000}  # fmt: skip
    result = run_batch_job(settings, store, request)
    assert result["state"] == "dispatched" and result["queued"] == 5
    assert [m["chunk"] for m in queue.sent] == [0, 1, 2, 3, 4]
    deliveries = queue.sent + queue.sent[:2]  # the queue delivers two of them twice
    random.Random(7).shuffle(deliveries)
    finished = [handle_message(json.dumps(message))["finished"] for message in deliveries]
    seen_all = [len({m["chunk"] for m in deliveries[: i + 1]}) == 5 for i in range(7)]
    assert finished == seen_all  # finished once every chunk was in, not before
    status = batch_status(store, result["batch_id"])
    assert status["state"] == "succeeded" and status["manifest"]["rows_out"] == 5_000
    rows = pq.read_table(tmp_path / "out").column("row").to_pylist()
    assert sorted(rows) == list(range(5_000))  # nothing twice
    again = run_batch_job(settings, store, request)  # the job redelivered: nothing to queue
    assert again["queued"] == 0 and len(queue.sent) == 5


@pytest.mark.parametrize(
    "message",
    [{"action": "batch_chunk"}, {"action": "batch_chunk", "batch_id": "../x", "chunk": 0},
     {"action": "batch_chunk", "batch_id": "b" + "0" * 20, "chunk": True}],
)  # fmt: skip
def test_a_malformed_chunk_message_is_refused(message: dict[str, Any]) -> None:
    from core.errors import ValidationError

    with pytest.raises(ValidationError, match="batch"):
        handle_message(json.dumps(message))


@pytest.fixture
def api(iris_project: Any) -> Any:
    settings, store, _ = iris_project
    services = local_services(settings, store)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client, services, store


def test_post_batch_scores_a_dataset_from_the_store(api: Any) -> None:
    client, services, store = api
    key = "data/raw/batch/in.parquet"
    import io

    buffer = io.BytesIO()
    pq.write_table(feature_table(3_000), buffer)
    store.write_bytes(key, buffer.getvalue())
    body = {"input": key, "chunk_rows": 1_000, "id_column": "customer"}
    answer = client.post("/batch", json=body, headers=token("predict"))
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]
    services.dispatcher.wait()
    found = client.get(f"/batch/{job_id}", headers=token("predict")).json()
    assert found["status"] == "succeeded", found
    batch = found["batch"]
    assert batch["state"] == "succeeded" and batch["chunks_done"] == batch["chunks"] == 3
    manifest = batch["manifest"]
    assert manifest["rows_in"] == manifest["rows_out"] == 3_000
    assert manifest["output"].endswith(f"batches/{batch['batch_id']}/output")
    part = store.read_bytes(f"batches/{batch['batch_id']}/output/part-00000.parquet")
    assert pq.read_table(io.BytesIO(part)).column("customer").to_pylist()[0] == "c0"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"input": "/etc/passwd"}, 422, "is not allowed"),
        ({"input": "s3://someone-else/data.parquet"}, 422, "not allowed"),
        ({"input": "data/raw/x.parquet", "output": "kafka://10.0.0.1:9092/t"}, 422,
         "MLFN_BATCH_KAFKA_OUTPUTS"),
        ({"input": "data/raw/x.parquet", "format": "xml"}, 422, "format"),
        ({"input": "data/raw/x.parquet", "model": "../etc"}, 422, "model"),
        ({"input": "data/raw/x.parquet", "chunk_rows": 5}, 422, "chunk_rows"),
    ],
)  # fmt: skip
def test_post_batch_refuses_what_a_caller_may_not_name(
    api: Any, body: dict[str, Any], status: int, words: str
) -> None:
    client, _, _ = api
    answer = client.post("/batch", json=body, headers=token("predict"))
    assert answer.status_code == status, answer.text
    assert words in answer.text


def test_batch_routes_need_the_predict_scope(api: Any) -> None:
    client, _, _ = api
    body = {"input": "data/raw/x.parquet"}
    assert client.post("/batch", json=body).status_code == 401
    assert client.post("/batch", json=body, headers=token("train")).status_code == 403
    assert client.get("/batch/20260101T000000000000-0123456789ab",
                      headers=token("predict")).status_code == 404  # fmt: skip
