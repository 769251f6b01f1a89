"""Behind a gateway the functions check every token themselves, unless the deployment trusts
the gateway (MLFN_TRUST_GATEWAY): then they take the claims it forwards, but only from a
request that provably comes from it — Google's ID token of the gateway's account, or APIM's
secret key — and those claims still pass the token checks."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.api import create_app
from core.errors import ConfigError
from tests.security.test_identity_providers import jwks_url, sign, times  # noqa: F401
from tests.unit.test_api import ROW, local_services, token

ACCOUNT = "mlfn-iris-qa@acme-ml.iam.gserviceaccount.com"
FUNCTION = "https://europe-west1-acme-ml.cloudfunctions.net/mlfn-iris-qa-api"
GATEWAY_KEY = "k" * 16 + "0123456789abcdef0123"
BODY = {"instances": [ROW]}


def encoded(claims: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")


def caller(scope: str = "predict", **changes: Any) -> dict[str, Any]:
    return {"iss": "mlfn", "aud": "mlfn-api", "sub": "alice", "scope": scope, **times(), **changes}


def gateway_id_token(**changes: Any) -> str:
    claims = {"iss": "https://accounts.google.com", "aud": FUNCTION, "email": ACCOUNT,
              "email_verified": True, "sub": "1029384756", **times(), **changes}  # fmt: skip
    return sign(claims)


def client_for(trained_iris: Any) -> TestClient:
    settings, store = trained_iris
    return TestClient(create_app(local_services(settings, store)), raise_server_exceptions=False)


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch, jwks_url: str) -> None:  # noqa: F811
    monkeypatch.setenv("MLFN_TRUST_GATEWAY", "google")
    monkeypatch.setenv("MLFN_GATEWAY_ACCOUNT", ACCOUNT)
    monkeypatch.setenv("MLFN_GATEWAY_AUDIENCE", FUNCTION)
    monkeypatch.setenv("MLFN_GATEWAY_JWKS_URL", jwks_url)


def test_by_default_forwarded_claims_are_not_enough(trained_iris) -> None:
    headers = {"X-Apigateway-Api-Userinfo": encoded(caller()),
               "X-Mlfn-Gateway-Claims": encoded(caller())}  # fmt: skip
    with client_for(trained_iris) as client:
        assert client.post("/predict", json=BODY, headers=headers).status_code == 401
        assert client.post("/predict", json=BODY, headers=token("predict")).status_code == 200


def test_google_gateway_claims_are_taken_from_its_own_calls(trained_iris, google) -> None:
    def call(path: str, userinfo: dict[str, Any], bearer: str | None) -> Any:
        headers = {"X-Apigateway-Api-Userinfo": encoded(userinfo)}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return client.post(path, json=BODY if path == "/predict" else {}, headers=headers)

    with client_for(trained_iris) as client:
        ok = call("/predict", caller(), gateway_id_token())
        assert ok.status_code == 200, ok.text
        assert call("/train", caller(), gateway_id_token()).status_code == 403  # scopes apply
        forged = {
            "no gateway token": (caller(), None),
            "another account": (caller(), gateway_id_token(email="eve@evil.example")),
            "another audience": (caller(), gateway_id_token(aud="https://elsewhere")),
            "not Google": (caller(), gateway_id_token(iss="https://evil.example")),
            "unverified email": (caller(), gateway_id_token(email_verified=False)),
            "expired gateway token": (caller(), gateway_id_token(exp=1, iat=0)),
            "the caller's own token": (caller(), token("predict")["Authorization"][7:]),
            "expired claims": (caller(exp=1, iat=0), gateway_id_token()),
            "wrong issuer": (caller(iss="https://evil.example"), gateway_id_token()),
            "wrong audience": (caller(aud="other-api"), gateway_id_token()),
        }
        for what, (userinfo, bearer) in forged.items():
            answer = call("/predict", userinfo, bearer)
            assert answer.status_code == 401, (what, answer.text)
        only_gateway = {"Authorization": f"Bearer {gateway_id_token()}"}
        missing = client.post("/predict", json=BODY, headers=only_gateway)
        assert missing.status_code == 401 and "X-Apigateway-Api-Userinfo" in missing.text


def test_azure_gateway_claims_need_its_secret_key(trained_iris, monkeypatch) -> None:
    monkeypatch.setenv("MLFN_TRUST_GATEWAY", "azure")
    monkeypatch.setenv("MLFN_GATEWAY_KEY", GATEWAY_KEY)
    as_apim = caller()  # APIM writes every claim as a string
    as_apim.update(exp=str(as_apim["exp"]), iat=str(as_apim["iat"]))
    with client_for(trained_iris) as client:

        def call(key: str | None, claims: dict[str, Any]) -> int:
            headers = {"X-Mlfn-Gateway-Claims": encoded(claims)}
            if key is not None:
                headers["X-Mlfn-Gateway-Key"] = key
            return client.post("/predict", json=BODY, headers=headers).status_code

        assert call(GATEWAY_KEY, as_apim) == 200
        assert call(GATEWAY_KEY[:-1] + "x", as_apim) == 401
        assert call(None, as_apim) == 401
        assert call(GATEWAY_KEY, caller(sub="")) == 401  # the claims are still checked
        assert call(GATEWAY_KEY, caller(scope="train")) == 403


@pytest.mark.parametrize(
    ("env", "message"),
    [({"MLFN_TRUST_GATEWAY": "azure", "MLFN_GATEWAY_KEY": "short"}, r"32\+ chars"),
     ({"MLFN_TRUST_GATEWAY": "google"}, "MLFN_GATEWAY_ACCOUNT"),
     ({"MLFN_TRUST_GATEWAY": "aws"}, "'google' or 'azure'")],
)  # fmt: skip
def test_a_half_configured_trust_is_refused(trained_iris, monkeypatch, env, message) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings, store = trained_iris
    with pytest.raises(ConfigError, match=message):
        local_services(settings, store)


def test_the_deploys_carry_the_trust_setting(tmp_path, capsys) -> None:
    from core.cli import main
    from core.config import load_settings
    from core.deploy.commands import gcp_variables
    from core.deploy.gateways import Jwt, apim_policy
    from tests.manifests.conftest import REPO

    policy = apim_policy(Jwt("https://i/", "mlfn-api", "https://i/keys"), "https://i/oidc", True)
    assert 'output-token-variable-name="mlfn-jwt"' in policy
    assert "X-Mlfn-Gateway-Claims" in policy and "{{mlfn-gateway-key}}" in policy
    assert "X-Mlfn-Gateway" not in apim_policy(Jwt("https://i/", "a", None), None)
    data = json.loads((REPO / "examples" / "clouds" / "azure" / "config.json").read_text())
    data["promotion"]["staging"]["azure"]["trust_gateway"] = True
    gcp = json.loads((REPO / "examples" / "clouds" / "gcp" / "config.json").read_text())
    gcp["promotion"]["staging"]["gcp"]["trust_gateway"] = True
    for name, config in (("azure", data), ("gcp", gcp)):
        folder = tmp_path / name
        folder.mkdir()
        for extra in (REPO / "examples" / "clouds" / name).iterdir():
            if extra.name != "config.json":
                (folder / extra.name).write_bytes(extra.read_bytes())
        (folder / "config.json").write_text(json.dumps(config))
    assert main(["deploy", "azure", "--env", "staging", "--config",
                 str(tmp_path / "azure" / "config.json"), "--dry-run", "--json"]) == 0  # fmt: skip
    steps = json.loads(capsys.readouterr().out)
    settings_step = next(s["argv"] for s in steps if s["argv"][:2] == ["az", "functionapp"])
    assert "MLFN_TRUST_GATEWAY=azure" in settings_step
    env = gcp_variables(load_settings(tmp_path / "gcp" / "config.json", env="staging"))
    assert env["MLFN_TRUST_GATEWAY"] == "google"
    assert env["MLFN_GATEWAY_AUDIENCE"].endswith("-api")
