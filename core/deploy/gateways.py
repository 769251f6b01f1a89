"""The gateways in front of the GCP and Azure functions, rendered from the app's route table
(core/deploy/routes.py):

- Google API Gateway: an OpenAPI 2.0 API config, one operation per route, `x-google-backend`
  to the (private) api function, JWT checked by the gateway when an identity provider's
  keys are known (the functions check it again);
- Azure API Management: the app's OpenAPI 3 schema to import, and one API policy that
  validates the JWT like the functions do (issuer, audience, the provider's keys), limits
  calls per token subject and holds the function key, so the app answers only the gateway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.deploy.routes import Route, route_table

API_DEADLINE_S = 60.0  # the api function's own timeout
PREDICT_DEADLINE_S = 30.0
RATE_LIMIT_CALLS, RATE_LIMIT_PERIOD_S = 600, 60  # per token subject, per APIM instance


@dataclass(frozen=True)
class Jwt:
    issuer: str
    audience: str
    jwks_url: str | None  # None: HS256 with a shared secret, which no gateway can check


def _operation_id(route: Route) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", route.path.lower()).strip("_") or "root"
    return f"{route.method.lower()}_{slug}"


def _google_path(route: Route) -> str:
    """As the app has it: the docs' files are one segment deep, so `{file}` (not Google's
    `{file=**}`, which Swagger 2.0 validators cannot resolve) covers them."""
    return route.path


def _google_operation(route: Route, backend: str, jwt: Jwt) -> dict[str, Any]:
    deadline = PREDICT_DEADLINE_S if route.path == "/predict" else API_DEADLINE_S
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": f"{route.method} {route.path}"
        + (f" (scope {route.scope})" if route.scope else ""),
        "x-google-backend": {
            "address": backend,
            "path_translation": "APPEND_PATH_TO_ADDRESS",
            "deadline": deadline,
        },
        "responses": {"200": {"description": "the app's answer (see its /openapi.json)"}},
    }
    if route.parameters:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "type": "string"}
            for name in route.parameters
        ]
    if route.scope and jwt.jwks_url:
        operation["security"] = [{"jwt": []}]
    return operation


def google_api_config(name: str, backend: str, jwt: Jwt) -> dict[str, Any]:
    """The API config for `gcloud api-gateway api-configs create --openapi-spec`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in route_table():
        paths.setdefault(_google_path(route), {})[route.method.lower()] = _google_operation(
            route, backend, jwt
        )
    spec: dict[str, Any] = {
        "swagger": "2.0",
        "info": {
            "title": name,
            "description": "mlfn behind Google API Gateway",
            "version": "1.0.0",
        },
        "schemes": ["https"],
        "produces": ["application/json"],
        "paths": paths,
    }
    if jwt.jwks_url:
        spec["securityDefinitions"] = {
            "jwt": {
                "authorizationUrl": jwt.issuer,  # unused by the gateway; a URI for Swagger
                "flow": "implicit",
                "type": "oauth2",
                "x-google-issuer": jwt.issuer,
                "x-google-jwks_uri": jwt.jwks_url,
                "x-google-audiences": jwt.audience,
            }
        }
    return spec


SUBJECT_KEY = (
    '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject'
    " ?? context.Request.IpAddress)"
)


def _protected_condition() -> str:
    """APIM's C# condition: true for every path but the public ones."""
    public = sorted({r.path for r in route_table() if r.scope is None and not r.greedy})
    listed = ", ".join(f'"{path}"' for path in public)
    return (
        f"@(!new [] {{{listed}}}.Contains(context.Request.Url.Path)"
        ' && !context.Request.Url.Path.StartsWith("/docs/static/"))'
    )


