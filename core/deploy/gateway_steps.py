"""The gateway part of `mlfn deploy gcp|azure`: the files `mlfn bundle` renders into
.build/ and the steps that create or update each gateway from them (infra/*/gateway.sh)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core import constants
from core.deploy.gateways import Jwt, apim_openapi, apim_policy, google_api_config

GCP_SPEC = "gateway.yaml"  # under .build/gcp/
APIM_SPEC, APIM_POLICY = "openapi.json", "policy.xml"  # under .build/azure-apim/, not uploaded
APIM_BUILD = Path(".build") / "azure-apim"


def gateway_jwt(cloud_settings: dict[str, Any]) -> Jwt:
    """The issuer, audience and keys the functions trust, for the gateway to trust too."""
    issuer = os.environ.get(constants.ENV_JWT_ISSUER, constants.DEFAULT_JWT_ISSUER)
    audience = os.environ.get(constants.ENV_JWT_AUDIENCE, constants.DEFAULT_JWT_AUDIENCE)
    jwks = str(cloud_settings.get("jwks_url") or os.environ.get(constants.ENV_JWT_JWKS_URL) or "")
    return Jwt(issuer, audience, jwks if jwks.startswith("https://") else None)


def openid_config(issuer: str, cloud_settings: dict[str, Any]) -> str | None:
    given = cloud_settings.get("openid_config")
    if given:
        return str(given)
    if issuer.startswith("https://"):
        return f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    return None  # secret mode: HS256 tokens, checked with the Key Vault secret


def gcp_gateway_on(gcp: dict[str, Any]) -> bool:
    return bool(gcp.get("gateway", True))


def write_gcp_gateway(
    build: Path, name: str, project: str, region: str, gcp: dict[str, Any]
) -> Path:
    backend = f"https://{region}-{project}.cloudfunctions.net/{name}-api"
    spec = google_api_config(f"{name}-api", backend, gateway_jwt(gcp))
    path = build / GCP_SPEC
    path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")  # JSON is YAML too
    return path


def gcp_gateway_argv(name: str, project: str, region: str, account: str) -> list[str]:
    spec = str(Path(".build") / "gcp" / GCP_SPEC)
    return ["bash", "infra/gcp/gateway.sh", name, project, region, spec, account]


def write_azure_gateway(root: Path, app: str, azure: dict[str, Any]) -> list[Path]:
    jwt = gateway_jwt(azure)
    build = root / APIM_BUILD
    build.mkdir(parents=True, exist_ok=True)
    spec, policy = build / APIM_SPEC, build / APIM_POLICY
    spec.write_text(json.dumps(apim_openapi(app), indent=2) + "\n", encoding="utf-8")
    forward = bool(azure.get("trust_gateway"))
    policy.write_text(apim_policy(jwt, openid_config(jwt.issuer, azure), forward), encoding="utf-8")
    return [spec, policy]


def azure_gateway_argv(app: str, group: str, azure: dict[str, Any]) -> list[str] | None:
    """None without `azure.apim` (the API Management instance, made once: docs/gateways.md)."""
    apim = azure.get("apim")
    if not apim:
        return None
    argv = ["bash", "infra/azure/gateway.sh", app, group, str(apim),
            str(APIM_BUILD / APIM_SPEC), str(APIM_BUILD / APIM_POLICY)]  # fmt: skip
    jwt = gateway_jwt(azure)
    if openid_config(jwt.issuer, azure) is None:  # secret mode: the gateway reads the vault
        argv.append(str(azure.get("key_vault") or f"kv-{app}"[:24]))
    return argv
