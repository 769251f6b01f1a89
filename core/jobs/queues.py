"""Job dispatchers per cloud: the API enqueues a job id; a worker function runs it."""

from __future__ import annotations

import json
import os
from typing import Any

from core.config import Settings
from core.errors import UnavailableError
from core.jobs.local import LocalDispatcher
from core.jobs.submit import Dispatcher
from core.storage import Store
from core.storage.base import retry_attempts

SQS_QUEUE_ENV = "MLFN_SQS_QUEUE_URL"
PUBSUB_TOPIC_ENV = "MLFN_PUBSUB_TOPIC"  # projects/<project>/topics/<topic>
AZURE_QUEUE_ENV = "MLFN_AZURE_QUEUE"  # a queue in AZURE_STORAGE_CONNECTION_STRING's account
PUBLISH_TIMEOUT_SECONDS = 30


class SqsDispatcher:
    """Sends {"job_id"} to the training queue; the SQS-triggered worker Lambda runs it."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self.queue_url, self.client = queue_url, client

    def submit(self, job_id: str) -> None:
        self.send({"job_id": job_id})

    def send(self, message: dict[str, Any]) -> None:
        """Any worker message (a job, or a batch's chunk)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message))
        except (BotoCoreError, ClientError) as exc:
            raise UnavailableError(f"the training queue is unavailable: {exc}") from None


class PubSubDispatcher:
    """Publishes {"job_id"} to a Pub/Sub topic; a Pub/Sub-triggered function runs it."""

    def __init__(self, topic: str, publisher: Any = None) -> None:
        if publisher is None:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]

            publisher = pubsub_v1.PublisherClient()
        self.topic, self.publisher = topic, publisher

    def submit(self, job_id: str) -> None:
        self.send({"job_id": job_id})

    def send(self, message: dict[str, Any]) -> None:
        from google.api_core.exceptions import GoogleAPIError

        try:
            self.publisher.publish(self.topic, json.dumps(message).encode()).result(
                timeout=PUBLISH_TIMEOUT_SECONDS
            )
        except (GoogleAPIError, TimeoutError) as exc:
            raise UnavailableError(f"the training topic is unavailable: {exc}") from None


class AzureQueueDispatcher:
    """Puts {"job_id"} on a Storage queue (base64, as the Functions queue trigger expects)."""

    def __init__(self, queue_name: str, client: Any = None) -> None:
        if client is None:
            from azure.storage.queue import QueueClient, TextBase64EncodePolicy

            from core.storage.azure import CONNECTION_STRING_ENV

            client = QueueClient.from_connection_string(
                os.environ[CONNECTION_STRING_ENV],
                queue_name,
                message_encode_policy=TextBase64EncodePolicy(),
                retry_total=retry_attempts() - 1,
                connection_timeout=5,
            )
        self.client = client

    def submit(self, job_id: str) -> None:
        self.send({"job_id": job_id})

    def send(self, message: dict[str, Any]) -> None:
        from azure.core.exceptions import AzureError

        try:
            self.client.send_message(json.dumps(message))
        except AzureError as exc:
            raise UnavailableError(f"the training queue is unavailable: {exc}") from None


def dispatcher_from_env(settings: Settings, store: Store) -> Dispatcher:
    """The cloud's queue when configured, else a local background worker."""
    if os.environ.get(SQS_QUEUE_ENV):
        return SqsDispatcher(os.environ[SQS_QUEUE_ENV])
    if os.environ.get(PUBSUB_TOPIC_ENV):
        return PubSubDispatcher(os.environ[PUBSUB_TOPIC_ENV])
    if os.environ.get(AZURE_QUEUE_ENV):
        return AzureQueueDispatcher(os.environ[AZURE_QUEUE_ENV])
    return LocalDispatcher(settings, store)
