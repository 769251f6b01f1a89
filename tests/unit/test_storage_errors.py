"""Each backend's table turns provider errors into core errors (the rows emulators can't show)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from botocore.exceptions import ClientError, EndpointConnectionError
from google.api_core import exceptions as gexc

from core.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    UnavailableError,
)
from core.storage.azure import AzureBlobStore
from core.storage.gcs import GCSStore
from core.storage.s3 import S3Store
from tests.integration.gcs_fake import FakeClient


def s3_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


def azure_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message=f"status {status}")
    error.status_code = status
    return error


def s3() -> S3Store:
    return S3Store("s3://b/p", client=object())


def gcs() -> GCSStore:
    return GCSStore("gs://b/p", client=FakeClient())


def azure() -> AzureBlobStore:
    service = SimpleNamespace(get_container_client=lambda name: object())
    return AzureBlobStore("az://c/p", service=service)


CASES = [
    (s3, s3_error("NoSuchKey", 404), "read", NotFoundError),
    (s3, s3_error("AccessDenied", 403), "read", AccessDeniedError),
    (s3, s3_error("PreconditionFailed", 412), "replace", ConflictError),
    (s3, s3_error("PreconditionFailed", 412), "create", AlreadyExistsError),
    (s3, s3_error("SlowDown", 503), "write", UnavailableError),
    (s3, EndpointConnectionError(endpoint_url="http://x"), "read", UnavailableError),
    (gcs, gexc.NotFound("x"), "read", NotFoundError),
    (gcs, gexc.Forbidden("x"), "read", AccessDeniedError),
    (gcs, gexc.PreconditionFailed("x"), "replace", ConflictError),
    (gcs, gexc.PreconditionFailed("x"), "create", AlreadyExistsError),
    (gcs, gexc.ServiceUnavailable("x"), "write", UnavailableError),
    (azure, azure_error(404), "read", NotFoundError),
    (azure, azure_error(403), "read", AccessDeniedError),
    (azure, azure_error(412), "replace", ConflictError),
    (azure, azure_error(409), "create", AlreadyExistsError),
    (azure, azure_error(500), "write", UnavailableError),
    (azure, ServiceRequestError("connection refused"), "read", UnavailableError),
]


@pytest.mark.parametrize(("make", "error", "action", "expected"), CASES)
def test_translation_table(make, error: Exception, action: str, expected: type) -> None:
    translated = make()._translate(error, "models/m/champion.json", action)
    assert type(translated) is expected
    assert "models/m/champion.json" in translated.message


def test_missing_cloud_credentials_are_named_per_cloud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No credentials is not "unreachable": each cloud says what to set."""
    from core.errors import MissingCredentialsError
    from core.storage import open_store

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_ENDPOINT_URL_S3", "GOOGLE_APPLICATION_CREDENTIALS",
                 "STORAGE_EMULATOR_HOST"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # no credentials cached by others
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MLFN_STORAGE_RETRIES", "1")
    with pytest.raises(MissingCredentialsError, match=r"no AWS credentials.*AWS_PROFILE"):
        open_store("s3://some-bucket/x").read_bytes("models/iris/champion.json")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    with pytest.raises(MissingCredentialsError, match="application-default login"):
        open_store("gs://some-bucket/x")
