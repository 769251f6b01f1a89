"""Azure Blob Storage (and Azurite) via AZURE_STORAGE_CONNECTION_STRING: ETags as tokens."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    MlfnError,
    NotFoundError,
    UnavailableError,
)
from core.storage.azure_lean import LeanBlobReader
from core.storage.base import Store, retry_attempts, split_uri, translated
from core.storage.lean_http import LeanReads, etag_of

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
# HTTP status -> our error. Anything else (and no answer at all) becomes UnavailableError.
ERRORS: dict[int, type[MlfnError]] = {
    404: NotFoundError,
    409: ConflictError,
    412: ConflictError,
    401: AccessDeniedError,
    403: AccessDeniedError,
}
TIMEOUT_SECONDS = 60


def default_service() -> Any:
    from azure.storage.blob import BlobServiceClient

    connection = os.environ.get(CONNECTION_STRING_ENV)
    if not connection:
        raise ConfigError(
            f"az:// stores need {CONNECTION_STRING_ENV} (the storage account's "
            "connection string, e.g. from the function app's settings)"
        )
    return BlobServiceClient.from_connection_string(
        connection,
        retry_total=retry_attempts() - 1,
        connection_timeout=5,
        read_timeout=TIMEOUT_SECONDS,
    )


class AzureBlobStore(LeanReads, Store):
    def __init__(self, uri: str, service: Any = None) -> None:
        super().__init__(uri)
        self.container_name, self.prefix = split_uri(uri, "az")
        self._container = None
        # Reads without the SDK where the connection string allows (core.storage.azure_lean):
        # a cold start that only serves never imports it.
        self._set_up_reads(service, LeanBlobReader.from_environment)
        if self._reader is None:
            self.service  # noqa: B018 - made now: a missing connection string is said at once

    @property
    def service(self) -> Any:
        """The SDK's service client, made on first use (writes, lists, what the reader
        declines)."""
        return self._sdk(default_service)

    @property
    def container(self) -> Any:
        if self._container is None:
            self._container = self.service.get_container_client(self.container_name)
        return self._container

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _translate(self, exc: Exception, key: str, action: str) -> MlfnError:
        from azure.core.exceptions import HttpResponseError

        status = exc.status_code if isinstance(exc, HttpResponseError) else None
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        error = ERRORS.get(status or 0, UnavailableError)
        return translated(error, f"{self.uri}/{key}", action, f"Azure Blob: {detail}")

    def _blob(self, key: str) -> Any:
        return self.container.get_blob_client(self._name(key))

    def read_with_token(self, key: str) -> tuple[bytes, str]:
        reader = self._reader  # once: another thread may stop lean reads meanwhile
        if reader is not None:
            name = self._name(key)
            found = self._lean_outcome(lambda: reader.get(self.container_name, name), key, etag_of)
            if found is not None:
                return found
        from azure.core.exceptions import AzureError

        try:
            download = self._blob(key).download_blob(timeout=TIMEOUT_SECONDS)
            return download.readall(), str(download.properties.etag)
        except AzureError as exc:
            raise self._translate(exc, key, "read") from None

    def read_bytes(self, key: str) -> bytes:
        return self.read_with_token(key)[0]

    def _upload(self, key: str, data: bytes, action: str, **conditions: Any) -> str:
        from azure.core.exceptions import AzureError

        try:
            result = self._blob(key).upload_blob(data, timeout=TIMEOUT_SECONDS, **conditions)
        except AzureError as exc:
            raise self._translate(exc, key, action) from None
        return str(result["etag"])

    def write_bytes(self, key: str, data: bytes) -> None:
        self._upload(key, data, "write", overwrite=True)

    def write_new(self, key: str, data: bytes) -> None:
        self._upload(key, data, "create", overwrite=False)  # sends If-None-Match: *

    def replace(self, key: str, data: bytes, token: str | None) -> str:
        from azure.core import MatchConditions

        if token is None:
            try:
                return self._upload(key, data, "create", overwrite=False)
            except AlreadyExistsError as exc:
                raise ConflictError(
                    exc.message.replace("already exists", "changed since it was read")
                ) from None
        return self._upload(
            key,
            data,
            "replace",
            overwrite=True,
            etag=token,
            match_condition=MatchConditions.IfNotModified,
        )

    def exists(self, key: str) -> bool:
        from azure.core.exceptions import AzureError

        try:
            return bool(self._blob(key).exists(timeout=TIMEOUT_SECONDS))
        except AzureError as exc:
            raise self._translate(exc, key, "check") from None

    def list(self, prefix: str = "") -> list[str]:
        from azure.core.exceptions import AzureError

        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            names = self.container.list_blob_names(
                name_starts_with=self._name(prefix), timeout=TIMEOUT_SECONDS
            )
            return sorted(name[strip:] for name in names)
        except AzureError as exc:
            raise self._translate(exc, prefix, "list") from None

    def delete(self, key: str) -> None:
        from azure.core.exceptions import AzureError

        try:
            self._blob(key).delete_blob(timeout=TIMEOUT_SECONDS)
        except AzureError as exc:
            error = self._translate(exc, key, "delete")
            if not isinstance(error, NotFoundError):
                raise error from None

    def upload_file(self, key: str, path: Path) -> None:
        from azure.core.exceptions import AzureError

        try:  # streamed from the file, in blocks
            with path.open("rb") as handle:
                self._blob(key).upload_blob(handle, overwrite=True, timeout=TIMEOUT_SECONDS)
        except AzureError as exc:
            raise self._translate(exc, key, "write") from None

    def download_file(self, key: str, path: Path) -> None:
        from azure.core.exceptions import AzureError

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("wb") as handle:
                self._blob(key).download_blob(timeout=TIMEOUT_SECONDS).readinto(handle)
        except AzureError as exc:
            raise self._translate(exc, key, "read") from None
