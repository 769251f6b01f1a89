"""The hot lane in front of the middleware (core/api/hotlane.py) answers POST /predict for a
token it has seen verified exactly as the layers do — the same status, body and headers for
every body, the same telemetry — and leaves every request it cannot judge from its headers
(a new, expired or under-scoped token, two tokens, a chunked or oversized body, CORS) to
the layers, which word the refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.api import Services, create_app
from core.api.door import door_app
from core.api.fastpath import clean_rows
from core.api.middleware import MAX_BODY_BYTES
from core.monitoring import RequestDone
from core.training.run import train
from tests.conftest import project_settings
from tests.unit.test_api import ROW, local_services, token
from tests.unit.test_fastpath import BODIES, RAW_BODIES, _seen

KNOWN = token("predict")  # one token for the module: verified once, then known to the lane


class Layers:
    """The lane's `layers`, counted: how many requests the lane passed on."""

    def __init__(self, app: Any) -> None:
        self.app, self.calls = app, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def lanes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Services]]:
    """The same services behind the app with the lane (its layers counted) and without."""
    settings, store = project_settings(tmp_path_factory.mktemp("hotlane"))
    train(settings, store)
    services = local_services(settings, store)
    app = create_app(services)
    app.lane.layers = layers = Layers(app.lane.layers)
    fast = TestClient(app, raise_server_exceptions=False)
    slow = TestClient(create_app(services, fast_predict=False), raise_server_exceptions=False)
    with fast, slow:
        for client in (fast, slow):  # the token verified, the model loaded: both warm
            assert client.post("/predict", json={"instances": [ROW]}, headers=KNOWN).is_success
        yield fast, slow, layers


def _both(lanes: Any, content: bytes, **headers: str) -> tuple[Any, Any, int]:
    """Each app's answer, and how many requests the lane passed on to its layers."""
    fast, slow, layers = lanes
    before = layers.calls
    a = fast.post("/predict", content=content, headers=headers)
    return a, slow.post("/predict", content=content, headers=headers), layers.calls - before


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_a_known_token_is_answered_alike_whoever_answers(lanes, body: Any) -> None:
    content = json.dumps(body).encode()
    a, b, passed = _both(lanes, content, **KNOWN, **{"content-type": "application/json"})
    assert _seen(a) == _seen(b)
    assert passed == (0 if clean_rows(body) is not None else 1)  # the lane takes clean ones


@pytest.mark.parametrize("content", RAW_BODIES)
@pytest.mark.parametrize("kind", ["application/json", "text/plain", "APPLICATION/JSON; x=1"])
def test_raw_bodies_and_content_types_through_the_lane(lanes, content: bytes, kind) -> None:
    a, b, _ = _both(lanes, content, **KNOWN, **{"content-type": kind})
    assert _seen(a) == _seen(b) and a.status_code != 200


def test_no_content_type_is_json_in_the_lane_too(lanes) -> None:
    a, b, passed = _both(lanes, json.dumps({"instances": [ROW]}).encode(), **KNOWN)
    assert _seen(a) == _seen(b) and a.status_code == 200 and passed == 0


def test_what_the_lane_cannot_judge_goes_to_the_layers(lanes) -> None:
    fast, _, layers = lanes
    good = json.dumps({"instances": [ROW]}).encode()
    fresh = token("predict")
    a, b, passed = _both(lanes, good, **fresh)  # first seen: verified by the layers
    assert a.status_code == b.status_code == 200 and passed == 1
    assert _both(lanes, good, **fresh)[2] == 0  # known from now on
    for headers in (token("train"), {"Authorization": "Bearer nope"}, {}):
        a, b, passed = _both(lanes, good, **headers)
        assert _seen(a) == _seen(b) and a.status_code in {401, 403} and passed == 1
    before = layers.calls
    chunked = fast.post("/predict", content=iter([good]), headers=KNOWN)  # no Content-Length
    assert chunked.status_code == 200 and layers.calls == before + 1
    twice = [("authorization", KNOWN["Authorization"])] * 2
    assert fast.post("/predict", content=good, headers=twice).status_code == 400
    assert layers.calls == before + 2
    repeated = [("authorization", KNOWN["Authorization"]), ("x-note", "a"), ("x-note", "b")]
    assert fast.post("/predict", content=good, headers=repeated).status_code == 200
    assert layers.calls == before + 3  # any name twice: the layers judge the request


