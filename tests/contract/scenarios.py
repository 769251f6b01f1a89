"""One list of scenarios, run through every door; the answers must be identical."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.auth import mint_token

SECRET = "contract-secret-0123456789abcdefghijkl"
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
# A door: (method, path, JSON body or None, headers) -> (status, JSON answer)
Door = Callable[[str, str, Any, dict[str, str]], tuple[int, Any]]


def auth(*scopes: str, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, list(scopes), **kwargs)}"}


def alg_none() -> dict[str, str]:
    import base64
    import json

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "sub": "x",
        "iss": "mlfn",
        "aud": "mlfn-api",
        "iat": now,
        "exp": now + 600,
        "scope": "predict",
    }
    return {"Authorization": f"Bearer {part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."}


def future_iat() -> dict[str, str]:
    from jose import jwt

    now = int(time.time())
    claims = {
        "sub": "x",
        "iss": "mlfn",
        "aud": "mlfn-api",
        "iat": now + 3600,
        "exp": now + 7200,
        "scope": "predict",
    }
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    body: Any
    headers: Callable[[], dict[str, str]]
    status: int


SCENARIOS = [
    Scenario(
        "predict-instances", "POST", "/predict", {"instances": [ROW]}, lambda: auth("predict"), 200
    ),
    Scenario(
        "predict-dataframe-records",
        "POST",
        "/predict",
        {"dataframe_records": [ROW]},
        lambda: auth("predict"),
        200,
    ),
    Scenario(
        "predict-dataframe-split",
        "POST",
        "/predict",
        {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
        lambda: auth("predict"),
        200,
    ),
    Scenario(
        "predict-bad-input",
        "POST",
        "/predict",
        {"instances": [{**ROW, "sepal_width": "wide"}]},
        lambda: auth("predict"),
        422,
    ),
    Scenario("missing-token", "POST", "/predict", {"instances": [ROW]}, dict, 401),
    Scenario(
        "expired-token",
        "POST",
        "/predict",
        {"instances": [ROW]},
        lambda: auth("predict", ttl=-120),
        401,
    ),
    Scenario(
        "wrongly-signed-token",
        "POST",
        "/predict",
        {"instances": [ROW]},
        lambda: {
            "Authorization": "Bearer " + mint_token("not-the-secret-0123456789abc", ["predict"])
        },
        401,
    ),
    Scenario(
        "wrong-audience",
        "POST",
        "/predict",
        {"instances": [ROW]},
        lambda: auth("predict", audience="elsewhere"),
        401,
    ),
    Scenario("alg-none", "POST", "/predict", {"instances": [ROW]}, alg_none, 401),
    Scenario("missing-scope", "POST", "/train", {}, lambda: auth("predict"), 403),
    Scenario(
        "retrain-bad-records",
        "POST",
        "/retrain",
        {"records": [{**ROW, "sepal_width": "x", "species": "setosa"}]},
        lambda: auth("train"),
        422,
    ),
    Scenario("promote-conflict", "POST", "/models/1/promote", None, lambda: auth("admin"), 409),
    # Untrusted callers, through every door alike.
    Scenario(
        "source-local-file",
        "POST",
        "/train",
        {"dataset": "/etc/passwd"},
        lambda: auth("train"),
        422,
    ),
    Scenario(
        "source-metadata-address",
        "POST",
        "/train",
        {"dataset": "http://169.254.169.254/latest/meta-data/"},
        lambda: auth("train"),
        422,
    ),
    Scenario(
        "unbounded-trees",
        "POST",
        "/train",
        {"params": {"random_forest": {"n_estimators": 1e30}}},
        lambda: auth("train"),
        422,
    ),
    Scenario(
        "non-finite-number",
        "POST",
        "/predict",
        {"instances": [{**ROW, "sepal_length": 1e39}]},
        lambda: auth("predict"),
        422,
    ),
    Scenario("malformed-job-id", "GET", "/jobs/" + "a" * 251, None, lambda: auth("train"), 404),
    Scenario("future-iat", "POST", "/predict", {"instances": [ROW]}, lambda: future_iat(), 401),
    Scenario("health", "GET", "/health", None, dict, 200),
    Scenario("unknown-route", "GET", "/nowhere", None, dict, 404),
    Scenario(
        "mlflow-invocations-split",
        "POST",
        "/invocations",
        {"dataframe_split": {"columns": list(ROW)[::-1], "data": [list(ROW.values())[::-1]]}},
        lambda: auth("predict"),
        200,
    ),
    Scenario(
        "mlflow-invocations-inputs-columns",
        "POST",
        "/invocations",
        {"inputs": {name: [value] for name, value in ROW.items()}, "params": {}},
        lambda: auth("predict"),
        200,
    ),
    Scenario(
        "mlflow-invocations-bad-shape",
        "POST",
        "/invocations",
        {"rows": [ROW]},
        lambda: auth("predict"),
        400,
    ),
    Scenario(
        "mlflow-invocations-no-token", "POST", "/invocations", {"instances": [ROW]}, dict, 401
    ),
    Scenario(
        "oip-infer-one-tensor",
        "POST",
        "/v2/models/iris/infer",
        {
            "id": "door-1",
            "inputs": [
                {"name": "input-0", "shape": [1, 4], "datatype": "FP32", "data": list(ROW.values())}
            ],
        },
        lambda: auth("predict"),
        200,
    ),
    Scenario(
        "oip-infer-by-name",
        "POST",
        "/v2/models/iris/versions/1/infer",
        {
            "id": "door-2",
            "inputs": [
                {"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in ROW.items()
            ],
            "outputs": [{"name": "label"}],
        },
        lambda: auth("predict"),
        200,
    ),
    Scenario(
        "oip-infer-bad-shape",
        "POST",
        "/v2/models/iris/infer",
        {"inputs": [{"name": "input-0", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
        lambda: auth("predict"),
        400,
    ),
    Scenario("oip-server-live", "GET", "/v2/health/live", None, dict, 200),
]


def normalised(answer: Any) -> Any:
    """What must match across doors (everything: these answers carry no timestamps)."""
    return answer
