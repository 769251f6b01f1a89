"""API Gateway HTTP API events (payload v1 and v2) as Mangum adapts them, with the
request's ASGI scope built once.

Mangum's `HTTPGateway` builds the scope (headers lower-cased and re-encoded, path, client,
server) when the request starts, and again when the answer is made, only to read the
event's payload version: about 5 µs of every warm invocation."""

from __future__ import annotations

import functools
from typing import Any

from mangum.handlers.alb import ALB
from mangum.handlers.api_gateway import HTTPGateway
from mangum.types import Scope


class HttpApiEvents(HTTPGateway):
    """Takes the events Mangum's `HTTPGateway` takes (Mangum tries the load balancer's
    adapter before it: so does this one), building each scope once."""

    @classmethod
    def infer(cls, event: Any, context: Any, config: Any) -> bool:
        return not ALB.infer(event, context, config) and super().infer(event, context, config)

    @functools.cached_property
    def scope(self) -> Scope:
        return super().scope
