"""Google API Gateway and Azure API Management, rendered from the app's route table and
validated offline; the functions behind them still check every token themselves."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from core.cli import main
from core.deploy.gateways import Jwt, apim_openapi, apim_policy, google_api_config
from core.deploy.routes import route_table
from tests.manifests.conftest import REPO

IDP = Jwt("https://issuer.example.com/", "mlfn-api", "https://issuer.example.com/jwks.json")
BACKEND = "https://us-central1-acme.cloudfunctions.net/mlfn-iris-staging-api"
APP_ROUTES = {(r.method, r.path) for r in route_table()}


def test_the_route_table_is_the_app_s() -> None:
    assert ("POST", "/predict") in APP_ROUTES and ("POST", "/jobs/{job_id}/cancel") in APP_ROUTES
    scopes = {(r.method, r.path): r.scope for r in route_table()}
    assert scopes[("POST", "/models/{version}/promote")] == "admin"
    assert scopes[("GET", "/jobs")] == "train" and scopes[("GET", "/health")] is None


def _operations(paths: dict[str, Any]) -> set[tuple[str, str]]:
    methods = {"get", "post", "put", "delete", "patch"}
    return {(m.upper(), p) for p, ops in paths.items() for m in ops if m in methods}


def test_google_api_config_is_swagger_2_with_one_operation_per_route() -> None:
    spec = google_api_config("mlfn-iris-staging-api", BACKEND, IDP)
    validate(spec)  # Swagger 2.0, extensions and all
    assert _operations(spec["paths"]) == APP_ROUTES
    jwt = spec["securityDefinitions"]["jwt"]
    assert (jwt["x-google-issuer"], jwt["x-google-jwks_uri"], jwt["x-google-audiences"]) == (
        IDP.issuer, IDP.jwks_url, IDP.audience)  # fmt: skip
    for route in route_table():
        operation = spec["paths"][route.path][route.method.lower()]
        backend = operation["x-google-backend"]
        assert backend["address"] == BACKEND
        assert backend["path_translation"] == "APPEND_PATH_TO_ADDRESS"
        assert 0 < backend["deadline"] <= 60
        assert ("security" in operation) == (route.scope is not None), route
    secret_mode = google_api_config("n", BACKEND, Jwt("mlfn", "mlfn-api", None))
    validate(secret_mode)  # HS256: no gateway JWT check, the functions check it
    assert "securityDefinitions" not in secret_mode


def test_apim_api_and_policy() -> None:
    openapi = apim_openapi("mlfn-iris-staging")
    validate(openapi)
    assert _operations(openapi["paths"]) == APP_ROUTES
    policy = ET.fromstring(
        apim_policy(IDP, "https://issuer.example.com/.well-known/openid-configuration")
    )
    check = policy.find("inbound/choose/when/validate-jwt")
    assert check is not None and check.get("require-scheme") == "Bearer"
    assert check.find("openid-config").get("url").endswith("/.well-known/openid-configuration")
    assert check.find("audiences/audience").text == "mlfn-api"
    assert check.find("issuers/issuer").text == IDP.issuer
    condition = policy.find("inbound/choose/when").get("condition")
    public = {r.path for r in route_table() if r.scope is None and not r.greedy}
    assert set(re.findall(r'"(/[^"]*)"', condition)) - {"/docs/static/"} == public
    limit = policy.find("inbound/choose/when/rate-limit-by-key")
    assert "AsJwt()?.Subject" in limit.get("counter-key") and int(limit.get("calls")) > 0
    assert policy.find("inbound/set-header/value").text == "{{mlfn-function-key}}"
    secret = ET.fromstring(apim_policy(Jwt("mlfn", "mlfn-api", None), None))
    key = secret.find("inbound/choose/when/validate-jwt/issuer-signing-keys/key")
    assert key is not None and key.text == "{{mlfn-jwt-secret-base64}}"


def _dry_run(cloud: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    config = REPO / "examples" / "clouds" / cloud / "config.json"
    assert main(["deploy", cloud, "--env", "staging", "--config", str(config), "--dry-run",
                 "--json"]) == 0  # fmt: skip
    return json.loads(capsys.readouterr().out)


def test_deploy_gcp_puts_the_gateway_in_front(capsys: pytest.CaptureFixture[str]) -> None:
    steps = _dry_run("gcp", capsys)
    api = next(s["argv"] for s in steps if "mlfn-iris-staging-api" in s["argv"])
    assert "--no-allow-unauthenticated" in api  # only the gateway's account invokes it
    gateway = steps[-1]["argv"]
    assert (
        gateway[:2] == ["bash", "infra/gcp/gateway.sh"] and gateway[5] == ".build/gcp/gateway.yaml"
    )
    script = (REPO / "infra" / "gcp" / "gateway.sh").read_text()
    for command in ("apis create", "api-configs create", "gateways create", "gateways update"):
        assert f"gcloud api-gateway {command}" in script
    assert "--backend-auth-service-account" in script


def test_bundle_gcp_renders_the_api_config(capsys: pytest.CaptureFixture[str]) -> None:
    config = REPO / "examples" / "clouds" / "gcp" / "config.json"
    assert main(["bundle", "gcp", "--env", "staging", "--config", str(config)]) == 0
    spec = json.loads((REPO / ".build" / "gcp" / "gateway.yaml").read_text())
    validate(spec)
    assert _operations(spec["paths"]) == APP_ROUTES
    env = (REPO / ".build" / "gcp" / "env.staging.yaml").read_text()
    assert 'MLFN_GATEWAY: "google"' in env


def test_deploy_azure_puts_apim_in_front(capsys: pytest.CaptureFixture[str]) -> None:
    steps = _dry_run("azure", capsys)
    settings = next(s["argv"] for s in steps if s["argv"][:2] == ["az", "functionapp"])
    assert "MLFN_AZURE_AUTH_LEVEL=function" in settings
    gateway = steps[-1]["argv"]
    assert gateway[:2] == ["bash", "infra/azure/gateway.sh"] and "mlfn-iris-staging-apim" in gateway
    for script in ("infra/azure/gateway.sh", "infra/gcp/gateway.sh"):
        checked = subprocess.run(["bash", "-n", str(REPO / script)], capture_output=True)
        assert checked.returncode == 0, checked.stderr


def test_behind_google_the_token_is_read_from_x_forwarded_authorization(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's own ID token takes Authorization; the caller's token, in
    X-Forwarded-Authorization, is still checked in full (defence in depth)."""
    from core.api import create_app
    from core.training.run import train
    from tests.conftest import project_settings
    from tests.unit.test_api import local_services, token

    settings, store = project_settings(tmp_path)
    train(settings, store, model_types=["logistic_regression"])
    monkeypatch.setenv("MLFN_GATEWAY", "google")
    client = TestClient(create_app(local_services(settings, store)))
    caller = token("predict")["Authorization"]
    google = {"Authorization": "Bearer a-google-signed-id-token-for-the-function"}
    assert (
        client.get("/models", headers={**google, "X-Forwarded-Authorization": caller}).status_code
        == 200
    )
    assert client.get("/models", headers={"Authorization": caller}).status_code == 401
    forged = {**google, "X-Forwarded-Authorization": "Bearer not.a.jwt"}
    assert client.get("/models", headers=forged).status_code == 401
