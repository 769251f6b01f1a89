"""GETs over kept-alive http.client connections, one per thread: the transport of the
stores' SDK-free readers (core.storage.s3_lean, gcs_lean, azure_lean), which spare a serving
cold start the import of a cloud SDK; and what a store does with their answers."""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import NotFoundError

TIMEOUT_S = 60.0
logger = logging.getLogger("mlfn.storage")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]  # names in lower case


class KeptConnections:
    """GETs to one host; a connection per thread, kept alive between requests."""

    def __init__(self, scheme: str, host: str, timeout: float = TIMEOUT_S) -> None:
        self.scheme, self.host, self.timeout = scheme, host, timeout
        self._local = threading.local()

    def get(self, path: str, headers: Mapping[str, str]) -> Answer:
        """One GET (once more on a new connection when a kept-alive one had been closed by
        the server). Raises OSError when the network fails."""
        reused = getattr(self._local, "connection", None) is not None
        try:
            return self._get(path, headers)
        except (OSError, http.client.HTTPException) as exc:
            if not reused:
                raise OSError(f"GET {self.host} failed: {exc!r}") from None
        try:
            return self._get(path, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise OSError(f"GET {self.host} failed: {exc!r}") from None

    def _get(self, path: str, headers: Mapping[str, str]) -> Answer:
        connection = self._connection()
        try:
            connection.request("GET", path, headers=dict(headers))
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            self._local.connection = None
            connection.close()
            raise
        if response.will_close:
            self._local.connection = None
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, body, answer_headers)

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            kind = (
                http.client.HTTPSConnection
                if self.scheme == "https"
                else http.client.HTTPConnection
            )
            connection = kind(self.host, timeout=self.timeout)
            self._local.connection = connection
        return connection


class LeanReads:
    """What a store does with its SDK-free reader's answers: a 200 is the object, a 404 its
    absence; anything else (and a network failure) leaves that read and every later one to
    the SDK, which retries, follows and words them, and is loaded by then anyway."""

    uri: str
    _reader: Any

    def _set_up_reads(self, sdk_client: Any, reader: Callable[[], Any]) -> None:
        """`sdk_client`: the SDK's client a caller gave (then the SDK does every read); else
        `reader()`, the SDK-free reader the environment allows (None: none does)."""
        self._sdk_client, self._sdk_lock = sdk_client, threading.Lock()
        self._reader = None if sdk_client is not None else reader()

    def _sdk(self, make: Callable[[], Any]) -> Any:
        """The SDK's client, made by `make` on first use (writes, lists, declined reads)."""
        with self._sdk_lock:
            if self._sdk_client is None:
                self._sdk_client = make()
            return self._sdk_client

    def _lean_outcome(
        self, fetch: Callable[[], Answer], key: str, token_of: Callable[[Answer], str]
    ) -> tuple[bytes, str] | None:
        """(bytes, token) from `fetch`'s 200 with a token; None when the SDK must read."""
        try:
            answer = fetch()
        except OSError as exc:
            self._stop_lean_reads(f"{exc}")
            return None
        if answer.status == 404:
            raise NotFoundError(f"{self.uri}/{key} does not exist")
        token = token_of(answer) if answer.status == 200 else ""
        if token:
            return answer.body, token
        self._stop_lean_reads(f"HTTP {answer.status}")
        return None

    def _stop_lean_reads(self, why: str) -> None:
        logger.info("reads of %s go through the SDK from now on (SDK-free read: %s)", self.uri, why)
        self._reader = None


def etag_of(answer: Answer) -> str:
    return answer.headers.get("etag", "")
