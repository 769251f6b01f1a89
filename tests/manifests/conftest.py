"""Fixtures for the manifest tests: the repo's manifests, transformed or packaged offline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from core.deploy.routes import route_table

REPO = Path(__file__).resolve().parents[2]
OFFLINE_AWS_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "SAM_CLI_TELEMETRY": "0",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
# Every route of the HTTP API contract, with the scope the gateway authorizer asks for.
# The app's own route table: a route the app answers but a gateway lacks (or the reverse)
# fails the gateway's test.
PROTECTED_ROUTES = {route.aws_key(): route.scope for route in route_table() if route.scope}
PUBLIC_ROUTES = {route.aws_key() for route in route_table() if route.scope is None}


def offline_env() -> dict[str, str]:
    return {**os.environ, **OFFLINE_AWS_ENV}


@pytest.fixture(scope="session")
def aws_package(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`mlfn package aws` into the checkout's .build/aws, where the manifests point."""
    from core.deploy.bundle import package_aws

    return package_aws(REPO, REPO / ".build" / "aws")


def sam_template(path: Path, transform: bool = False) -> dict[str, Any]:
    """template.yaml as JSON (samtranslator's transform of it when `transform`)."""
    import json
    import subprocess
    import sys

    mode = "transform" if transform else "parse"
    result = subprocess.run(
        [sys.executable, "-m", "tests.manifests.sam_parse", str(path), mode],
        cwd=REPO, env=offline_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed
