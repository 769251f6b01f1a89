"""The AWS predict function given events that are not a well-formed HTTP request — GIVEN a
keep-warm ping, a direct invoke, `"headers": null` or a body that is not the base64 it
claims WHEN the handler gets it THEN it answers, naming what was wrong, never a stack trace."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from core.auth import mint_token
from tests.contract.conftest import SECRET
from tests.contract.test_doors import HTTP_V2, LambdaContext, _event
from tests.contract.test_snapstart import _metric
from tests.unit.test_api import ROW

WARMUPS = [
    {"source": "serverless-plugin-warmup"},
    {"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
     "account": "123456789012", "time": "2026-12-04T10:00:00Z", "region": "us-east-1",
     "resources": ["arn:aws:events:us-east-1:123456789012:rule/keep-warm"], "detail": {}},
]  # fmt: skip


@pytest.mark.parametrize("ping", WARMUPS, ids=["warmup-plugin", "eventbridge-schedule"])
def test_a_keep_warm_ping_loads_the_champion_and_predicts_nothing(
    cold_handler: Any, ping: dict[str, Any]
) -> None:
    assert cold_handler.handler(ping, LambdaContext()) == {"warmed": True, "primed": [1]}
    services = cold_handler.app.state.build_services()
    assert services.predictor.is_warm()
    assert _metric(services, "mlfn_predicted_rows_total") == 0


@pytest.mark.parametrize("event", [{"instances": [ROW]}, {}, {"Records": []}])
def test_an_event_that_is_no_http_request_is_told_what_the_function_answers(
    cold_handler: Any, event: dict[str, Any]
) -> None:
    answer = cold_handler.handler(event, LambdaContext())
    assert answer["statusCode"] == 400
    error = json.loads(answer["body"])["error"]
    assert error["code"] == "unsupported_event"
    assert f"its keys: {sorted(event)}" in error["message"]
    assert not cold_handler.app.state.build_services().predictor.is_warm()  # no work done


@pytest.mark.parametrize(("event", "kind"), [([ROW], "array"), ("x", "string"), (3, "number"),
                                             (None, "null")])  # fmt: skip
def test_a_direct_invoke_with_no_json_object_is_told_the_same(
    cold_handler: Any, event: Any, kind: str
) -> None:
    """`aws lambda invoke --payload '[...]'` gave an AttributeError (an Unhandled error)."""
    answer = cold_handler.handler(event, LambdaContext())
    error = json.loads(answer["body"])["error"]
    assert answer["statusCode"] == 400 and error["code"] == "unsupported_event"
    assert f"its keys: none: a JSON {kind}" in error["message"]


def test_a_body_that_is_not_the_base64_it_claims_is_a_422(cold_handler: Any) -> None:
    for template in (HTTP_V2, "apigw_rest_v1.json"):
        event = _event(template, "POST", "/predict", {"instances": [ROW]}, {})
        event["body"] = "not base64!"
        answer = cold_handler.handler(event, LambdaContext())
        assert answer["statusCode"] == 422, template
        assert "not valid base64" in json.loads(answer["body"])["error"]["message"]


def test_headers_given_as_null_are_no_headers(cold_handler: Any) -> None:
    event = _event(HTTP_V2, "POST", "/predict", {"instances": [ROW]}, {})
    event["headers"] = None
    answer = cold_handler.handler(event, LambdaContext())
    assert answer["statusCode"] == 401  # asked for its token, as without headers
    token = mint_token(SECRET, ["predict"])
    event["headers"] = {"authorization": f"Bearer {token}"}
    assert cold_handler.handler(event, LambdaContext())["statusCode"] == 200


def _without(part: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in part.items() if k != key}


MALFORMED = {
    "headers as a list": (HTTP_V2, lambda e: {**e, "headers": ["authorization"]}),
    "requestContext without http": (
        HTTP_V2, lambda e: {**e, "requestContext": _without(e["requestContext"], "http")}),
    "http without sourceIp": (HTTP_V2, lambda e: {**e, "requestContext": {
        **e["requestContext"], "http": _without(e["requestContext"]["http"], "sourceIp")}}),
    "body as an object": (HTTP_V2, lambda e: {**e, "body": {"instances": [ROW]}}),
    "REST headers as a string": ("apigw_rest_v1.json", lambda e: {**e, "headers": "x",
                                                                  "multiValueHeaders": None}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_an_event_whose_parts_are_not_the_gateways_is_a_400(cold_handler: Any, case: str) -> None:
    """A hand-made HTTP event the adapter takes but cannot read raised from inside Mangum
    (an Unhandled invocation error); it is a 400 naming the failure."""
    template, broken = MALFORMED[case]
    event = broken(_event(template, "POST", "/predict", {"instances": [ROW]}, {}))
    answer = cold_handler.handler(event, LambdaContext())
    error = json.loads(answer["body"])["error"]
    assert answer["statusCode"] == 400 and error["code"] == "malformed_event", answer
    assert "send the event as the gateway does" in error["message"]


def test_a_gzip_body_through_the_gateway_is_read_decoded(cold_handler: Any) -> None:
    """API Gateway passes a compressed body on (base64) with its Content-Encoding."""
    token = mint_token(SECRET, ["predict"])
    for template in (HTTP_V2, "apigw_rest_v1.json"):
        headers = {"authorization": f"Bearer {token}", "content-encoding": "gzip"}
        event = _event(template, "POST", "/predict", None, headers)
        packed = gzip.compress(json.dumps({"instances": [ROW]}).encode())
        event.update(body=base64.b64encode(packed).decode(), isBase64Encoded=True)
        answer = cold_handler.handler(event, LambdaContext())
        assert answer["statusCode"] == 200, (template, answer["body"])
        assert json.loads(answer["body"])["predictions"] == ["setosa"]
