"""JWT bearer authentication with python-jose.

The accepted algorithms come from configuration, never from the token: HS256 with
MLFN_JWT_SECRET, or RS256/ES256 with keys from MLFN_JWT_JWKS_URL. exp, iat, iss, aud and sub
are required; scopes come from the space-separated `scope` claim. With neither a secret nor a
JWKS URL configured, every token is refused (fail closed). Tokens are never logged.

A token that passed every check is remembered, by its exact text (signature included), until
its `exp` or for VERIFIED_TTL_SECONDS at most, so a client reusing it is not re-verified on
every request (python-jose takes ≈0.1 ms per decode).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core import constants
from core.errors import AuthenticationError, MissingScopeError

LEEWAY_SECONDS = 30
JWKS_REFRESH_SECONDS = 60.0
ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"]
SCOPES = ("predict", "train", "admin")
VERIFIED_TTL_SECONDS = 300.0
VERIFIED_MAX_TOKENS = 1024


@dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class AuthSettings:
    secret: str | None
    jwks_url: str | None
    issuer: str
    audience: str

    @classmethod
    def from_env(cls) -> AuthSettings:
        return cls(
            secret=os.environ.get(constants.ENV_JWT_SECRET) or None,
            jwks_url=os.environ.get(constants.ENV_JWT_JWKS_URL) or None,
            issuer=os.environ.get(constants.ENV_JWT_ISSUER, constants.DEFAULT_JWT_ISSUER),
            audience=os.environ.get(constants.ENV_JWT_AUDIENCE, constants.DEFAULT_JWT_AUDIENCE),
        )


def fetch_jwks(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (https from config)
        data: dict[str, Any] = json.load(answer)
    return data


class JwksCache:
    """Keys by kid; an unknown kid triggers a refresh at most once a minute."""

    def __init__(self, url: str, fetch: Callable[[str], dict[str, Any]] = fetch_jwks) -> None:
        self.url, self._fetch = url, fetch
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._fetched_at = -float("inf")
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> dict[str, Any]:
        with self._lock:
            if (
                kid not in self._keys
                and time.monotonic() - self._fetched_at >= JWKS_REFRESH_SECONDS
            ):
                self._fetched_at = time.monotonic()
                try:
                    keys = self._fetch(self.url).get("keys", [])
                except (OSError, ValueError):
                    raise AuthenticationError(
                        "the token's signing keys cannot be fetched"
                    ) from None
                self._keys = {k.get("kid"): k for k in keys if isinstance(k, dict)}
            if kid not in self._keys:
                raise AuthenticationError("the token was signed with an unknown key")
            return self._keys[kid]


class Authenticator:
    def __init__(self, settings: AuthSettings | None = None, jwks: JwksCache | None = None) -> None:
        self.settings = settings or AuthSettings.from_env()
        self.jwks = jwks or (JwksCache(self.settings.jwks_url) if self.settings.jwks_url else None)
        self._verified: dict[str, tuple[Principal, float]] = {}  # token -> (principal, until)

    def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("missing bearer token (Authorization: Bearer <JWT>)")
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_MAX_TOKENS:
            self._verified.clear()
        self._verified[token] = (principal, min(expires, time.time() + VERIFIED_TTL_SECONDS))
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        """The principal of a token that passes every check, and its `exp`."""
        from jose import JWTError, jwt

        settings = self.settings
        if settings.secret is None and self.jwks is None:
            raise AuthenticationError("authentication is not configured on this server")
        try:
            header = jwt.get_unverified_header(token.strip())
            if settings.secret is not None and header.get("alg") == "HS256":
                key: Any = settings.secret
                algorithms = ["HS256"]
            elif self.jwks is not None and header.get("alg") in ASYMMETRIC_ALGORITHMS:
                key = self.jwks.key(header.get("kid"))
                algorithms = ASYMMETRIC_ALGORITHMS
            else:
                raise AuthenticationError(
                    f"tokens signed with {header.get('alg')!r} are not accepted"
                )
            claims = jwt.decode(
                token.strip(),
                key,
                algorithms=algorithms,
                audience=settings.audience,
                issuer=settings.issuer,
                options={
                    "require_exp": True,
                    "require_iat": True,
                    "require_iss": True,
                    "require_aud": True,
                    "require_sub": True,
                    "leeway": LEEWAY_SECONDS,
                },
            )
        except JWTError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from None
        scope = claims.get("scope", "")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        return Principal(str(claims["sub"]), scopes), float(claims["exp"])

    @staticmethod
    def require(principal: Principal, scope: str) -> None:
        if scope not in principal.scopes:
            raise MissingScopeError(f"this call needs the '{scope}' scope")


def mint_token(
    secret: str,
    scopes: list[str],
    subject: str = "mlfn-dev",
    ttl: int = 3600,
    issuer: str = constants.DEFAULT_JWT_ISSUER,
    audience: str = constants.DEFAULT_JWT_AUDIENCE,
) -> str:
    """A signed HS256 development token."""
    from jose import jwt

    now = int(time.time())
    claims = {
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl,
        "scope": " ".join(scopes),
        "jti": uuid.uuid4().hex,
    }
    token: str = jwt.encode(claims, secret, algorithm="HS256")
    return token
