"""API Gateway HTTP API events (payload v1 and v2) as Mangum adapts them, with the
request's ASGI scope built once; and the events that are not HTTP requests at all.

Mangum's `HTTPGateway` builds the scope (headers lower-cased and re-encoded, path, client,
server) when the request starts, and again when the answer is made, only to read the
event's payload version: about 5 µs of every warm invocation.

An event no adapter takes (a direct `aws lambda invoke`, a keep-warm ping) and an event
whose body claims base64 but is not get an answer naming what was wrong instead of a
stack trace from the adapter."""

from __future__ import annotations

import binascii
import functools
import json
from typing import Any

from mangum import Mangum
from mangum.handlers.alb import ALB
from mangum.handlers.api_gateway import HTTPGateway
from mangum.protocols import HTTPCycle
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


class MalformedEvent(Exception):
    """An adapter takes the event, but its parts are not what the gateway sends (a hand-made
    event: `"headers": [...]`, a requestContext without its `http`)."""


MALFORMED = (TypeError, KeyError, AttributeError, IndexError, ValueError)  # in the adapters


class EventAdapter(Mangum):
    """Mangum (lifespan off), raising `NotAnHttpEvent` for an event none of its adapters
    takes and `MalformedEvent` for one whose request the adapter cannot read."""

    def __call__(self, event: LambdaEvent, context: LambdaContext) -> dict[str, Any]:
        handler = self.infer(event, context)
        try:
            scope, body = handler.scope, handler.body
        except binascii.Error:  # a body that claims base64 but is not: the caller's 422
            raise
        except MALFORMED as exc:
            raise MalformedEvent(_what(exc)) from None
        return handler(HTTPCycle(scope, body)(self.app))

    def infer(self, event: LambdaEvent, context: LambdaContext) -> LambdaHandler:
        try:
            return super().infer(event, context)
        except RuntimeError:
            raise NotAnHttpEvent from None
        except MALFORMED as exc:
            raise MalformedEvent(_what(exc)) from None


def _what(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def is_warmup(event: Any) -> bool:
    return isinstance(event, dict) and (
        event.get("source") in WARMUP_SOURCES or event.get("detail-type") == "Scheduled Event"
    )


def error_answer(status: int, code: str, message: str) -> dict[str, Any]:
    """An HTTP answer in the shape every gateway and function URL reads."""
    body = json.dumps({"error": {"code": code, "message": message}})
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": body}


def malformed_answer(why: str) -> dict[str, Any]:
    return error_answer(
        400,
        "malformed_event",
        f"this HTTP event's parts are not what API Gateway, a function URL or a load balancer "
        f"sends, so its request cannot be read ({why}); send the event as the gateway does",
    )


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
