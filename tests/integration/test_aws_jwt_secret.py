"""The AWS functions read their HS256 secret from SSM Parameter Store (moto) at cold start."""

from __future__ import annotations

import os
from typing import Any

import pytest

from core.errors import ConfigError
from tests.emulator_fixtures import unique


@pytest.fixture
def ssm(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    from tests.emulator_fixtures import AWS_ENV

    for key, value in {**AWS_ENV, "AWS_ENDPOINT_URL_SSM": moto_server.url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFN_JWT_SECRET", "")  # recorded, so what the handler sets is undone
    monkeypatch.delenv("MLFN_JWT_SECRET")
    return boto3.client("ssm")


def test_secure_string_parameter_becomes_the_secret(
    ssm: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions.aws.handler import load_jwt_secret

    name = f"/mlfn/{unique('dev')}/jwt-secret"
    ssm.put_parameter(Name=name, Value="s3cret-from-ssm-0123456789abcdef", Type="SecureString")
    monkeypatch.setenv("MLFN_JWT_SECRET_PARAMETER", name)
    load_jwt_secret()
    assert os.environ["MLFN_JWT_SECRET"] == "s3cret-from-ssm-0123456789abcdef"


def test_a_missing_parameter_fails_the_cold_start_naming_it(
    ssm: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions.aws.handler import load_jwt_secret

    monkeypatch.setenv("MLFN_JWT_SECRET_PARAMETER", "/mlfn/nowhere/jwt-secret")
    with pytest.raises(ConfigError, match="SSM parameter /mlfn/nowhere/jwt-secret"):
        load_jwt_secret()
    assert "MLFN_JWT_SECRET" not in os.environ
