"""Each backend's table turns provider errors into core errors (the rows emulators can't show)."""

from __future__ import annotations

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
