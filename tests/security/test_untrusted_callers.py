"""GIVEN an anonymous caller, or one with a valid token, sending what an attacker would
WHEN it reaches the API THEN the answer is a clear 4xx or a 503 — never a 500, never a
stack trace — and the token is checked before the body is read."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from core.api import create_app
from core.inference import clear_cache
from tests.unit.test_api import ROW, token


def test_the_token_is_checked_before_the_body_is_read(api: Any) -> None:
    _, services = api
    app = create_app(services)
    reads: list[dict] = []

    async def receive() -> dict[str, Any]:
        reads.append({})
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "headers": [(b"content-length", b"6000000"), (b"content-type", b"application/json")],
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
        "http_version": "1.1",
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401 and reads == []  # refused unread


def test_two_authorization_headers_are_400(api: Any) -> None:
    client, _ = api
    headers = [
        ("Authorization", token("predict")["Authorization"]),
        ("Authorization", "Bearer forged"),
    ]
    answer = client.post("/predict", json={"instances": [ROW]}, headers=headers)
    assert answer.status_code == 400 and "exactly one Authorization" in answer.text


@pytest.mark.parametrize("job_id", ["%00", "a" * 251, "..%2F..%2Fmodels", "x y"])
def test_malformed_job_ids_are_404(api: Any, job_id: str) -> None:
    client, _ = api
    answer = client.get(f"/jobs/{job_id}", headers=token("train"))
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1" * 400, "out of range"),
        ("Infinity", "out of range"),
        ("-Infinity", "out of range"),
        ("1e39", "out of range"),
        ('"abc"', "must be a number"),
        ("true", "must be a number"),
        ('{"a": 1}', "must be a number"),
    ],
)
def test_bad_numbers_are_422_naming_the_column(api: Any, value: str, message: str) -> None:
    client, _ = api
    row = json.dumps({**ROW, "sepal_length": "__V__"}).replace('"__V__"', value)
    answer = client.post(
        "/predict",
        content=f'{{"instances": [{row}]}}',
        headers={**token("predict"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert "sepal_length" in answer.text and message in answer.text


def _corrupt(services: Any, key: str, data: bytes) -> None:
    services.store.write_bytes(key, data)


@pytest.mark.parametrize(
    ("key", "data"),
    [
        ("models/iris/routing.json", b"{not json"),
        ("models/iris/routing.json", b'{"revision": 1, "champion": {"version": "x"}}'),
        ("models/iris/routing.json", b'{"revision": 2, "champion": null, "challenger": 7}'),
        ("models/iris/versions/1/metadata.json", b"[]"),
        ("models/iris/versions/1/model.onnx", b"garbage bytes"),
    ],
)
def test_a_corrupt_champion_is_503_and_a_loaded_one_keeps_serving(
    api: Any,
    key: str,
    data: bytes,
) -> None:
    client, services = api
    assert (
        client.post("/predict", json={"instances": [ROW]}, headers=token("predict")).status_code
        == 200
    )
    _corrupt(services, key, data)
    services.predictor.champion_ttl = 0  # re-read the pointer now
    still = client.post("/predict", json={"instances": [ROW]}, headers=token("predict"))
    assert still.status_code == 200 and still.json()["model"]["version"] == 1
    clear_cache()  # a fresh process: nothing loaded yet
    services.predictor._plan = None
    fresh = client.post("/predict", json={"instances": [ROW]}, headers=token("predict"))
    assert fresh.status_code == 503, fresh.text
    assert fresh.json()["error"]["code"] == "model_unavailable"
    store_folder = services.store.uri.removeprefix("file://")
    assert "Traceback" not in fresh.text and store_folder not in fresh.text


@pytest.mark.parametrize(
    "value",
    ["[" * 990 + "]" * 990, json.dumps("x" * 1_000_000)],
    ids=["a-list-990-deep", "a-megabyte-string"],
)
def test_a_bad_value_is_quoted_short_in_its_error(api: Any, value: str) -> None:
    """The error names the value as a short excerpt: a deep list no longer overflows the
    repr into a 500, a long string is not echoed whole."""
    client, _ = api
    others = json.dumps({k: v for k, v in ROW.items() if k != "sepal_length"})
    body = '{"instances": [{"sepal_length": ' + value + ", " + others[1:] + "]}"
    answer = client.post(
        "/predict", content=body, headers={**token("predict"), "Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text[:300]
    message = answer.json()["error"]["message"]
    assert "feature 'sepal_length' must be a number" in message and len(message) < 400


DEEP = "[" * 900 + "]" * 900  # the body still reads (under ≈1,000 levels); a full repr overflows
OTHERS = ', "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
DEEP_BODIES = {
    "/predict": '{"instances": [' + DEEP + "]}",
    "/train": '{"model_type": ' + DEEP + "}",
    "/v2/models/iris/infer": '{"inputs": [{"name": "sepal_length", "shape": [1], '
    '"datatype": "FP32", "data": ' + DEEP + "}]}",
    "/invocations": '{"dataframe_records": [{"sepal_length": ' + DEEP + OTHERS + "]}",
    "/feedback": '{"prediction_id": ' + DEEP + ', "label": "setosa"}',
    "/models/1/canary": '{"weight": ' + DEEP + "}",
}


@pytest.mark.parametrize("route", sorted(DEEP_BODIES))
def test_a_deeply_nested_value_anywhere_is_a_4xx(api: Any, route: str) -> None:
    client, _ = api
    scopes = ("predict", "train", "admin", "feedback")
    headers = {**token(*scopes), "Content-Type": "application/json"}
    answer = client.post(route, content=DEEP_BODIES[route], headers=headers)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert len(answer.text) < 1_000  # the value quoted short, not echoed


@pytest.mark.parametrize(
    ("method", "path", "status", "said"),
    [
        ("GET", "/nope", 404, "no route answers GET /nope: the routes are listed at /docs"),
        ("GET", "/v2/nope", 404, "no route answers GET /v2/nope"),
        ("DELETE", "/predict", 405, "/predict does not answer DELETE; send POST"),
        ("PUT", "/invocations", 405, "/invocations does not answer PUT; send POST"),
    ],
)
def test_the_routers_own_404_and_405_name_the_request(
    api: Any, method: str, path: str, status: int, said: str
) -> None:
    """They had said "Not Found" and "Method Not Allowed", and nothing of what to do."""
    client, _ = api
    answer = client.request(method, path, headers=token("predict"))
    assert answer.status_code == status and said in answer.text
