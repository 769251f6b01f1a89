"""A finished job record, told as events: its end and the time of each training step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from core.monitoring.events import Event, JobFinished, JobStep
from core.monitoring.telemetry import Telemetry

TERMINAL = {"succeeded", "failed", "cancelled"}
STEPS = ("fit", "export", "parity", "tracking")


def _seconds(record: dict[str, Any]) -> float | None:
    started, finished = record.get("started_at"), record.get("finished_at")
    if not started or not finished:
        return None
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


def job_events(record: dict[str, Any]) -> list[Event]:
    if record.get("status") not in TERMINAL:
        return []
    result = record.get("result") or {}
    error = record.get("error") or {}
    job_id, kind = record["job_id"], record.get("kind", "train")
    events: list[Event] = [
        JobStep(job_id, kind, step, float(seconds))
        for step, seconds in (result.get("steps") or {}).items()
        if isinstance(seconds, int | float)
    ]
    events.append(
        JobFinished(
            job_id,
            kind,
            record["status"],
            int(record.get("attempts") or 0),
            _seconds(record),
            error.get("code"),
            record.get("model"),
            result.get("version"),
        )
    )
    return events


def report_job(telemetry: Telemetry, record: dict[str, Any]) -> None:
    for event in job_events(record):
        telemetry.emit(event)
    telemetry.flush()


@contextmanager
def job_context(record: dict[str, Any]) -> Iterator[None]:
    """While a job runs: its id, and the request and trace that queued it, in every log line;
    a CONSUMER span continuing that trace when tracing is on."""
    from core.monitoring import context as ctx
    from core.monitoring import tracing

    carried = record.get("trace") or {}
    parent = carried.get("traceparent")
    found = ctx.TRACEPARENT.match(parent or "")
    job_id, request_id = record["job_id"], carried.get("request_id")
    trace_id = found.group(1) if found else None
    token = ctx.current.set(ctx.Current(request_id, trace_id, None, job_id))
    try:
        with tracing.span(
            f"job {record.get('kind', 'train')}", "pubsub", job_id, parent,
            **{"messaging.message.id": job_id},
        ) as span:  # fmt: skip
            if span is not None:
                trace, span_id = tracing.ids_of(span)
                ctx.current.set(ctx.Current(request_id, trace, span_id, job_id))
            yield
    finally:
        ctx.current.reset(token)
