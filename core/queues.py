"""Job dispatchers per cloud: the API enqueues a job id; a worker function runs it."""

from __future__ import annotations

import json
import os
from typing import Any

from core.config import Settings
from core.errors import UnavailableError
from core.jobs import Dispatcher, LocalDispatcher
from core.storage import Store

SQS_QUEUE_ENV = "MLFN_SQS_QUEUE_URL"


class SqsDispatcher:
    """Sends {"job_id"} to the training queue; the SQS-triggered worker Lambda runs it."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self.queue_url, self.client = queue_url, client

    def submit(self, job_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.send_message(
                QueueUrl=self.queue_url, MessageBody=json.dumps({"job_id": job_id})
            )
        except (BotoCoreError, ClientError) as exc:
            raise UnavailableError(f"the training queue is unavailable: {exc}") from None


def dispatcher_from_env(settings: Settings, store: Store) -> Dispatcher:
    """The cloud's queue when configured, else a local background worker."""
    if os.environ.get(SQS_QUEUE_ENV):
        return SqsDispatcher(os.environ[SQS_QUEUE_ENV])
    return LocalDispatcher(settings, store)
