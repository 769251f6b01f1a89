"""The API's job dispatchers: what they send is what each cloud's worker function reads."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from core.errors import UnavailableError
from core.jobs import LocalDispatcher
from core.jobs.queues import AzureQueueDispatcher, PubSubDispatcher, dispatcher_from_env
from tests.conftest import project_settings
from tests.integration import emulators


def test_azure_queue_dispatcher_feeds_the_queue_trigger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    server = emulators.azurite_queue(tmp_path / "queues").start()
    try:
        connection = emulators.azurite_queue_connection_string(server.port)
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
        monkeypatch.setenv("MLFN_AZURE_QUEUE", "mlfn-training")
        monkeypatch.setenv("MLFN_STORAGE_RETRIES", "1")
        QueueClient.from_connection_string(connection, "mlfn-training").create_queue()
        settings, store = project_settings(tmp_path)
        dispatcher = dispatcher_from_env(settings, store)
        assert isinstance(dispatcher, AzureQueueDispatcher)
        dispatcher.submit("job-42")
        reader = QueueClient.from_connection_string(
            connection, "mlfn-training", message_decode_policy=TextBase64DecodePolicy()
        )
        (message,) = list(reader.receive_messages())
        # The host decodes base64 (host.json messageEncoding) and hands the worker the text.
        assert json.loads(message.content) == {"job_id": "job-42"}
    finally:
        server.stop()
    with pytest.raises(UnavailableError, match="training queue is unavailable"):
        dispatcher.submit("job-43")  # the emulator is gone


class FakePublisher:
    """Pub/Sub has no emulator installable here; this records what would be published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(self, topic: str, data: bytes) -> Any:
        self.published.append((topic, data))
        return type("Future", (), {"result": lambda self, timeout=None: "message-id-1"})()


def test_pubsub_dispatcher_message_is_what_the_worker_reads() -> None:
    publisher = FakePublisher()
    PubSubDispatcher("projects/p/topics/mlfn-train", publisher).submit("job-7")
    ((topic, data),) = publisher.published
    assert topic == "projects/p/topics/mlfn-train"
    # A Pub/Sub push delivers data base64-encoded; functions/gcp/main.worker decodes that.
    push = {"message": {"data": base64.b64encode(data).decode()}}
    assert json.loads(base64.b64decode(push["message"]["data"]))["job_id"] == "job-7"


def test_without_a_queue_jobs_run_locally(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    assert isinstance(dispatcher_from_env(settings, store), LocalDispatcher)
