"""The SDK-free Blob reader (core.storage.azure_lean): its Shared Key signature is the
SDK's, it reads only where the connection string holds a key, and every answer but 200 and
404 goes to azure-storage-blob. (Azurite checks the signatures: the conformance suite reads
through this reader.)"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from urllib.parse import quote

import pytest

from core.errors import NotFoundError
from core.storage.azure import AzureBlobStore
from core.storage.azure_lean import API_VERSION, LeanBlobReader, shared_key_headers

KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DATE = "Wed, 02 Dec 2026 13:50:19 GMT"


@pytest.mark.parametrize("name", ["models/iris/1/model.onnx", "a b/ü~+x=y&z;(1).json"])
@pytest.mark.parametrize("base", ["", "/devstoreaccount1"])
def test_the_signature_is_the_sdk_s(name: str, base: str) -> None:
    from azure.core.pipeline import PipelineContext, PipelineRequest
    from azure.core.pipeline.transport import HttpRequest
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

    path = f"{base}/models/{quote(name, safe='/~')}"
    request = HttpRequest("GET", f"https://acct.blob.core.windows.net{path}",
                          headers={"x-ms-date": DATE, "x-ms-version": API_VERSION})  # fmt: skip
    SharedKeyCredentialPolicy("acct", KEY).on_request(
        PipelineRequest(request, PipelineContext(None))
    )
    ours = shared_key_headers("acct", KEY, path, DATE)
    assert ours["authorization"] == request.headers["Authorization"]


@pytest.mark.parametrize(
    ("connection", "where"),
    [
        (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};"
         "EndpointSuffix=core.windows.net", ("https", "acct.blob.core.windows.net", "")),
        (f"AccountName=acct;AccountKey={KEY};EndpointSuffix=core.chinacloudapi.cn",
         ("https", "acct.blob.core.chinacloudapi.cn", "")),
        (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
         "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
         ("http", "127.0.0.1:10000", "/devstoreaccount1")),
        ("BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2022&sig=x",
         None),
        ("UseDevelopmentStorage=true", None),
        ("AccountName=acct;AccountKey=not base64!", None),
        ("", None),
    ],
)  # fmt: skip
def test_the_reader_reads_only_with_an_account_key(
    connection: str, where: tuple[str, str, str] | None
) -> None:
    reader = LeanBlobReader.from_environment({"AZURE_STORAGE_CONNECTION_STRING": connection})
    found = None
    if reader is not None:
        found = (reader.connections.scheme, reader.connections.host, reader.base_path)
    assert found == where
    assert reader is None or KEY not in repr(reader)


class _Blobs(BaseHTTPRequestHandler):
    """GET /acct/<container>/<status>…: that status, with an ETag."""

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        status = int(self.path.split("/")[3][:3])
        body = b"the bytes" if status == 200 else b""
        self.send_response(status)
        self.send_header("ETag", '"0x8D"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def blobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Blobs)
    Thread(target=server.serve_forever, daemon=True).start()
    connection = (f"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey={KEY};"
                  f"BlobEndpoint=http://127.0.0.1:{server.server_port}/acct")  # fmt: skip
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    yield
    server.shutdown()
    server.server_close()


class _Properties:
    etag = '"sdk"'


class _Sdk:
    """azure-storage-blob as the store sees it: a download, counted."""

    calls = 0

    def get_container_client(self, name: str) -> Any:
        return self

    def get_blob_client(self, name: str) -> Any:
        return self

    def download_blob(self, **kwargs: Any) -> Any:
        type(self).calls += 1
        return self

    def readall(self) -> bytes:
        return b"from the SDK"

    properties = _Properties()


def test_200_and_404_without_the_sdk_and_then_the_sdk_for_the_rest(blobs: None) -> None:
    store = AzureBlobStore("az://box")
    assert store._reader is not None
    store._sdk_client, _Sdk.calls = _Sdk(), 0
    assert store.read_with_token("200.json") == (b"the bytes", '"0x8D"')
    with pytest.raises(NotFoundError, match="az://box/404 does not exist"):
        store.read_bytes("404")
    assert _Sdk.calls == 0
    assert store.read_with_token("403.json") == (b"from the SDK", '"sdk"')
    assert store._reader is None and store.read_bytes("200.json") == b"from the SDK"
    assert _Sdk.calls == 2
