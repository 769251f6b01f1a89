"""GIVEN tokens shaped like those of real identity providers (Cognito access and ID, Auth0,
Okta, Entra ID v1 and v2, Google), signed with local RSA and EC keys served as a JWKS over
loopback WHEN the API checks them THEN the audience and scopes are read as each IdP writes
them — and every malformed or lax token is a 401, never a 500."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jwt

from core.auth import Authenticator, AuthSettings, JwksCache
from core.errors import AuthenticationError, UnavailableError

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_jwk(key: Any, alg: str, kid: str) -> dict[str, Any]:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    data = jwk.construct(public, alg).to_dict()
    data = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in data.items()}
    return {**data, "kid": kid, "use": "sig", "alg": alg}


JWKS = {"keys": [_public_jwk(RSA_KEY, "RS256", "rsa-1"), _public_jwk(EC_KEY, "ES256", "ec-1")]}


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    body = json.dumps(JWKS).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_port}"
            data = body
            if self.path == "/.well-known/openid-configuration":  # OIDC discovery
                data = json.dumps({"issuer": base, "jwks_uri": f"{base}/keys"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()


def sign(claims: dict[str, Any], alg: str = "RS256", **header: Any) -> str:
    key, kid = (RSA_KEY, "rsa-1") if alg == "RS256" else (EC_KEY, "ec-1")
    headers = {"kid": kid, **header}
    return str(jwt.encode(claims, _pem(key).decode(), algorithm=alg, headers=headers))


def times(ttl: int = 3600) -> dict[str, int]:
    now = int(time.time())
    return {"iat": now, "exp": now + ttl}


COGNITO = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E"
ENTRA_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ENTRA_CLIENT = "6e74172b-be56-4843-9ff4-e66a39bb12e3"

# (IdP, claims, algorithm, settings changes, the mlfn scopes expected)
PROVIDERS = [
    (
        "cognito-access",
        {
            "iss": COGNITO,
            "sub": "a1b2",
            "client_id": "7abc",
            "token_use": "access",
            "scope": "mlfn/predict mlfn/train",
        },
        "RS256",
        {
            "issuer": COGNITO,
            "audience": "7abc",
            "audience_claim": "client_id",
            "scope_prefixes": ("mlfn/",),
        },
        {"predict", "train"},
    ),
    (
        "cognito-id",
        {
            "iss": COGNITO,
            "sub": "a1b2",
            "aud": "7abc",
            "token_use": "id",
            "cognito:groups": ["admin", "ops"],
        },
        "RS256",
        {
            "issuer": COGNITO,
            "audience": "7abc",
            "scope_claims": ("scope", "scp", "roles", "cognito:groups"),
        },
        {"admin"},
    ),
    (
        "auth0",
        {
            "iss": "https://tenant.eu.auth0.com/",
            "sub": "auth0|42",
            "aud": ["https://api.mlfn.example", "https://tenant.eu.auth0.com/userinfo"],
            "scope": "openid predict",
            "permissions": ["train"],
        },
        "ES256",
        {
            "issuer": "https://tenant.eu.auth0.com/",
            "audience": "https://api.mlfn.example",
            "scope_claims": ("scope", "scp", "roles", "permissions"),
        },
        {"predict", "train"},
    ),
    (
        "okta",
        {
            "iss": "https://dev-1.okta.com/oauth2/default",
            "sub": "00u1",
            "aud": "api://mlfn",
            "scp": ["mlfn.predict", "mlfn.admin"],
            "cid": "0oa1",
        },
        "RS256",
        {
            "issuer": "https://dev-1.okta.com/oauth2/default",
            "audience": "api://mlfn",
            "scope_map": (("mlfn.predict", "predict"), ("mlfn.admin", "admin")),
        },
        {"predict", "admin"},
    ),
    (
        "entra-v1",
        {
            "iss": f"https://sts.windows.net/{ENTRA_TENANT}/",
            "sub": "x",
            "aud": "api://mlfn",
            "scp": "predict",
            "roles": ["admin"],
            "ver": "1.0",
        },
        "RS256",
        {"issuer": f"https://sts.windows.net/{ENTRA_TENANT}/", "audience": "api://mlfn"},
        {"predict", "admin"},
    ),
    (
        "entra-v2",
        {
            "iss": f"https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0",
            "sub": "y",
            "aud": ENTRA_CLIENT,
            "scp": "train predict",
            "ver": "2.0",
        },
        "RS256",
        {
            "issuer": f"https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0",
            "audience": ENTRA_CLIENT,
        },
        {"train", "predict"},
    ),
    (
        "google",
        {
            "iss": "https://accounts.google.com",
            "sub": "1098",
            "aud": "mlfn-run.app",
            "email": "ci@example.iam.gserviceaccount.com",
            "roles": ["api://mlfn/predict"],
        },
        "RS256",
        {
            "issuer": "https://accounts.google.com",
            "audience": "mlfn-run.app",
            "scope_prefixes": ("api://mlfn/",),
        },
        {"predict"},
    ),
]


def authenticator(jwks_url: str, **changes: Any) -> Authenticator:
    base: dict[str, Any] = {
        "secret": None,
        "jwks_url": jwks_url,
        "issuer": COGNITO,
        "audience": "7abc",
    }
    return Authenticator(AuthSettings(**{**base, **changes}))


@pytest.mark.parametrize(
    ("name", "claims", "alg", "changes", "scopes"), PROVIDERS, ids=[p[0] for p in PROVIDERS]
)
def test_real_identity_provider_tokens(
    jwks_url: str, name: str, claims: dict, alg: str, changes: dict, scopes: set
) -> None:
    principal = authenticator(jwks_url, **changes).authenticate(
        f"Bearer {sign({**claims, **times()}, alg)}"
    )
    assert principal.scopes == scopes and principal.subject == claims["sub"]


def _cognito(**changes: Any) -> dict[str, Any]:
    return {"iss": COGNITO, "sub": "s", "aud": "7abc", "scope": "predict", **times(), **changes}


BAD = [
    ("exp null", sign(_cognito(exp=None)), "'exp' must be a number"),
    ("exp string", sign(_cognito(exp=str(int(time.time()) + 60))), "'exp' must be a number"),
    ("iat in the future", sign(_cognito(iat=int(time.time()) + 3600)), "in the future"),
    ("nbf in the future", sign(_cognito(nbf=int(time.time()) + 3600)), "not valid yet"),
    ("too long-lived", sign(_cognito(exp=int(time.time()) + 10 * 86400)), "lives longer"),
    ("unknown crit", sign(_cognito(), crit=["exp-policy"]), "critical"),
    ("EC alg with an RSA key", sign(_cognito(), "ES256", kid="rsa-1"), "does not fit"),
    ("RSA alg with an EC key", sign(_cognito(), "RS256", kid="ec-1"), "does not fit"),
    ("HS256 without a secret", str(jwt.encode(_cognito(), "x" * 32, "HS256")), "not accepted"),
    ("wrong audience", sign(_cognito(aud="other")), "wrong audience"),
    ("no sub", sign({k: v for k, v in _cognito().items() if k != "sub"}), "'sub'"),
    ("garbage", "eyJhbGciOiJSUzI1NiJ9.e30", "well-formed"),
    ("a number as header", "MTIz.e30.c2ln", "well-formed"),
]


@pytest.mark.parametrize(("name", "token", "message"), BAD, ids=[b[0] for b in BAD])
def test_lax_or_malformed_tokens_are_401(
    jwks_url: str, name: str, token: str, message: str
) -> None:
    with pytest.raises(AuthenticationError, match=message) as raised:
        authenticator(jwks_url).authenticate(f"Bearer {token}")
    assert raised.value.status == 401


def test_unreachable_jwks_with_nothing_cached_is_503() -> None:
    def down(url: str) -> dict:
        raise OSError("connection refused")

    auth = Authenticator(
        AuthSettings(None, "https://idp.invalid/jwks", COGNITO, "7abc"),
        JwksCache("https://idp.invalid/jwks", fetch=down),
    )
    with pytest.raises(UnavailableError, match="cannot be fetched") as raised:
        auth.authenticate(f"Bearer {sign(_cognito())}")
    assert raised.value.status == 503


def test_keys_discovered_from_the_issuer_as_api_gateway_does(jwks_url: str) -> None:
    """MLFN_JWT_JWKS_URL=discover (the manifests' idp mode): the keys come from the issuer's
    discovery document, so the functions trust what the gateway's authorizer trusts; the
    audience may be in aud or client_id, as the gateway reads it."""
    issuer = jwks_url.split("/.well-known")[0]
    settings = AuthSettings(
        None, "discover", issuer, "7abc", audience_claim="aud,client_id", scope_prefixes=("mlfn/",)
    )
    auth = Authenticator(settings)
    access = sign(
        {"iss": issuer, "sub": "s", "client_id": "7abc", "scope": "mlfn/train", **times()}
    )
    assert auth.authenticate(f"Bearer {access}").scopes == {"train"}
    identity = sign(
        {"iss": issuer, "sub": "s", "aud": "7abc", "scope": "mlfn/predict", **times()}, "ES256"
    )
    assert auth.authenticate(f"Bearer {identity}").scopes == {"predict"}
