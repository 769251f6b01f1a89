"""The one interface every store implements: bytes by key, create-only and CAS writes."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.errors import MlfnError


class Store(ABC):
    """An object store rooted at a URI. Keys are '/'-separated paths relative to that root.

    Subclasses implement the small abstract surface; everything else is built on it.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; NotFoundError when absent."""

    @abstractmethod
    def read_with_token(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and its version token (ETag, generation or content hash)."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write or overwrite an object."""

    @abstractmethod
    def write_new(self, key: str, data: bytes) -> None:
        """Create an object that must not exist yet; AlreadyExistsError otherwise."""

    @abstractmethod
    def replace(self, key: str, data: bytes, token: str | None) -> str:
        """Compare-and-swap: write only if the object still has `token` (None: must not exist).

        Returns the new token; ConflictError when the object changed in between.
        """

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys under a prefix, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete an object; deleting an absent object is not an error."""

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, value: Any) -> None:
        self.write_bytes(key, encode_json(value))

    def upload_file(self, key: str, path: Path) -> None:
        self.write_bytes(key, path.read_bytes())

    def download_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.read_bytes(key))


def encode_json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode("utf-8") + b"\n"


def join_key(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part.strip("/"))


def translated(error: type[MlfnError], where: str, action: str, detail: str) -> MlfnError:
    """The core error for a provider error already classified by a backend's table."""
    from core.errors import AccessDeniedError, AlreadyExistsError, ConflictError, NotFoundError

    if error is ConflictError and action == "create":
        return AlreadyExistsError(f"{where} already exists")
    messages = {
        NotFoundError: f"{where} does not exist",
        ConflictError: f"{where} changed since it was read",
        AccessDeniedError: f"access to {where} was denied",
    }
    return error(messages.get(error, f"could not {action} {where}: {detail}"))


RETRIES_ENV = "MLFN_STORAGE_RETRIES"
DEFAULT_RETRIES = 4


def retry_attempts() -> int:
    """Attempts per storage call, handed to each SDK's own retry configuration."""
    return max(1, int(os.environ.get(RETRIES_ENV, DEFAULT_RETRIES)))


def split_uri(uri: str, scheme: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix' -> ('bucket', 'some/prefix')."""
    from core.errors import ConfigError

    rest = uri.removeprefix(f"{scheme}://").strip("/")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"store URI '{uri}' names no bucket or container")
    return bucket, prefix.strip("/")
