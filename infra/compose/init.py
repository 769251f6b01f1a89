"""The local stack's one-shot init (compose service `init`): the Azurite container and the
training queue, made if missing, then the example ingested and trained once, so the API
has a champion to serve. Runs again harmlessly: the data is content-addressed and a second
training is compared with the champion like any other."""

from __future__ import annotations

import contextlib
import os
import sys

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from core.cli import main


def prepare() -> None:
    connection = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    container = os.environ["MLFN_STORE"].removeprefix("az://").split("/", 1)[0]
    with contextlib.suppress(ResourceExistsError):
        BlobServiceClient.from_connection_string(connection).create_container(container)
    with contextlib.suppress(ResourceExistsError):
        QueueClient.from_connection_string(
            connection, os.environ["MLFN_AZURE_QUEUE"]
        ).create_queue()


if __name__ == "__main__":
    prepare()
    sys.exit(main(["ingest"]) or main(["train"]))
