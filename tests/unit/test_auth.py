"""JWT checks: pinned algorithms, required claims, scopes, JWKS, fail closed."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from core.auth import Authenticator, AuthSettings, JwksCache, mint_token
from core.errors import AuthenticationError, MissingScopeError

SECRET = "s3cret-for-tests-only-0123456789abcdef"
SETTINGS = AuthSettings(secret=SECRET, jwks_url=None, issuer="mlfn", audience="mlfn-api")


def claims(**changes: object) -> dict:
    now = int(time.time())
    base = {
        "sub": "alice",
        "iss": "mlfn",
        "aud": "mlfn-api",
        "iat": now,
        "exp": now + 600,
        "scope": "predict train",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def bearer(token: str) -> str:
    return f"Bearer {token}"


def signed(payload: dict, secret: str = SECRET) -> str:
    return bearer(jwt.encode(payload, secret, "HS256"))


def test_valid_token_gives_subject_and_scopes() -> None:
    principal = Authenticator(SETTINGS).authenticate(bearer(mint_token(SECRET, ["predict"])))
    assert principal.subject == "mlfn-dev" and principal.scopes == {"predict"}


@pytest.mark.parametrize(
    ("make_header", "message"),
    [
        (lambda: None, "missing bearer token"),
        (lambda: "Basic abc", "missing bearer token"),
        (lambda: "Bearer ", "missing bearer token"),
        (lambda: "Bearer not.a.jwt", "invalid token"),
        (
            lambda: bearer(jwt.encode(claims(exp=int(time.time()) - 3600), SECRET, "HS256")),
            "expired",
        ),
        (
            lambda: bearer(jwt.encode(claims(), "another-secret-0123456789abcdef", "HS256")),
            "invalid",
        ),
        (lambda: bearer(jwt.encode(claims(aud="someone-else"), SECRET, "HS256")), "audience"),
        (lambda: bearer(jwt.encode(claims(iss="evil"), SECRET, "HS256")), "issuer"),
        (lambda: bearer(jwt.encode(claims(sub=None), SECRET, "HS256")), "sub"),
        (lambda: bearer(jwt.encode(claims(iat=None), SECRET, "HS256")), "iat"),
        (lambda: bearer(jwt.encode(claims(exp=None), SECRET, "HS256")), "exp"),
        (lambda: bearer(jwt.encode(claims(), SECRET, "HS512")), "'HS512' are not accepted"),
    ],
)
def test_bad_tokens_are_401(make_header: Callable[[], str | None], message: str) -> None:
    header = make_header()  # minted now, not when the suite was collected minutes ago
    with pytest.raises(AuthenticationError, match=message) as raised:
        Authenticator(SETTINGS).authenticate(header)
    assert raised.value.status == 401


def unsigned(payload: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def test_alg_none_is_refused() -> None:
    with pytest.raises(AuthenticationError, match="'none' are not accepted"):
        Authenticator(SETTINGS).authenticate(bearer(unsigned(claims())))


def test_missing_scope_is_403() -> None:
    principal = Authenticator(SETTINGS).authenticate(bearer(mint_token(SECRET, ["predict"])))
    with pytest.raises(MissingScopeError, match="needs the 'train' scope") as raised:
        Authenticator.require(principal, "train")
    assert raised.value.status == 403


def test_fails_closed_without_configuration() -> None:
    closed = Authenticator(AuthSettings(None, None, "mlfn", "mlfn-api"))
    with pytest.raises(AuthenticationError, match="not configured"):
        closed.authenticate(bearer(mint_token(SECRET, ["predict"])))


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFN_JWT_SECRET", SECRET)
    monkeypatch.setenv("MLFN_JWT_AUDIENCE", "other-api")
    settings = AuthSettings.from_env()
    assert (settings.secret, settings.issuer, settings.audience) == (SECRET, "mlfn", "other-api")


def rsa_key(kid: str) -> tuple[str, dict]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = jwk.construct(
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        "RS256",
    ).to_dict()
    return pem, {**public, "kid": kid, "alg": "RS256", "use": "sig"}


def test_rs256_from_jwks_with_rate_limited_refresh() -> None:
    pem, public = rsa_key("k1")
    published = [public]
    fetches: list[str] = []

    def fetch(url: str) -> dict:
        fetches.append(url)
        return {"keys": list(published)}

    cache = JwksCache("https://idp.example/jwks", fetch)
    auth = Authenticator(AuthSettings(None, "https://idp.example/jwks", "mlfn", "mlfn-api"), cache)
    token = jwt.encode(claims(), pem, "RS256", headers={"kid": "k1"})
    assert auth.authenticate(bearer(token)).subject == "alice"
    assert auth.authenticate(bearer(token)).subject == "alice"
    assert len(fetches) == 1  # cached
    other_pem, other_public = rsa_key("k2")
    rotated = jwt.encode(claims(), other_pem, "RS256", headers={"kid": "k2"})
    published.append(other_public)  # the identity provider rotates keys
    with pytest.raises(AuthenticationError, match="unknown key"):
        auth.authenticate(bearer(rotated))  # fetched under a minute ago: no refresh yet
    assert len(fetches) == 1
    cache._fetched_at -= 61  # a minute later
    assert auth.authenticate(bearer(rotated)).subject == "alice"
    assert len(fetches) == 2
    stranger = jwt.encode(claims(), rsa_key("k3")[0], "RS256", headers={"kid": "k3"})
    for _ in range(3):
        with pytest.raises(AuthenticationError, match="unknown key"):
            auth.authenticate(bearer(stranger))
    assert len(fetches) == 2  # unknown kids cannot make us hammer the JWKS endpoint
    hs_token = mint_token(SECRET, ["predict"])
    with pytest.raises(AuthenticationError, match="'HS256' are not accepted"):
        auth.authenticate(bearer(hs_token))  # no secret configured: HS256 is not an option


def test_a_verified_token_is_remembered_until_its_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.auth
    from core import jws

    decodes = []
    real_verify = jws.hs256_claims
    monkeypatch.setattr(jws, "hs256_claims", lambda *a: decodes.append(1) or real_verify(*a))
    auth = Authenticator(SETTINGS)
    token = jwt.encode(claims(exp=int(time.time()) + 120), SECRET, algorithm="HS256")
    for _ in range(3):
        assert auth.authenticate(bearer(token)).subject == "alice"
    assert len(decodes) == 1  # verified once, then remembered by its exact text
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(AuthenticationError, match="invalid token"):
        auth.authenticate(bearer(forged))  # another text: verified, and refused
    assert len(decodes) == 2
    now = time.time()
    monkeypatch.setattr(core.auth.time, "time", lambda: now + 121)
    auth.authenticate(bearer(token))  # past its exp by the cache's clock: verified again
    assert len(decodes) == 3


def test_remembered_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.auth

    monkeypatch.setattr(core.auth, "VERIFIED_MAX_TOKENS", 3)
    auth = Authenticator(SETTINGS)
    for subject in ("a", "b", "c", "d"):
        auth.authenticate(bearer(jwt.encode(claims(sub=subject), SECRET, algorithm="HS256")))
    assert len(auth._verified) <= 3


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tokens() -> dict[str, str]:
    good = jwt.encode(claims(name="Zoë ✓"), SECRET, "HS256")
    head, body, signature = good.split(".")
    array_body = _segment(b"[1, 2]")
    array_input = f"{head}.{array_body}".encode()
    import hashlib
    import hmac

    array_signature = _segment(hmac.new(SECRET.encode(), array_input, hashlib.sha256).digest())
    return {
        "good": good,
        "other secret": jwt.encode(claims(), "another-secret-0123456789abcdef", "HS256"),
        "payload changed": f"{head}.{_segment(json.dumps(claims(sub='mallory')).encode())}"
        f".{signature}",
        "signature cut": f"{head}.{body}.{signature[:-4]}",
        "no signature": f"{head}.{body}.",
        "claims an array": f"{head}.{array_body}.{array_signature}",
        "four segments": f"{good}.{signature}",
        "padded": f"{head}.{body}.{signature}==",
        "stray character": f"{head}.{body[:5]}*{body[5:]}.{signature}",
        "header not json": f"{_segment(b'not json')}.{body}.{signature}",
    }


@pytest.mark.parametrize("name", sorted(_tokens()))
def test_hs256_by_the_standard_library_never_accepts_what_jose_refuses(name: str) -> None:
    """core/jws.py against python-jose: the same claims where both accept; where jose
    refuses, a 401 (jws is stricter about the segments' alphabet, never laxer)."""
    from core import jws

    token = _tokens()[name]
    try:
        expected = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_aud": False})
    except Exception:
        expected = None
    try:
        found = jws.hs256_claims(jws.parse(token), SECRET)
    except AuthenticationError as exc:
        assert exc.status == 401 and exc.message.startswith("invalid token")
        found = None
    if expected is None:
        assert found is None
    elif found is not None:
        assert found == expected
    assert (found is not None) == (name == "good")