def _validate_jwt(parent: Any, jwt: Jwt, openid_config: str | None, keep: bool = False) -> None:
    from xml.etree.ElementTree import SubElement

    check = SubElement(parent, "validate-jwt", {
        "header-name": "Authorization", "require-scheme": "Bearer",
        "failed-validation-httpcode": "401",
        "failed-validation-error-message": "missing or invalid bearer token",
        "require-expiration-time": "true", "require-signed-tokens": "true",
        **({"output-token-variable-name": "mlfn-jwt"} if keep else {}),
    })  # fmt: skip
    if openid_config:
        SubElement(check, "openid-config", {"url": openid_config})
    else:  # HS256: the Key Vault secret, as a secret named value (infra/azure/gateway.sh)
        keys = SubElement(check, "issuer-signing-keys")
        SubElement(keys, "key").text = "{{mlfn-jwt-secret-base64}}"
    SubElement(SubElement(check, "audiences"), "audience").text = jwt.audience
    SubElement(SubElement(check, "issuers"), "issuer").text = jwt.issuer


FORWARDED_CLAIMS = (  # the validated token's claims, as base64url JSON (core/gateway_trust.py)
    '@{var jwt = (Jwt)context.Variables["mlfn-jwt"]; var claims = new JObject();'
    " foreach (var claim in jwt.Claims) { claims[claim.Key] = claim.Value.Length == 1"
    " ? (JToken)claim.Value[0] : new JArray(claim.Value); }"
    " var text = claims.ToString(Newtonsoft.Json.Formatting.None);"
    " return Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text))"
    ".TrimEnd('=').Replace('+', '-').Replace('/', '_');}"
)


def apim_policy(jwt: Jwt, openid_config: str | None, forward_claims: bool = False) -> str:
    """The API-level inbound policy: validate-jwt on every protected route (the same issuer,
    audience and keys the functions trust), a rate limit per token subject, and the
    function key that lets the gateway, and only it, call the app. With `forward_claims`
    (azure.trust_gateway), the validated claims and the gateway's secret go to the app,
    which then takes the claims instead of checking the token again."""
    from xml.etree.ElementTree import Element, SubElement, indent, tostring

    policies = Element("policies")
    inbound = SubElement(policies, "inbound")
    SubElement(inbound, "base")
    when = SubElement(SubElement(inbound, "choose"), "when", {"condition": _protected_condition()})
    _validate_jwt(when, jwt, openid_config, forward_claims)
    if forward_claims:
        for name, value in (("X-Mlfn-Gateway-Claims", FORWARDED_CLAIMS),
                            ("X-Mlfn-Gateway-Key", "{{mlfn-gateway-key}}")):  # fmt: skip
            forwarded = SubElement(when, "set-header", {"name": name, "exists-action": "override"})
            SubElement(forwarded, "value").text = value
    SubElement(when, "rate-limit-by-key", {
        "calls": str(RATE_LIMIT_CALLS), "renewal-period": str(RATE_LIMIT_PERIOD_S),
        "counter-key": SUBJECT_KEY,
    })  # fmt: skip
    header = SubElement(
        inbound, "set-header", {"name": "x-functions-key", "exists-action": "override"}
    )
    SubElement(header, "value").text = "{{mlfn-function-key}}"
    for section in ("backend", "outbound", "on-error"):
        SubElement(SubElement(policies, section), "base")
    indent(policies)
    return tostring(policies, encoding="unicode") + "\n"


def apim_openapi(name: str) -> dict[str, Any]:
    """The app's OpenAPI 3 schema for `az apim api import`, one operation per route of the
    route table (the docs pages too, which the app's own schema leaves out)."""
    from fastapi.openapi.utils import get_openapi

    from core.api.app import create_app

    app = create_app()
    schema: dict[str, Any] = get_openapi(title=name, version="1.0.0", routes=app.routes)
    for route in route_table():
        operations = schema["paths"].setdefault(route.path, {})
        operations.setdefault(
            route.method.lower(),
            {
                "operationId": _operation_id(route),
                "parameters": [
                    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                    for n in route.parameters
                ],
                "responses": {"200": {"description": "OK"}},
            },
        )
    return schema
