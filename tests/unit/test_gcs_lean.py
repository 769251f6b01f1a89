"""The SDK-free GCS reader (core.storage.gcs_lean): where it reads, the token it sends, the
generation it keeps, and every other answer left to google-cloud-storage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from core.errors import NotFoundError
from core.storage.gcs import GCSStore
from core.storage.gcs_lean import SERVICE_ACCOUNT_PATH, LeanGCSReader, MetadataToken

OBJECTS = {"models/a b/ü.json": (b"the bytes", "1796219419346134193")}


class _Google(BaseHTTPRequestHandler):
    """The metadata server's token and the JSON API's objects; /o/403… answers 403."""

    requests: list[tuple[str, dict[str, str]]] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        type(self).requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        parts = urlsplit(self.path)
        if parts.path == SERVICE_ACCOUNT_PATH:
            ok = self.headers.get("Metadata-Flavor") == "Google"
            body = {"access_token": "ya29.token", "expires_in": 3599, "token_type": "Bearer"}
            return self._answer(200 if ok else 403, json.dumps(body).encode())
        name = unquote(parts.path.rsplit("/o/", 1)[1])
        if name.rsplit("/", 1)[-1].startswith("403"):
            return self._answer(403, b"{}")
        if name not in OBJECTS:
            return self._answer(404, b"{}")
        data, generation = OBJECTS[name]
        query = parse_qs(parts.query)
        if query.get("alt") == ["media"]:
            return self._answer(200, data)
        return self._answer(200, json.dumps({"generation": generation}).encode())

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def google() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Google)
    Thread(target=server.serve_forever, daemon=True).start()
    _Google.requests = []
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


class _Sdk:
    """google-cloud-storage as the store sees it, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def bucket(self, name: str) -> Any:
        return self

    def blob(self, name: str) -> Any:
        return self

    def download_as_bytes(self, **kwargs: Any) -> bytes:
        self.calls += 1
        return b"from the SDK"


def _store(google: str) -> tuple[GCSStore, _Sdk]:
    store = GCSStore("gs://bucket/models", client=_Sdk())
    sdk = store._sdk_client
    store._reader = LeanGCSReader("http", google, MetadataToken(google))
    return store, sdk


def test_reads_carry_the_metadata_server_s_token_fetched_once(google: str) -> None:
    store, sdk = _store(google)
    assert store.read_with_token("a b/ü.json") == (b"the bytes", "1796219419346134193")
    assert store.read_bytes("a b/ü.json") == b"the bytes"
    with pytest.raises(NotFoundError, match="gs://bucket/models/gone does not exist"):
        store.read_bytes("gone")
    paths = [path for path, _ in _Google.requests]
    assert paths.count(SERVICE_ACCOUNT_PATH) == 1 and sdk.calls == 0
    media = [(p, h) for p, h in _Google.requests if "alt=media" in p]
    assert "ifGenerationMatch=1796219419346134193" in media[0][0]
    assert all(h["authorization"] == "Bearer ya29.token" for p, h in _Google.requests[1:])
    assert "/o/models%2Fa%20b%2F%C3%BC.json?" in media[0][0]


def test_an_answer_it_does_not_take_hands_every_read_to_the_sdk(google: str) -> None:
    store, sdk = _store(google)
    assert store.read_bytes("403-denied") == b"from the SDK"
    assert store._reader is None and store.read_bytes("a b/ü.json") == b"from the SDK"
    assert sdk.calls == 2


def test_no_metadata_server_means_the_sdk_reads() -> None:
    from tests.integration.emulators import free_port

    nowhere = f"127.0.0.1:{free_port()}"
    store, sdk = _store(nowhere)
    assert store.read_bytes("a b/ü.json") == b"from the SDK" and sdk.calls == 1


@pytest.mark.parametrize(
    ("environ", "where", "token"),
    [
        ({"STORAGE_EMULATOR_HOST": "http://127.0.0.1:9023"}, ("http", "127.0.0.1:9023"), False),
        ({"STORAGE_EMULATOR_HOST": "localhost:9023"}, ("http", "localhost:9023"), False),
        ({"K_SERVICE": "predict"}, ("https", "storage.googleapis.com"), True),
        ({"FUNCTION_TARGET": "api", "GCE_METADATA_HOST": "10.0.0.1"},
         ("https", "storage.googleapis.com"), True),
        ({"K_SERVICE": "predict", "GOOGLE_APPLICATION_CREDENTIALS": "/key.json"}, None, False),
        ({}, None, False),
    ],
)  # fmt: skip
def test_the_reader_reads_only_on_an_emulator_or_a_serverless_runtime(
    environ: dict[str, str], where: tuple[str, str] | None, token: bool
) -> None:
    reader = LeanGCSReader.from_environment(environ)
    if where is None:
        assert reader is None
        return
    assert reader is not None
    assert (reader.connections.scheme, reader.connections.host) == where
    assert (reader.token is not None) == token
    if environ.get("GCE_METADATA_HOST"):
        assert reader.token is not None and reader.token.connections.host == "10.0.0.1"


def test_the_token_is_not_in_the_token_source_s_repr(google: str) -> None:
    source = MetadataToken(google)
    source.header()
    assert "ya29" not in repr(source)
