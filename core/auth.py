"""JWT bearer authentication with python-jose.

The accepted algorithms come from configuration, never from the token: HS256 with
MLFN_JWT_SECRET, or RS256/ES256 with keys from MLFN_JWT_JWKS_URL (the key's type must fit).
exp and iat (numbers), iss, the audience (`aud`, or `client_id` for Cognito access tokens)
and sub are required; iat may not lie in the future, a token may not live longer than
MLFN_JWT_MAX_TTL, and an unknown `crit` header is refused. Scopes come from `scope`, `scp`
(strings or arrays), `roles` and a configured claim, mapped from the IdP's names. Every
token failure is a 401; an unreachable JWKS with no cached keys is a 503. With neither a
secret nor a JWKS URL configured, every token is refused (fail closed). Tokens are never
logged.

A token that passed every check is remembered, by its exact text (signature included), until
its `exp` or for VERIFIED_TTL_SECONDS at most, so a client reusing it is not re-verified on
every request (python-jose takes ≈0.1 ms per decode).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core import constants, jws
from core.errors import AuthenticationError, MissingScopeError, UnavailableError

LEEWAY_SECONDS = 30
DEFAULT_MAX_TTL_SECONDS = 24 * 3600.0
DEFAULT_SCOPE_CLAIMS = ("scope", "scp", "roles")
KEY_TYPES = {"RS256": "RSA", "ES256": "EC", "HS256": "oct"}
JWKS_REFRESH_SECONDS = 60.0
ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"]
SCOPES = ("predict", "train", "admin", "feedback")
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
    audience_claim: str = "aud"  # "client_id" for Cognito access tokens; "aud,client_id": either
    scope_claims: tuple[str, ...] = DEFAULT_SCOPE_CLAIMS
    scope_map: tuple[tuple[str, str], ...] = ()  # IdP scope name -> mlfn scope
    scope_prefixes: tuple[str, ...] = ()  # e.g. "mlfn/", "api://mlfn/"
    max_ttl: float = DEFAULT_MAX_TTL_SECONDS

    @classmethod
    def from_env(cls) -> AuthSettings:
        env = os.environ.get
        extra_claim = env(constants.ENV_JWT_SCOPE_CLAIM)
        return cls(
            secret=env(constants.ENV_JWT_SECRET) or None,
            jwks_url=env(constants.ENV_JWT_JWKS_URL) or None,
            issuer=env(constants.ENV_JWT_ISSUER, constants.DEFAULT_JWT_ISSUER),
            audience=env(constants.ENV_JWT_AUDIENCE, constants.DEFAULT_JWT_AUDIENCE),
            audience_claim=env(constants.ENV_JWT_AUDIENCE_CLAIM) or "aud",
            scope_claims=(*DEFAULT_SCOPE_CLAIMS, *([extra_claim] if extra_claim else [])),
            scope_map=_pairs(env(constants.ENV_JWT_SCOPE_MAP, "")),
            scope_prefixes=tuple(
                p for p in env(constants.ENV_JWT_SCOPE_PREFIXES, "").split(",") if p.strip()
            ),
            max_ttl=float(env(constants.ENV_JWT_MAX_TTL) or DEFAULT_MAX_TTL_SECONDS),
        )

    def mlfn_scopes(self, names: set[str]) -> frozenset[str]:
        """The mlfn scopes among an IdP's scope names (mapped, or prefix stripped)."""
        mapping = dict(self.scope_map)
        found = set()
        for name in names:
            name = mapping.get(name, name)
            for prefix in self.scope_prefixes:
                if name.startswith(prefix):
                    name = name[len(prefix) :]
            if name in SCOPES:
                found.add(name)
        return frozenset(found)


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """`idp=mlfn,idp2=mlfn2` as pairs (MLFN_JWT_SCOPE_MAP)."""
    pairs = []
    for item in text.split(","):
        if "=" in item:
            left, _, right = item.partition("=")
            pairs.append((left.strip(), right.strip()))
    return tuple(pairs)


DISCOVER = "discover"  # MLFN_JWT_JWKS_URL: find the keys from the issuer, as API Gateway does


def discovered_jwks_url(issuer: str) -> str:
    """The `jwks_uri` of an OpenID provider (`<issuer>/.well-known/openid-configuration`),
    on the issuer's own host."""
    from urllib.parse import urlsplit

    config = fetch_jwks(issuer.rstrip("/") + "/.well-known/openid-configuration")
    uri = config.get("jwks_uri")
    if not isinstance(uri, str) or urlsplit(uri).hostname != urlsplit(issuer).hostname:
        raise ValueError("the issuer's discovery document names no jwks_uri on its own host")
    return uri


def fetch_jwks(url: str) -> dict[str, Any]:
    import urllib.request  # only where keys are fetched: http.client is not cheap to import

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
                except (OSError, ValueError, AttributeError):
                    if not self._keys:  # nothing cached: the server cannot check any token
                        raise UnavailableError(
                            "the identity provider's signing keys cannot be fetched; retry later"
                        ) from None
                    keys = list(self._keys.values())
                self._keys = {k.get("kid"): k for k in keys if isinstance(k, dict)}
            if kid not in self._keys:
                raise AuthenticationError("the token was signed with an unknown key")
            return self._keys[kid]


def _jwks_cache(settings: AuthSettings) -> JwksCache | None:
    if not settings.jwks_url:
        return None
    if settings.jwks_url == DISCOVER:
        issuer = settings.issuer
        return JwksCache(issuer, fetch=lambda _: fetch_jwks(discovered_jwks_url(issuer)))
    return JwksCache(settings.jwks_url)


