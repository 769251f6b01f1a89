"""API Gateway HTTP API events (payload v1 and v2) as Mangum adapts them, with the
request's ASGI scope built once; and the events that are not HTTP requests at all.

Mangum's `HTTPGateway` builds the scope (headers lower-cased and re-encoded, path, client,
server) when the request starts, and again when the answer is made, only to read the
event's payload version: about 5 µs of every warm invocation.

An event no adapter takes (a direct `aws lambda invoke`, a keep-warm ping) and an event
whose body claims base64 but is not get an answer naming what was wrong instead of a
stack trace from the adapter."""

from __future__ import annotations

import functools
import json
from typing import Any

from mangum import Mangum
from mangum.handlers.alb import ALB
from mangum.handlers.api_gateway import HTTPGateway
from mangum.types import LambdaContext, LambdaEvent, LambdaHandler, Scope

# keep-warm pings: the Serverless Framework's warmup plugin, and EventBridge schedules
WARMUP_SOURCES = frozenset({"serverless-plugin-warmup", "aws.events"})


class NotAnHttpEvent(Exception):
    """No adapter takes the event: it is not an HTTP request."""


class HttpApiEvents(HTTPGateway):
    """Takes the events Mangum's `HTTPGateway` takes (Mangum tries the load balancer's
    adapter before it: so does this one), building each scope once."""

    @classmethod
    def infer(cls, event: Any, context: Any, config: Any) -> bool:
        return not ALB.infer(event, context, config) and super().infer(event, context, config)

    def __init__(self, event: LambdaEvent, context: LambdaContext, config: Any) -> None:
        if event.get("headers") is None:  # a hand-made event may say `"headers": null`
            event = {**event, "headers": {}}
        super().__init__(event, context, config)

    @functools.cached_property
    def scope(self) -> Scope:
        return super().scope


class EventAdapter(Mangum):
    """Mangum, raising `NotAnHttpEvent` for an event none of its adapters takes."""

    def infer(self, event: LambdaEvent, context: LambdaContext) -> LambdaHandler:
        try:
            return super().infer(event, context)
        except RuntimeError:
            raise NotAnHttpEvent from None


def is_warmup(event: Any) -> bool:
    return isinstance(event, dict) and (
        event.get("source") in WARMUP_SOURCES or event.get("detail-type") == "Scheduled Event"
    )


def error_answer(status: int, code: str, message: str) -> dict[str, Any]:
    """An HTTP answer in the shape every gateway and function URL reads."""
    body = json.dumps({"error": {"code": code, "message": message}})
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": body}


def not_http_answer(event: Any) -> dict[str, Any]:
    keys = sorted(map(str, event))[:10] if isinstance(event, dict) else "none: a JSON " + {
        list: "array", str: "string", bool: "boolean", int: "number", float: "number"
    }.get(type(event), "null")  # fmt: skip
    return error_answer(
        400,
        "unsupported_event",
        "this function answers HTTP requests from API Gateway (REST or HTTP API), a function "
        f"URL or a load balancer; this event is none of those (its keys: {keys}). Call it "
        "over HTTPS, score files with `mlfn batch`, and keep it warm with "
        '{"source": "serverless-plugin-warmup"} or a scheduled EventBridge rule',
    )


UNREADABLE_BODY = error_answer(
    422,
    "invalid_request",
    "the event's body is marked base64-encoded (isBase64Encoded) but is not valid base64",
)
