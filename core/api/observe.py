"""The telemetry middleware: every request gets a request id (the caller's X-Request-Id, or
a new one, echoed back), its trace (W3C traceparent, Google's or AWS's trace header, or the
span it opens when tracing is on) in the log context, and one RequestDone event at its end
with the route template, status, latency, error code and the model version that served it."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from contextvars import Token
from typing import Any

from core.monitoring import RequestDone, Telemetry, tracing
from core.monitoring import context as ctx

ASGIApp = Any
TRACE_HEADERS = frozenset({b"traceparent", b"x-cloud-trace-context", b"x-amzn-trace-id"})
SERVED = "mlfn_served"  # (model, version, rows), set in the scope's state by the route


def _error_code(body: bytes) -> str | None:
    try:
        found = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, str) else None


class ObservedSend(ctx.Current):
    """One request as the middleware follows it: its ids (the context its log lines and
    events read: it is set as the current one), the send it wraps, and what the app sent
    back (status, size, the start of an error body)."""

    __slots__ = ("echo", "error", "headers", "send", "size", "started", "status", "waiting")

    def __init__(
        self,
        send: Any,
        scope: dict[str, Any],
        started: float | None = None,
        headers: dict[bytes, bytes] | None = None,
    ) -> None:
        """`headers`: the scope's headers by name, when the caller has them."""
        self.send, self.started = send, time.perf_counter() if started is None else started
        if headers is None:
            headers = dict(scope.get("headers", []))
        self.headers = headers
        given = headers.get(b"x-request-id")
        self.request_id = request_id = ctx.request_id_from(given.decode("latin-1") if given else "")
        self.echo = (b"x-request-id", request_id.encode())  # the request id, sent back
        if TRACE_HEADERS.isdisjoint(headers):  # the common case: no trace to continue
            self.trace_id = self.span_id = None
        else:
            self.trace_id, self.span_id = ctx.trace_from_headers(headers)
        self.job_id = None
        # the events the request's code emits wait here: `pending` as every Current has it
        # (None outside a request), `waiting` the same list, typed as never None
        self.waiting: list[Any] = []
        self.pending = self.waiting
        self.status, self.size, self.error = 500, 0, b""

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            echo = self.echo
            headers = message.get("headers")
            if isinstance(headers, list):  # Starlette's own list, made for this response
                headers.append(echo)
            else:
                message = {**message, "headers": [*(headers or []), echo]}
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            self.size += len(body)
            if self.status >= 400 and len(self.error) < 4096:
                self.error += body[:4096]
        await self.send(message)

    def failed(self) -> None:
        """The app raised: the outermost handler answers a 500 internal_error."""
        self.status, self.error = 500, b'{"error":{"code":"internal_error"}}'

    async def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """A whole response (`headers`: a list made for it): what the two messages through
        `__call__` would note and send, in one step (the fast path's answers)."""
        self.status, self.size = status, len(body)
        if status >= 400:
            self.error = body[:4096]
        headers.append(self.echo)
        send = self.send
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


Answer = Callable[[Any], Awaitable[None]]  # the app's answer, given the send to use


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, get_telemetry: Callable[[], Telemetry]) -> None:
        self.app, self.get_telemetry = app, get_telemetry

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await observed(scope, send, functools.partial(self.app, scope, receive), self.get_telemetry)


async def observed(
    scope: dict[str, Any],
    send: Any,
    answer: Answer,
    get_telemetry: Callable[[], Telemetry],
    started: float | None = None,
) -> None:
    """`answer` run as one observed request: its request id and trace in the log context,
    its span when tracing is on, and its RequestDone event once it is answered. `started`:
    when the request came in, if before this call."""
    call = ObservedSend(send, scope, started)
    if not tracing.active():  # the common case: no span to open
        await _serve(scope, answer, call, get_telemetry)
        return
    parent = f"00-{call.trace_id}-{call.span_id}-01" if call.trace_id and call.span_id else None
    name = f"{scope['method']} {scope['path']}"
    with tracing.span(name, "http", call.request_id, parent) as span:
        call.trace_id, call.span_id = tracing.ids_of(span)
        await _serve(scope, answer, call, get_telemetry, span)


async def _serve(
    scope: dict[str, Any],
    answer: Answer,
    call: ObservedSend,
    get_telemetry: Callable[[], Telemetry],
    span: Any = None,
) -> None:
    current = ctx.current.set(call)  # the request's ids, and where its events wait
    try:
        await answer(call)
    except Exception:
        call.failed()
        raise
    finally:
        finish(scope, call, current, get_telemetry(), span)


def finish(
    scope: dict[str, Any],
    call: ObservedSend,
    current: Token[ctx.Current],
    telemetry: Telemetry,
    span: Any = None,
) -> None:
    """A request's end: the context as it was before `call` was set as the current one
    (`current`: that set's token), its RequestDone made (and its span described), and its
    events told."""
    ctx.current.reset(current)
    event = _event(scope, call)
    if span is not None:
        _describe(span, event)
    _tell(call.waiting, event, telemetry)


def _tell(waiting: list[Any], event: RequestDone, telemetry: Telemetry) -> None:
    """The request's events, in order: together when one telemetry has them all (the common
    case: a sink may then write them as one record), else each to its own."""
    events = []
    for owner, earlier in waiting:  # loops, not all(): a generator costs more than the rest
        if owner is not telemetry:
            break
        events.append(earlier)
    else:
        events.append(event)
        telemetry.emit_all(events)
        return
    for owner, earlier in waiting:
        owner.emit(earlier)
    telemetry.emit(event)


def _event(scope: dict[str, Any], call: ObservedSend) -> RequestDone:
    model, version, rows = scope.get("state", {}).get(SERVED, (None, None, 0))
    client = scope.get("client") or ("", 0)
    return RequestDone(  # by position, in the fields' order: keywords cost more, per request
        getattr(scope.get("route"), "path", "unmatched"),  # route
        scope["method"],  # method
        call.status,  # status
        time.perf_counter() - call.started,  # seconds
        model,
        version,
        rows,
        _error_code(call.error) if call.status >= 400 else None,  # error_code
        call.request_id,
        call.trace_id,
        call.span_id,
        scope.get("path", ""),  # path
        call.headers.get(b"user-agent", b"").decode("latin-1"),  # user_agent
        str(client[0]),  # remote_ip
        call.size,  # response_bytes
    )


def _describe(span: Any, event: RequestDone) -> None:
    span.update_name(f"{event.method} {event.route}")
    span.set_attribute("http.route", event.route)
    span.set_attribute("http.request.method", event.method)
    span.set_attribute("http.response.status_code", event.status)
    if event.version is not None:
        span.set_attribute("mlfn.model.version", event.version)
    if event.status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, event.error_code or "server error"))
