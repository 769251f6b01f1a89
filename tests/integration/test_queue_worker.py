"""`mlfn jobs work`: a self-hosted worker taking job messages from an Azure Storage queue
(Azurite here), running them like the cloud workers, and moving a message that keeps
failing to `<queue>-poison`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ValidationError
from core.jobs.consume import work
from core.jobs.record import JobStore
from tests.conftest import project_settings
from tests.integration.emulators import azurite_queue, azurite_queue_connection_string

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def queues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from azure.storage.queue import QueueClient

    emulator = azurite_queue(tmp_path / "azurite").start()
    connection = azurite_queue_connection_string(emulator.port)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    QueueClient.from_connection_string(connection, "mlfn-training").create_queue()
    yield connection
    emulator.stop()


def send(connection: str, body: dict) -> None:
    from azure.storage.queue import QueueClient

    client = QueueClient.from_connection_string(connection, "mlfn-training")
    client.send_message(base64.b64encode(json.dumps(body).encode()).decode())


def test_the_worker_runs_a_queued_job(tmp_path: Path, queues: str) -> None:
    settings, store = project_settings(tmp_path / "project")
    config = settings.config_path
    job = JobStore(store).create("train", {"model_type": "logistic_regression"})
    send(queues, {"job_id": job["job_id"]})
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFN_TRACKING": "off"}
    argv = [sys.executable, "-m", "core.cli", "jobs", "work", "--once", "--queue",
            "mlfn-training", "--config", str(config), "--json"]  # fmt: skip
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"handled": 1}
    finished = JobStore(store).get(job["job_id"])
    assert finished["status"] == "succeeded" and finished["result"]["version"] == 1
    from azure.storage.queue import QueueClient

    assert QueueClient.from_connection_string(queues, "mlfn-training").peek_messages() == []


def test_a_message_that_keeps_failing_goes_to_the_poison_queue(
    queues: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    monkeypatch.setenv("MLFN_QUEUE_RETRY_SECONDS", "0")
    send(queues, {"nope": 1})
    tries: list[str] = []

    def handle(body: str) -> None:
        tries.append(body)
        raise ValidationError('a training queue message must be {"job_id": "<id>"}')

    handled = work("mlfn-training", handle, stop=lambda: len(tries) >= 3, poll_seconds=0.1)
    assert handled == 0 and len(tries) == 3
    poison = QueueClient.from_connection_string(
        queues, "mlfn-training-poison", message_decode_policy=TextBase64DecodePolicy()
    )
    (moved,) = poison.peek_messages()
    assert json.loads(moved.content) == {"nope": 1}
    assert QueueClient.from_connection_string(queues, "mlfn-training").peek_messages() == []
