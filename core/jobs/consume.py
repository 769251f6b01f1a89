"""A self-hosted training worker: `mlfn jobs work` takes job messages from the Azure Storage
queue the API writes to (MLFN_AZURE_QUEUE; Azurite locally, as in infra/compose) and runs
them as the cloud workers do. A message is deleted once its job is handled; one whose
handling fails is left to reappear, and after MAX_DEQUEUE tries it moves to the poison
queue `<queue>-poison`, as the Functions host does."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from core.errors import ConfigError, MlfnError

logger = logging.getLogger("mlfn.jobs")
VISIBILITY_SECONDS = 900  # a message stays hidden while its job runs (leases guard the rest)
RETRY_ENV = "MLFN_QUEUE_RETRY_SECONDS"  # when a failed message shows again (default 10)
MAX_DEQUEUE = 3


def queue_client(queue_name: str, decode: bool = True) -> Any:
    from azure.storage.queue import (
        QueueClient,
        TextBase64DecodePolicy,
        TextBase64EncodePolicy,
    )

    from core.storage.azure import CONNECTION_STRING_ENV

    if not os.environ.get(CONNECTION_STRING_ENV):
        raise ConfigError(f"set {CONNECTION_STRING_ENV} to the queue's storage account")
    return QueueClient.from_connection_string(
        os.environ[CONNECTION_STRING_ENV], queue_name,
        message_decode_policy=TextBase64DecodePolicy() if decode else None,
        message_encode_policy=TextBase64EncodePolicy(),
    )  # fmt: skip


def work(
    queue_name: str,
    handle: Callable[[str], Any],
    stop: Callable[[], bool] = lambda: False,
    poll_seconds: float = 2.0,
) -> int:
    """Handle messages until `stop()` says so; returns how many were handled."""
    client, poison = queue_client(queue_name), queue_client(f"{queue_name}-poison")
    handled = 0
    while not stop():
        messages = list(
            client.receive_messages(max_messages=1, visibility_timeout=VISIBILITY_SECONDS)
        )
        if not messages:
            time.sleep(poll_seconds)
            continue
        message = messages[0]
        try:
            handle(message.content)
        except MlfnError as exc:
            logger.warning("queue message %s failed (try %s): %s", message.id,
                           message.dequeue_count, exc.message)  # fmt: skip
            if (message.dequeue_count or 0) >= MAX_DEQUEUE:
                _to_poison(poison, message)
                client.delete_message(message)
            else:
                retry = int(os.environ.get(RETRY_ENV, "10"))
                client.update_message(message, visibility_timeout=retry)
            continue
        client.delete_message(message)
        handled += 1
    return handled


def _to_poison(poison: Any, message: Any) -> None:
    from azure.core.exceptions import ResourceExistsError

    with contextlib.suppress(ResourceExistsError):
        poison.create_queue()
    poison.send_message(message.content)
