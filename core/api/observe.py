"""The telemetry middleware: every request gets a request id (the caller's X-Request-Id, or
a new one, echoed back), its trace (W3C traceparent, Google's or AWS's trace header, or the
span it opens when tracing is on) in the log context, and one RequestDone event at its end
with the route template, status, latency, error code and the model version that served it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from core.monitoring import RequestDone, Telemetry, tracing
from core.monitoring import context as ctx

ASGIApp = Any
SERVED = "mlfn_served"  # (model, version, rows), set in the scope's state by the route


def _error_code(body: bytes) -> str | None:
    try:
        found = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, str) else None


class _Response:
    """What the app sent back: status, size, and the start of an error body."""

    def __init__(self, send: Any, request_id: str) -> None:
        self.send, self.request_id = send, request_id.encode()
        self.status, self.size, self.error = 500, 0, b""

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = [*message.get("headers", []), (b"x-request-id", self.request_id)]
            message = {**message, "headers": headers}
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            self.size += len(body)
            if self.status >= 400 and len(self.error) < 4096:
                self.error += body[:4096]
        await self.send(message)


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, get_telemetry: Callable[[], Telemetry]) -> None:
        self.app, self.get_telemetry = app, get_telemetry

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers", []))
        request_id = ctx.request_id_from(headers.get(b"x-request-id", b"").decode("latin-1"))
        trace_id, parent_span = ctx.trace_from_headers(headers)
        response = _Response(send, request_id)
        parent = f"00-{trace_id}-{parent_span}-01" if trace_id and parent_span else None
        with tracing.span(f"{scope['method']} {scope['path']}", "http", request_id, parent) as span:
            if span is not None:
                trace_id, parent_span = tracing.ids_of(span)
            tokens = (ctx.request_id.set(request_id), ctx.trace_id.set(trace_id),
                      ctx.span_id.set(parent_span))  # fmt: skip
            try:
                await self.app(scope, receive, response)
            except Exception:  # answered by the outermost handler as a 500 internal_error
                response.status, response.error = 500, b'{"error":{"code":"internal_error"}}'
                raise
            finally:
                event = _event(scope, headers, response, started, request_id, trace_id)
                ctx.request_id.reset(tokens[0])
                ctx.trace_id.reset(tokens[1])
                ctx.span_id.reset(tokens[2])
                _describe(span, event)
                self.get_telemetry().emit(event)


def _event(
    scope: dict[str, Any],
    headers: dict[bytes, bytes],
    response: _Response,
    started: float,
    request_id: str,
    trace_id: str | None,
) -> RequestDone:
    model, version, rows = scope.get("state", {}).get(SERVED, (None, None, 0))
    client = scope.get("client") or ("", 0)
    return RequestDone(
        route=getattr(scope.get("route"), "path", "unmatched"), method=scope["method"],
        status=response.status, seconds=time.perf_counter() - started, model=model,
        version=version, rows=rows,
        error_code=_error_code(response.error) if response.status >= 400 else None,
        request_id=request_id, trace_id=trace_id, span_id=ctx.span_id.get(),
        path=scope.get("path", ""), user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
        remote_ip=str(client[0]), response_bytes=response.size,
    )  # fmt: skip


def _describe(span: Any, event: RequestDone) -> None:
    if span is None:
        return
    span.update_name(f"{event.method} {event.route}")
    span.set_attribute("http.route", event.route)
    span.set_attribute("http.request.method", event.method)
    span.set_attribute("http.response.status_code", event.status)
    if event.version is not None:
        span.set_attribute("mlfn.model.version", event.version)
    if event.status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, event.error_code or "server error"))
