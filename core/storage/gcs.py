"""Google Cloud Storage (and the emulator via STORAGE_EMULATOR_HOST): generations as tokens."""

from __future__ import annotations

import json
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
from core.storage.gcs_lean import LeanGCSReader
from core.storage.lean_http import Answer, LeanReads

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


def _generation_of(answer: Answer) -> str:
    """The "generation" of an object resource, digits only; "" when there is none."""
    try:
        generation = str(json.loads(answer.body)["generation"])
    except (ValueError, KeyError, TypeError):
        return ""
    return generation if generation.isdigit() else ""


class GCSStore(LeanReads, Store):
    def __init__(self, uri: str, client: Any = None) -> None:
        super().__init__(uri)
        self.bucket_name, self.prefix = split_uri(uri, "gs")
        self._bucket = None
        # Reads without the SDK where the environment allows (core.storage.gcs_lean): a cold
        # start that only serves never imports it.
        self._set_up_reads(client, LeanGCSReader.from_environment)
        if self._reader is None:
            self.client  # noqa: B018 - made now: missing credentials are said at once

    @property
    def client(self) -> Any:
        """The SDK's client, made on first use (writes, lists, what the reader declines)."""
        return self._sdk(default_client)

    @property
    def bucket(self) -> Any:
        if self._bucket is None:
            self._bucket = self.client.bucket(self.bucket_name)
        return self._bucket

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
        reader = self._reader  # once: another thread may stop lean reads meanwhile
        if reader is not None:
            found = self._lean_read(reader, key, with_generation=True)
            if found is not None:
                return found
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

    def _lean_read(
        self, reader: LeanGCSReader, key: str, with_generation: bool
    ) -> tuple[bytes, str] | None:
        """The object (and its generation, when asked: the resource's, then the bytes of
        that generation only) by the JSON API; None when the SDK must read."""
        name, generation = self._name(key), ""
        if with_generation:
            resource = self._lean_outcome(
                lambda: reader.generation(self.bucket_name, name), key, _generation_of
            )
            if resource is None:
                return None
            generation = resource[1]
        return self._lean_outcome(
            lambda: reader.media(self.bucket_name, name, generation or None),
            key,
            lambda _: generation or "-",  # any 200 is taken; read_bytes drops the token
        )

    def read_bytes(self, key: str) -> bytes:
        reader = self._reader
        if reader is not None:
            found = self._lean_read(reader, key, with_generation=False)
            if found is not None:
                return found[0]
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
