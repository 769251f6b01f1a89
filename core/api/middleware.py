"""Pure ASGI middleware: the body size limit and Prometheus metrics (no per-request overhead
from BaseHTTPMiddleware)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from core.errors import PayloadTooLargeError

ASGIApp = Any
MAX_BODY_BYTES = 6 * 2**20  # API Gateway and Lambda's synchronous payload limit


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLargeError(f"the request body is over {self.limit // 2**20} MB")
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_json(send, too_large.status, too_large.to_dict())
            return
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise too_large
            return message

        await self.app(scope, counted, send)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlfn_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlfn_request_seconds", "HTTP request latency", ["route"], registry=self.registry
        )
        self.predictions = Counter(
            "mlfn_predictions_total", "Rows predicted", ["model_version"], registry=self.registry
        )
        self.jobs = Counter(
            "mlfn_jobs_total",
            "Jobs submitted and finished",
            ["kind", "status"],
            registry=self.registry,
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, get_metrics: Callable[[], Metrics]) -> None:
        self.app, self.get_metrics = app, get_metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def recording(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics = self.get_metrics()
            metrics.requests.labels(route, scope["method"], str(status[0])).inc()
            metrics.latency.labels(route).observe(time.perf_counter() - started)


class DefaultJsonContentType:
    """Treat a body without a content type as JSON: API Gateway forwards none when the client
    sent none, and this API speaks only JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in {"POST", "PUT", "PATCH"}:
            headers = scope.get("headers", [])
            if not any(name == b"content-type" for name, _ in headers):
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)