def test_an_oversized_body_is_refused_by_the_layers(lanes) -> None:
    big = b'{"instances": [' + b" " * MAX_BODY_BYTES + b"]}"
    a, b, passed = _both(lanes, big, **KNOWN)
    assert _seen(a) == _seen(b) and a.status_code == 413 and passed == 1


def _event_call(app: Any, length: bytes | None, chunks: list[bytes]) -> tuple[list[Any], int]:
    """`app` called as a door calls it (no server between): the body in `chunks`, with a
    Content-Length header of `length` (None: none). What it sent, and how many chunks it
    read."""
    import asyncio

    headers = [(b"authorization", KNOWN["Authorization"].encode()),
               (b"content-type", b"application/json")]  # fmt: skip
    if length is not None:
        headers.append((b"content-length", length))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "https", "path": "/predict", "raw_path": b"/predict",
             "root_path": "", "query_string": b"", "headers": headers, "state": {},
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 443)}  # fmt: skip
    sent: list[dict[str, Any]] = []
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read == len(chunks):
            return {"type": "http.disconnect"}
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, read


def test_a_body_over_the_limit_is_refused_whatever_its_header_declared(lanes) -> None:
    """A door's event carries whatever Content-Length it was given: the lane holds the body
    it read to the limit itself, and the layers refuse it."""
    fast, _, layers = lanes
    big = b'{"instances": [' + b" " * MAX_BODY_BYTES + b"]}"
    before = layers.calls
    sent, _ = _event_call(fast.app, b"20", [big])
    assert sent[0]["status"] == 413 and layers.calls == before + 1
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"


def test_an_event_without_a_content_length_is_answered_by_the_lane(lanes) -> None:
    """API Gateway, Cloud Functions and Azure hand over the whole body, often with no
    Content-Length: the lane answers it as the layers would."""
    fast, slow, layers = lanes
    body = json.dumps({"instances": [ROW, ROW]}).encode()
    before = layers.calls
    lane, _ = _event_call(fast.app, None, [body[:7], body[7:]])
    assert layers.calls == before
    framework, _ = _event_call(slow.app, None, [body])
    assert lane[0]["status"] == framework[0]["status"] == 200
    seen = [json.loads(sent[1]["body"]) for sent in (lane, framework)]
    for answer in seen:
        answer.pop("prediction_ids")
    assert seen[0] == seen[1] and len(seen[0]["predictions"]) == 2


