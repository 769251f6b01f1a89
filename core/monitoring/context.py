"""Who is being served right now: the request id, the trace and the job, carried in one
context variable (`current`) so every log line and every queue message can name them."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import Any

from core.random_ids import random_hex


class Current:
    """Who is being served: a request's or a job's ids, and (inside an HTTP request) the
    events its code emits, waiting until its answer is sent. Set once per request or job:
    one context variable, because each set and reset copies the context."""

    __slots__ = ("job_id", "pending", "request_id", "span_id", "trace_id")

    def __init__(
        self,
        request_id: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        job_id: str | None = None,
        pending: list[Any] | None = None,
    ) -> None:
        self.request_id, self.trace_id, self.span_id = request_id, trace_id, span_id
        self.job_id, self.pending = job_id, pending


NOBODY = Current()  # outside any request or job
current: ContextVar[Current] = ContextVar("mlfn_current", default=NOBODY)


def request_id() -> str | None:
    """The request being served (the caller's X-Request-Id, or its new one), if any."""
    return current.get().request_id


REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?")
AMZN_ROOT = re.compile(r"Root=1-([0-9a-f]{8})-([0-9a-f]{24})")


def request_id_from(value: str | None) -> str:
    """The caller's X-Request-Id when it is a sane token, else a new one (never echo junk)."""
    if value and REQUEST_ID.match(value):
        return value
    return random_hex()  # 128 random bits, as uuid4 but without its 4 µs or a system call


def trace_from_headers(headers: dict[bytes, bytes]) -> tuple[str | None, str | None]:
    """(trace id, parent span id) from W3C traceparent, Google's X-Cloud-Trace-Context or
    AWS's X-Amzn-Trace-Id, in that order; ids in W3C's hex form."""
    if (
        b"traceparent" not in headers
        and b"x-cloud-trace-context" not in headers
        and b"x-amzn-trace-id" not in headers
    ):  # the common case: no trace to continue
        return None, None
    parent = headers.get(b"traceparent", b"").decode("latin-1").strip().lower()
    found = TRACEPARENT.match(parent)
    if found and found.group(1) != "0" * 32:
        return found.group(1), found.group(2)
    google = CLOUD_TRACE.match(headers.get(b"x-cloud-trace-context", b"").decode("latin-1"))
    if google:
        span = int(google.group(2)) if google.group(2) else None
        return google.group(1).lower(), f"{span:016x}" if span and span < 2**64 else None
    amazon = AMZN_ROOT.search(headers.get(b"x-amzn-trace-id", b"").decode("latin-1"))
    if amazon:
        return amazon.group(1) + amazon.group(2), None
    return None, None


def traceparent() -> str | None:
    """The current trace as a W3C traceparent, for a message that continues it elsewhere."""
    now = current.get()
    trace, span = now.trace_id, now.span_id
    if trace is None:
        return None
    return f"00-{trace}-{span or uuid.uuid4().hex[:16]}-01"


def carried() -> dict[str, Any]:
    """What a queued job keeps of the request that made it (to correlate the worker's logs)."""
    fields = {"request_id": current.get().request_id, "traceparent": traceparent()}
    return {key: value for key, value in fields.items() if value}


def current_fields() -> dict[str, str]:
    """The ids a log line carries now."""
    now = current.get()
    fields = {
        "request_id": now.request_id,
        "trace_id": now.trace_id,
        "span_id": now.span_id,
        "job_id": now.job_id,
    }
    return {key: value for key, value in fields.items() if value}