class Authenticator:
    def __init__(self, settings: AuthSettings | None = None, jwks: JwksCache | None = None) -> None:
        self.settings = settings or AuthSettings.from_env()
        self.jwks = jwks or _jwks_cache(self.settings)
        self._verified: dict[str, tuple[Principal, float]] = {}  # token -> (principal, until)
        self.gateway: Any = None  # a GatewayTrust when the deployment trusts its gateway

    def authenticate(self, authorization: str | None) -> Principal:
        token = _bearer_token(authorization)
        if not token:
            raise AuthenticationError("missing bearer token (Authorization: Bearer <JWT>)")
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_MAX_TOKENS:
            self._verified.clear()
        self._verified[token] = (principal, min(expires, time.time() + VERIFIED_TTL_SECONDS))
        return principal

    def verified_before(self, authorization: str) -> Principal | None:
        """The principal of a bearer token that passed every check before and has not run
        out since; None for any other (`authenticate` then checks it in full, or refuses).
        A lookup only: it never verifies, so it never fails."""
        known = self._verified.get(_bearer_token(authorization))
        if known is not None and time.time() < known[1]:
            return known[0]
        return None

    def _verify(self, token: str) -> tuple[Principal, float]:
        """The principal of a token that passes every check, and its `exp`."""
        if self.settings.secret is None and self.jwks is None:
            raise AuthenticationError("authentication is not configured on this server")
        parsed = jws.parse(token)
        if "crit" in parsed.header:
            raise AuthenticationError("invalid token: unsupported critical header parameters")
        key, algorithm = self._key_for(parsed.header)
        if algorithm == "HS256":  # the standard library's HMAC (core/jws.py)
            claims = jws.hs256_claims(parsed, key)
        else:
            claims = _asymmetric_claims(token, key, algorithm)
        expires = check_claims(claims, self.settings, time.time())
        scopes = self.settings.mlfn_scopes(scope_names(claims, self.settings.scope_claims))
        return Principal(str(claims["sub"]), scopes), expires

    def _key_for(self, header: dict[str, Any]) -> tuple[Any, str]:
        """The key and the one algorithm a token with this header may be checked with."""
        alg = header.get("alg")
        if self.settings.secret is not None and alg == "HS256":
            return self.settings.secret, "HS256"
        if self.jwks is not None and alg in ASYMMETRIC_ALGORITHMS:
            kid = header.get("kid")
            key = self.jwks.key(kid if isinstance(kid, str) else None)
            if key.get("kty") != KEY_TYPES[str(alg)]:
                raise AuthenticationError(f"invalid token: {alg} does not fit the key's type")
            return key, str(alg)
        raise AuthenticationError(f"tokens signed with {alg!r} are not accepted")

    @staticmethod
    def require(principal: Principal, scope: str) -> None:
        if scope not in principal.scopes:
            raise MissingScopeError(f"this call needs the '{scope}' scope")


def _bearer_token(authorization: str | None) -> str:
    """The token of `Bearer <token>` (the scheme in any case); "" for anything else."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _asymmetric_claims(token: str, key: Any, algorithm: str) -> dict[str, Any]:
    """The claims of an RS256/ES256 token whose signature verifies with `key` (python-jose)."""
    from jose import jwt

    try:
        claims = jwt.decode(token, key, algorithms=[algorithm], options=SIGNATURE_ONLY)
    except Exception:  # a bad signature, or a key that does not fit the algorithm
        raise AuthenticationError("invalid token: the signature does not verify") from None
    if not isinstance(claims, dict):
        raise AuthenticationError("invalid token: the claims are not an object")
    return claims


SIGNATURE_ONLY = {  # the claims are checked by check_claims, strictly
    "verify_signature": True,
    "verify_aud": False,
    "verify_iat": False,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iss": False,
    "verify_sub": False,
    "verify_jti": False,
    "verify_at_hash": False,
}


def _number(claims: dict[str, Any], name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required and name not in claims:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise AuthenticationError(f"invalid token: '{name}' must be a number of seconds")
    return float(value)


def check_claims(claims: dict[str, Any], settings: AuthSettings, now: float) -> float:
    """exp, iat (numbers), nbf (optional), iss, the audience and sub; returns exp."""
    expires = _number(claims, "exp", True)
    issued = _number(claims, "iat", True)
    not_before = _number(claims, "nbf", False)
    assert expires is not None and issued is not None
    if now > expires + LEEWAY_SECONDS:
        raise AuthenticationError("invalid token: it has expired")
    if issued > now + LEEWAY_SECONDS:
        raise AuthenticationError("invalid token: 'iat' is in the future")
    if not_before is not None and not_before > now + LEEWAY_SECONDS:
        raise AuthenticationError("invalid token: not valid yet ('nbf')")
    if expires - issued > settings.max_ttl:
        raise AuthenticationError(
            f"invalid token: it lives longer than the {settings.max_ttl:.0f} s allowed"
        )
    if claims.get("iss") != settings.issuer:
        raise AuthenticationError("invalid token: wrong issuer ('iss')")
    audiences: list[Any] = []
    for claim in settings.audience_claim.split(","):  # e.g. "aud,client_id" as API Gateway
        value = claims.get(claim.strip())
        audiences.extend(value if isinstance(value, list) else [value])
    if settings.audience not in audiences:
        raise AuthenticationError(f"invalid token: wrong audience ('{settings.audience_claim}')")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthenticationError("invalid token: 'sub' must be a non-empty string")
    return expires


def scope_names(claims: dict[str, Any], claim_names: tuple[str, ...]) -> set[str]:
    """Scope names from each claim: a space-separated string or an array of strings."""
    names: set[str] = set()
    for claim in claim_names:
        value = claims.get(claim)
        if isinstance(value, str):
            names.update(value.split())
        elif isinstance(value, list):
            names.update(v for v in value if isinstance(v, str))
    return names


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