def test_a_body_of_no_declared_length_is_read_no_further_than_the_limit(lanes) -> None:
    """A body streamed without a length (HTTP/2, say) stops being read once it is over the
    limit, and the layers refuse it: the lane never holds more than the limit and a chunk."""
    fast, _, layers = lanes
    chunk = b" " * (MAX_BODY_BYTES // 4)
    chunks = [b'{"instances": ['] + [chunk] * 40 + [b"]}"]
    before = layers.calls
    sent, read = _event_call(fast.app, None, chunks)
    assert sent[0]["status"] == 413 and layers.calls == before + 1
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"
    assert read <= 6  # of 42


def test_an_expired_token_is_checked_again_and_refused(lanes, monkeypatch) -> None:
    fast, _, layers = lanes
    services = fast.app.lane.holder.built["services"]
    short = token("predict")
    assert fast.post("/predict", json={"instances": [ROW]}, headers=short).status_code == 200
    bearer = short["Authorization"].split(" ", 1)[1]
    principal, _ = services.auth._verified[bearer]
    services.auth._verified[bearer] = (principal, 0.0)  # its time ran out
    monkeypatch.setattr("core.auth.check_claims", _expired)
    before = layers.calls
    answer = fast.post("/predict", json={"instances": [ROW]}, headers=short)
    assert answer.status_code == 401 and layers.calls == before + 1


def _expired(*_: Any) -> float:
    from core.errors import AuthenticationError

    raise AuthenticationError("invalid token: expired")


def test_the_lane_reports_each_request_once_with_its_ids(lanes, monkeypatch) -> None:
    fast, _, layers = lanes
    events: list[RequestDone] = []
    telemetry = fast.app.lane.holder.built["services"].telemetry
    real, real_all = telemetry.emit, telemetry.emit_all
    monkeypatch.setattr(telemetry, "emit", lambda e: (events.append(e), real(e)))
    monkeypatch.setattr(telemetry, "emit_all", lambda es: (events.extend(es), real_all(es)))
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {**KNOWN, "x-request-id": "req-1", "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    before = layers.calls
    answer = fast.post("/predict", json={"instances": [ROW, ROW]}, headers=headers)
    assert answer.status_code == 200 and layers.calls == before
    assert answer.headers["x-request-id"] == "req-1"
    done = [e for e in events if isinstance(e, RequestDone)]
    assert len(done) == 1
    assert (done[0].route, done[0].status, done[0].rows, done[0].version) == ("/predict", 200, 2, 1)
    assert (done[0].request_id, done[0].trace_id) == ("req-1", trace)
    assert (done[0].method, done[0].model, done[0].error_code, done[0].path) == (
        "POST",
        "iris",
        None,
        "/predict",
    )  # every field in its place (RequestDone is made by position)
    assert (done[0].user_agent, done[0].remote_ip) == ("testclient", "testclient")
    assert done[0].response_bytes == len(answer.content) and 0 < done[0].seconds < 60
    assert done[0].span_id == "00f067aa0ba902b7"
    metrics = fast.get("/metrics").text
    assert 'mlfn_requests_total{code="",method="POST",route="/predict",status="200"' in metrics


def test_a_refusal_the_lane_answers_is_reported_with_its_code(lanes, monkeypatch) -> None:
    fast, slow, layers = lanes
    events: list[RequestDone] = []
    telemetry = fast.app.lane.holder.built["services"].telemetry
    real_all = telemetry.emit_all
    monkeypatch.setattr(telemetry, "emit_all", lambda es: (events.extend(es), real_all(es)))
    body = {"instances": [{**ROW, next(iter(ROW)): "not a number"}]}  # clean, but not valid
    before = layers.calls
    answer = fast.post("/predict", json=body, headers={**KNOWN, "x-request-id": "req-422"})
    assert layers.calls == before  # answered by the lane, through one `respond`
    assert answer.status_code == 422 and answer.headers["x-request-id"] == "req-422"
    done = [e for e in events if isinstance(e, RequestDone)]
    assert [(e.status, e.error_code, e.request_id) for e in done] == [
        (422, "invalid_input", "req-422")
    ]
    assert done[0].response_bytes == len(answer.content)
    assert answer.content == slow.post("/predict", json=body, headers=KNOWN).content


def test_cors_requests_keep_their_headers(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFN_CORS_ORIGINS", "https://app.example")
    settings, store = project_settings(tmp_path)
    train(settings, store)
    with TestClient(create_app(local_services(settings, store))) as client:
        headers = {**KNOWN, "origin": "https://app.example"}
        for _ in range(2):  # the second with a known token
            answer = client.post("/predict", json={"instances": [ROW]}, headers=headers)
            assert answer.status_code == 200
            assert answer.headers["access-control-allow-origin"] == "https://app.example"


def test_the_doors_run_the_lane_too(tmp_path) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store)
    door = door_app(local_services(settings, store))
    layers = door._asgi.layers = Layers(door._asgi.layers)
    with TestClient(door) as client:
        for _ in range(3):
            assert client.post("/predict", json={"instances": [ROW]}, headers=KNOWN).is_success
    assert layers.calls == 1  # the first verified the token; the lane answered the others
