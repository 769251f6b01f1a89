"""Trusting a gateway's forwarded claims, when a deployment asks for it.

By default the functions check every caller's JWT themselves, behind a gateway too (defence
in depth). MLFN_TRUST_GATEWAY=google|azure makes them take the claims the gateway already
validated instead, but only from a request that provably comes from that gateway:

- google: API Gateway forwards the caller's claims in `X-Apigateway-Api-Userinfo`
  (base64url JSON) and calls the private function with its own Google-signed ID token.
  That token must verify against Google's keys, come from Google, be meant for the function
  (MLFN_GATEWAY_AUDIENCE) and name the gateway's service account (MLFN_GATEWAY_ACCOUNT).
- azure: API Management forwards the claims in `X-Mlfn-Gateway-Claims` (base64url JSON) with
  `X-Mlfn-Gateway-Key`, a secret only it holds (a named value from Key Vault), which must
  equal MLFN_GATEWAY_KEY.

The forwarded claims then pass the same checks as a token's (exp, iat, iss, audience, sub).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from core.auth import AuthSettings, JwksCache, Principal, check_claims, scope_names
from core.errors import AuthenticationError, ConfigError, MlfnError

TRUST_ENV = "MLFN_TRUST_GATEWAY"
ACCOUNT_ENV, AUDIENCE_ENV = "MLFN_GATEWAY_ACCOUNT", "MLFN_GATEWAY_AUDIENCE"
KEY_ENV = "MLFN_GATEWAY_KEY"
GOOGLE_KEYS_ENV = "MLFN_GATEWAY_JWKS_URL"  # Google's, unless a test serves its own
GOOGLE_KEYS = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
GOOGLE_CLAIMS, AZURE_CLAIMS, AZURE_KEY = (
    b"x-apigateway-api-userinfo", b"x-mlfn-gateway-claims", b"x-mlfn-gateway-key",
)  # fmt: skip
MIN_KEY_LENGTH = 32
NOT_FROM_GATEWAY = "this request did not come through the API gateway"


def _decoded(value: bytes | None, header: str) -> dict[str, Any]:
    if not value:
        raise AuthenticationError(f"missing {header}: call the API through its gateway")
    try:
        claims = json.loads(base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4)))
    except ValueError:
        raise AuthenticationError(f"{header} is not base64url JSON") from None
    if not isinstance(claims, dict):
        raise AuthenticationError(f"{header} is not a JSON object")
    for name in ("exp", "iat", "nbf"):  # APIM writes every claim as a string
        if isinstance(claims.get(name), str) and claims[name].isdigit():
            claims[name] = int(claims[name])
    return claims


@dataclass
class GatewayTrust:
    kind: str
    settings: AuthSettings
    account: str = ""
    audience: str = ""
    key: str = ""
    google_keys: JwksCache | None = None

    @classmethod
    def from_env(cls, settings: AuthSettings) -> GatewayTrust | None:
        kind = os.environ.get(TRUST_ENV, "").strip().lower()
        if not kind:
            return None
        if kind == "google":
            account, audience = os.environ.get(ACCOUNT_ENV, ""), os.environ.get(AUDIENCE_ENV, "")
            if not account or not audience:
                raise ConfigError(f"{TRUST_ENV}=google needs {ACCOUNT_ENV} and {AUDIENCE_ENV}")
            keys = JwksCache(os.environ.get(GOOGLE_KEYS_ENV) or GOOGLE_KEYS)
            return cls(kind, settings, account=account, audience=audience, google_keys=keys)
        if kind == "azure":
            key = os.environ.get(KEY_ENV, "")
            if len(key) < MIN_KEY_LENGTH:
                raise ConfigError(f"{TRUST_ENV}=azure needs {KEY_ENV}, {MIN_KEY_LENGTH}+ chars")
            return cls(kind, settings, key=key)
        raise ConfigError(f"{TRUST_ENV} must be 'google' or 'azure' (got {kind!r})")

    def principal(self, headers: dict[bytes, bytes]) -> Principal:
        """The caller the gateway vouches for; AuthenticationError (401) otherwise."""
        if self.kind == "google":
            self._check_google_caller(headers.get(b"authorization", b"").decode("latin-1"))
            claims = _decoded(headers.get(GOOGLE_CLAIMS), "X-Apigateway-Api-Userinfo")
        else:
            given = headers.get(AZURE_KEY, b"")
            if not hmac.compare_digest(given, self.key.encode()):
                raise AuthenticationError(NOT_FROM_GATEWAY)
            claims = _decoded(headers.get(AZURE_CLAIMS), "X-Mlfn-Gateway-Claims")
        check_claims(claims, self.settings, time.time())
        scopes = self.settings.mlfn_scopes(scope_names(claims, self.settings.scope_claims))
        return Principal(str(claims["sub"]), scopes)

    def _check_google_caller(self, authorization: str) -> None:
        """The gateway's own ID token: Google-signed, for this function, from its account."""
        from jose import jwt

        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token or self.google_keys is None:
            raise AuthenticationError(NOT_FROM_GATEWAY)
        try:
            header = jwt.get_unverified_header(token)
            key = self.google_keys.key(header.get("kid"))
            claims = jwt.decode(token, key, algorithms=["RS256"], audience=self.audience,
                                options={"require_exp": True, "require_iat": True})  # fmt: skip
        except MlfnError:  # Google's keys unreachable: 503, said so
            raise
        except Exception:  # jose's several errors: signature, audience, expiry, form
            raise AuthenticationError(NOT_FROM_GATEWAY) from None
        if claims.get("iss") not in GOOGLE_ISSUERS or claims.get("email") != self.account:
            raise AuthenticationError(NOT_FROM_GATEWAY)
        if claims.get("email_verified") is not True:
            raise AuthenticationError(NOT_FROM_GATEWAY)
