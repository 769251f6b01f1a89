"""Google Cloud Storage (and the emulator via STORAGE_EMULATOR_HOST): generations as tokens."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import (
    AccessDeniedError,
    ConflictError,
    MissingCredentialsError,
    MlfnError,
    NotFoundError,
    UnavailableError,
)
from core.storage.base import Store, retry_attempts, split_uri, translated

# HTTP status of google.api_core errors -> our error. Anything else becomes UnavailableError.
ERRORS: dict[int, type[MlfnError]] = {
    404: NotFoundError,
    412: ConflictError,
    409: ConflictError,
    401: AccessDeniedError,
    403: AccessDeniedError,
}
TIMEOUT_SECONDS = 60


def default_client() -> Any:
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="mlfn-local", credentials=AnonymousCredentials())
    from google.auth.exceptions import DefaultCredentialsError

    try:
        return storage.Client()
    except DefaultCredentialsError:
        raise MissingCredentialsError(
            "no Google Cloud credentials for gs:// stores: run `gcloud auth "
            "application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service account key file"
        ) from None


class GCSStore(Store):
    def __init__(self, uri: str, client: Any = None) -> None:
        super().__init__(uri)
        self.bucket_name, self.prefix = split_uri(uri, "gs")
        self.client = client if client is not None else default_client()
        self.bucket = self.client.bucket(self.bucket_name)

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _retry(self) -> Any:
        from google.cloud.storage.retry import DEFAULT_RETRY

        # The SDK's own policy, bounded by the configured number of attempts' worth of time.
        return DEFAULT_RETRY.with_timeout(5.0 * retry_attempts())

    def _translate(self, exc: Exception, key: str, action: str) -> MlfnError:
        from google.api_core import exceptions as gexc

        code = getattr(exc, "code", None) if isinstance(exc, gexc.GoogleAPICallError) else None
        error = ERRORS.get(code or 0, UnavailableError)
        return translated(error, f"{self.uri}/{key}", action, f"GCS: {exc}")

    def _errors(self) -> tuple[type[Exception], ...]:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc
        from requests import exceptions as http_exc

        return (gexc.GoogleAPIError, auth_exc.GoogleAuthError, http_exc.RequestException)

    def read_with_token(self, key: str) -> tuple[bytes, str]:
        """The generation from the object's metadata, then the bytes of that generation."""
        try:
            blob = self.bucket.get_blob(
                self._name(key), timeout=TIMEOUT_SECONDS, retry=self._retry()
            )
            if blob is None:
                raise NotFoundError(f"{self.uri}/{key} does not exist")
            generation = blob.generation  # kept: a download may reset it from headers
            data = blob.download_as_bytes(
                timeout=TIMEOUT_SECONDS, retry=self._retry(), if_generation_match=generation
            )
        except self._errors() as exc:
            raise self._translate(exc, key, "read") from None
        return data, str(generation)

    def read_bytes(self, key: str) -> bytes:
        try:
            return bytes(
                self.bucket.blob(self._name(key)).download_as_bytes(
                    timeout=TIMEOUT_SECONDS, retry=self._retry()
                )
            )
        except self._errors() as exc:
            raise self._translate(exc, key, "read") from None

    def _upload(self, key: str, data: bytes, action: str, generation: int | None) -> str:
        blob = self.bucket.blob(self._name(key))
        try:
            blob.upload_from_string(
                data, timeout=TIMEOUT_SECONDS, retry=self._retry(), if_generation_match=generation
            )
        except self._errors() as exc:
            raise self._translate(exc, key, action) from None
        return str(blob.generation)

    def write_bytes(self, key: str, data: bytes) -> None:
        self._upload(key, data, "write", None)

    def write_new(self, key: str, data: bytes) -> None:
        self._upload(key, data, "create", 0)  # generation 0: only if absent

    def replace(self, key: str, data: bytes, token: str | None) -> str:
        return self._upload(key, data, "replace", 0 if token is None else int(token))

    def exists(self, key: str) -> bool:
        try:
            return bool(self.bucket.blob(self._name(key)).exists(timeout=TIMEOUT_SECONDS))
        except self._errors() as exc:
            raise self._translate(exc, key, "check") from None

    def list(self, prefix: str = "") -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            blobs = self.client.list_blobs(
                self.bucket_name, prefix=self._name(prefix), timeout=TIMEOUT_SECONDS
            )
            return sorted(blob.name[strip:] for blob in blobs)
        except self._errors() as exc:
            raise self._translate(exc, prefix, "list") from None

    def delete(self, key: str) -> None:
        try:
            self.bucket.blob(self._name(key)).delete(timeout=TIMEOUT_SECONDS)
        except self._errors() as exc:
            error = self._translate(exc, key, "delete")
            if not isinstance(error, NotFoundError):
                raise error from None

    def upload_file(self, key: str, path: Path) -> None:
        try:  # resumable, chunked upload for large files
            self.bucket.blob(self._name(key)).upload_from_filename(
                str(path), timeout=TIMEOUT_SECONDS, retry=self._retry()
            )
        except self._errors() as exc:
            raise self._translate(exc, key, "write") from None

    def download_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.bucket.blob(self._name(key)).download_to_filename(
                str(path), timeout=TIMEOUT_SECONDS, retry=self._retry()
            )
        except self._errors() as exc:
            raise self._translate(exc, key, "read") from None
