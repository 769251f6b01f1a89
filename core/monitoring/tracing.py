"""OpenTelemetry spans following the FaaS semantic conventions (`faas.trigger`,
`faas.invocation_id`, `faas.coldstart`, `cloud.provider`, `faas.name`), carried from the API
through the queue to the worker as a W3C traceparent.

Tracing is on only where an exporter is configured: Application Insights
(APPLICATIONINSIGHTS_CONNECTION_STRING, on Azure), Cloud Trace (MLFN_GCP_TRACE=on, on Google
Cloud), or `enable_tracing(exporter)` (tests, or a collector of your own). Off, it costs
nothing: `active()` is false and no span is made.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("mlfn.monitoring")
PROVIDERS = {"aws": "aws", "gcp": "gcp", "azure": "azure"}
NAME_ENVS = ("AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "WEBSITE_SITE_NAME")
_state: dict[str, Any] = {"tracer": None, "door": "serve", "cold": True}


def active() -> bool:
    return _state["tracer"] is not None


def resource_attributes(door: str) -> dict[str, str]:
    attributes = {"service.name": os.environ.get("OTEL_SERVICE_NAME", "mlfn")}
    if door in PROVIDERS:
        attributes["cloud.provider"] = PROVIDERS[door]
    name = next((os.environ[env] for env in NAME_ENVS if os.environ.get(env)), None)
    if name:
        attributes["faas.name"] = name
    return attributes


def enable_tracing(exporter: Any, door: str = "serve") -> None:
    """Spans go to `exporter` (an OpenTelemetry SpanExporter), one at a time."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create(resource_attributes(door)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _state.update(tracer=provider.get_tracer("mlfn"), door=door, provider=provider)


def disable_tracing() -> None:
    _state.update(tracer=None, door="serve")


def configure_tracing(door: str) -> None:
    """The exporter the door's cloud reads, when its settings are there."""
    if door == "azure" and os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        from core.monitoring.otel import azure_monitor

        azure_monitor()
        from opentelemetry import trace

        _state.update(tracer=trace.get_tracer("mlfn"), door=door)
    elif door == "gcp" and os.environ.get("MLFN_GCP_TRACE") == "on":
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        enable_tracing(_NullExporter(), door)
        _state["provider"].add_span_processor(BatchSpanProcessor(CloudTraceSpanExporter()))


class _NullExporter:
    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing held."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@contextmanager
def span(
    name: str, trigger: str, invocation_id: str | None, parent: str | None = None, **extra: Any
) -> Iterator[Any]:
    """A SERVER (http) or CONSUMER (queue) span continuing `parent` (a traceparent); yields
    the span, or None when tracing is off."""
    tracer = _state["tracer"]
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = TraceContextTextMapPropagator().extract({"traceparent": parent}) if parent else None
    kind = SpanKind.SERVER if trigger == "http" else SpanKind.CONSUMER
    attributes = {"faas.trigger": trigger, "faas.coldstart": _state["cold"], **extra}
    if invocation_id:
        attributes["faas.invocation_id"] = invocation_id
    if _state["door"] in PROVIDERS:
        attributes["cloud.provider"] = PROVIDERS[_state["door"]]
    _state["cold"] = False
    with tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes) as s:
        yield s


def ids_of(current: Any) -> tuple[str | None, str | None]:
    """(trace id, span id) of a span, in W3C hex."""
    if current is None:
        return None, None
    context = current.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
