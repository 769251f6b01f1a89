"""Session-wide emulators (moto, GCS emulator, Azurite) and a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import emulators

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[emulators.Emulator]:
    server = emulators.moto().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[emulators.Emulator]:
    server = emulators.gcs().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[emulators.Emulator]:
    server = emulators.azurite(tmp_path_factory.mktemp("azurite")).start()
    yield server
    server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_env(moto_server: emulators.Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {**AWS_ENV, "AWS_ENDPOINT_URL_S3": moto_server.url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def gcs_env(gcs_server: emulators.Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"STORAGE_EMULATOR_HOST": gcs_server.url}
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    return env


@pytest.fixture
def azure_env(
    azurite_server: emulators.Emulator, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    connection = emulators.azurite_connection_string(azurite_server.port)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
    return {"AZURE_STORAGE_CONNECTION_STRING": connection}


def make_s3_bucket() -> str:
    import boto3

    name = unique("mlfn")
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def make_gcs_bucket() -> str:
    from core.storage.gcs import default_client

    name = unique("mlfn")
    default_client().create_bucket(name)
    return name


def make_azure_container() -> str:
    from core.storage.azure import default_service

    name = unique("mlfn")
    default_service().create_container(name)
    return name


@pytest.fixture
def s3_uri(s3_env: dict[str, str]) -> str:
    return f"s3://{make_s3_bucket()}/team/project"


@pytest.fixture
def gcs_uri(gcs_env: dict[str, str]) -> str:
    return f"gs://{make_gcs_bucket()}/team/project"


@pytest.fixture
def azure_uri(azure_env: dict[str, str]) -> str:
    return f"az://{make_azure_container()}/team/project"


@pytest.fixture
def local_uri(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'store'}"
