"""The boto3-free S3 reader (core.storage.s3_lean): its signature is botocore's, it reads
only where boto3 would read the same, and it leaves every other answer to boto3."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from urllib.parse import quote

import pytest

from core.errors import NotFoundError
from core.storage.s3 import S3Store
from core.storage.s3_lean import Credentials, LeanS3Reader, Target, signed_headers

NOW = datetime(2026, 12, 2, 13, 45, 7, tzinfo=UTC)
KEYS = ["models/iris/versions/1/model.onnx", "a b/ü+x=y&z;(1).json", "~t/%41*'!", "p/"]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("token", [None, "session/token+="])
def test_the_signature_is_botocore_s(
    key: str, token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same request, same instant: the Authorization header botocore's S3 signer makes."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    host, path = "bucket.s3.eu-west-1.amazonaws.com", "/" + quote(key, safe="/~")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method="GET", url=f"https://{host}{path}")
    boto_credentials = BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCY", token)
    botocore.auth.S3SigV4Auth(boto_credentials, "s3", "eu-west-1").add_auth(request)
    ours = signed_headers(
        host, path, Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCY", token),
        "eu-west-1", NOW,
    )  # fmt: skip
    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]


ENV = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1"}


@pytest.mark.parametrize(
    ("environ", "bucket", "expected"),
    [
        (ENV, "models", Target("https", "models.s3.eu-west-1.amazonaws.com", "")),
        ({**ENV, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"}, "m",
         Target("http", "127.0.0.1:9000", "/m")),
        ({**ENV, "AWS_ENDPOINT_URL": "https://minio.local"}, "m",
         Target("https", "minio.local", "/m")),
        ({**ENV, "AWS_USE_FIPS_ENDPOINT": "true"}, "models", None),
        ({k: v for k, v in ENV.items() if k != "AWS_REGION"}, "models", None),
        ({k: v for k, v in ENV.items() if k != "AWS_SECRET_ACCESS_KEY"}, "models", None),
        (ENV, "my.dotted.bucket", None),
        ({**ENV, "AWS_ENDPOINT_URL_S3": "http://host/with/path"}, "m", None),
        ({**ENV, "AWS_PROFILE": "dev"}, "models", None),
        ({**ENV, "AWS_CONFIG_FILE": __file__}, "models", None),  # a file that exists
    ],
)  # fmt: skip
def test_the_reader_reads_only_where_the_environment_says_all(
    environ: dict[str, str], bucket: str, expected: Target | None
) -> None:
    environ = {"AWS_CONFIG_FILE": "/nonexistent/aws-config", **environ}
    reader = LeanS3Reader.from_environment(bucket, environ)
    assert (reader.target if reader else None) == expected


def test_the_secret_is_not_in_the_credentials_repr() -> None:
    assert "hush" not in repr(Credentials("AKID", "hush", "tok"))


class _Answers(BaseHTTPRequestHandler):
    """Answers GET /bucket/<status>/...: that status; records the signed headers."""

    seen: list[dict[str, str]] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        status = int(self.path.split("/")[2])
        body = b"the bytes" if status == 200 else b"<Error/>"
        self.send_response(status)
        self.send_header("ETag", '"e1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Boto:
    """boto3's client as the store sees it: get_object, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return {"Body": _Body(), "ETag": '"boto"'}


class _Body:
    def read(self) -> bytes:
        return b"from boto3"


@pytest.fixture
def s3_like(monkeypatch: pytest.MonkeyPatch) -> Any:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    Thread(target=server.serve_forever, daemon=True).start()
    environ = {**ENV, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{server.server_port}",
               "AWS_CONFIG_FILE": "/nonexistent/aws-config"}  # fmt: skip
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    yield server
    server.shutdown()
    server.server_close()


def _store_with_fake_boto() -> tuple[S3Store, _Boto]:
    store = S3Store("s3://bucket")
    assert store._reader is not None
    boto = _Boto()
    store._sdk_client = boto
    return store, boto


def test_200_and_404_are_read_without_boto3_and_the_rest_goes_to_it(s3_like: Any) -> None:
    store, boto = _store_with_fake_boto()
    assert store.read_with_token("200/model.onnx") == (b"the bytes", '"e1"')
    with pytest.raises(NotFoundError, match="s3://bucket/404/x does not exist"):
        store.read_bytes("404/x")
    assert boto.calls == 0
    headers = _Answers.seen[-1]
    for status in (403, 301, 500, 503):  # boto3 retries, follows or words these
        store, boto = _store_with_fake_boto()
        assert store.read_with_token(f"{status}/x") == (b"from boto3", '"boto"')
        assert store.read_with_token("200/next") == (b"from boto3", '"boto"')  # boto3's now
        assert boto.calls == 2 and store._reader is None
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=k/")
    assert len(headers["authorization"].rsplit("Signature=", 1)[1]) == 64
    assert headers["x-amz-date"].endswith("Z") and headers["host"].startswith("127.0.0.1:")


def test_a_network_failure_is_left_to_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.emulators import free_port

    environ = {**ENV, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}",
               "AWS_CONFIG_FILE": "/nonexistent/aws-config"}  # fmt: skip
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    store, boto = _store_with_fake_boto()
    assert store.read_bytes("any/key") == b"from boto3" and boto.calls == 1


def test_a_client_given_is_used_for_every_read() -> None:
    boto = _Boto()
    store = S3Store("s3://bucket", client=boto)
    assert store._reader is None and store.read_bytes("k") == b"from boto3"


def test_each_request_signs_with_the_keys_in_the_environment_then(s3_like: Any) -> None:
    """A SnapStart-restored Lambda finds fresh keys in the same variables: they sign the
    next read, not the ones seen when the store was made."""
    store, boto = _store_with_fake_boto()
    store.read_bytes("200/first")
    os.environ["AWS_ACCESS_KEY_ID"] = "restored"
    store.read_bytes("200/second")
    credentials = [h["authorization"].split("Credential=")[1].split("/")[0]
                   for h in _Answers.seen[-2:]]  # fmt: skip
    assert credentials == ["k", "restored"] and boto.calls == 0
