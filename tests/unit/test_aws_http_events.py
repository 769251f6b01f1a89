"""The AWS door's HTTP API adapter: the same events, scopes and answers as Mangum's own,
with each request's scope built once instead of twice."""

from __future__ import annotations

import copy
import json
from collections.abc import MutableMapping
from types import SimpleNamespace
from typing import Any

import pytest
from mangum import Mangum
from mangum.handlers.alb import ALB
from mangum.handlers.api_gateway import HTTPGateway

from functions.aws.http_events import HttpApiEvents
from tests.conftest import REPO

EVENTS = REPO / "tests" / "events"
CONTEXT = SimpleNamespace(aws_request_id="r", function_name="mlfn")
ALB_EVENT = {
    "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:tg"}},
    "httpMethod": "GET", "path": "/health", "queryStringParameters": {},
    "headers": {"host": "example.com"}, "body": "", "isBase64Encoded": False,
}  # fmt: skip


async def echo(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """Answers with what it was given: the scope's request fields and the body."""
    message = await receive()
    seen = {key: scope[key] for key in ("method", "path", "query_string", "scheme", "client")}
    seen["headers"] = sorted([k.decode(), v.decode()] for k, v in scope["headers"])
    body = json.dumps({**seen, "query_string": seen["query_string"].decode(),
                       "body": message["body"].decode()}).encode()  # fmt: skip
    headers = [(b"content-type", b"application/json"), (b"x-answer", b"1")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize("name", ["apigw_http_v2.json", "apigw_rest_v1.json"])
def test_answers_are_mangums_own(name: str) -> None:
    ours, theirs = (
        Mangum(echo, lifespan="off", custom_handlers=[HttpApiEvents]),
        Mangum(echo, lifespan="off"),
    )
    event = _event(name)
    assert ours(copy.deepcopy(event), CONTEXT) == theirs(copy.deepcopy(event), CONTEXT)
    answer = ours(copy.deepcopy(event), CONTEXT)
    assert answer["statusCode"] == 201 and json.loads(answer["body"])["method"] == "POST"


def test_events_go_to_the_adapter_mangum_would_choose() -> None:
    ours, theirs = (
        Mangum(echo, lifespan="off", custom_handlers=[HttpApiEvents]),
        Mangum(echo, lifespan="off"),
    )
    for event in (_event("apigw_http_v2.json"), _event("apigw_rest_v1.json"), ALB_EVENT):
        chosen, default = ours.infer(event, CONTEXT), theirs.infer(event, CONTEXT)
        assert isinstance(chosen, type(default))
    assert type(ours.infer(ALB_EVENT, CONTEXT)) is ALB
    assert type(ours.infer(_event("apigw_http_v2.json"), CONTEXT)) is HttpApiEvents


def test_the_scope_is_built_once_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    original = HTTPGateway.scope.fget  # type: ignore[attr-defined]

    def counted(self: HTTPGateway) -> dict[str, Any]:
        built.append(1)
        return original(self)

    monkeypatch.setattr(HTTPGateway, "scope", property(counted))
    Mangum(echo, lifespan="off")(_event("apigw_http_v2.json"), CONTEXT)
    assert len(built) == 2  # Mangum's own adapter: at the start and for the answer
    built.clear()
    Mangum(echo, lifespan="off", custom_handlers=[HttpApiEvents])(
        _event("apigw_http_v2.json"), CONTEXT
    )
    assert len(built) == 1
