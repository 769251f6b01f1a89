"""Google Cloud: one structured JSON line per event on stdout, in the fields Cloud Logging
maps onto its LogEntry — `severity`, `message`, `httpRequest` (method, URL, status, latency
as "0.004s", sizes, user agent, caller IP), `logging.googleapis.com/trace` and `/spanId`,
`logging.googleapis.com/labels` — so the request log, log-based metrics and the trace view
work with nothing else installed. Azure Functions without Application Insights writes the
same lines (its log stream shows them; nothing there reads the Google names)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from core.monitoring.events import (
    ChallengerFailed,
    DriftChecked,
    Event,
    JobFinished,
    JobStep,
    ModelLoaded,
    Predicted,
    RequestDone,
)
from core.monitoring.jsonline import json_line


class CloudLoggingSink:
    def __init__(self, stream: TextIO | None = None, project: str | None = None) -> None:
        self.stream = stream
        self.project = (
            project or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT")
        )

    def _write(self, entry: dict[str, Any]) -> None:
        entry["time"] = datetime.now(UTC).isoformat(timespec="microseconds")
        stream = self.stream or sys.stdout
        stream.write(json_line(entry))

    def _trace(self, entry: dict[str, Any], trace_id: str | None, span_id: str | None) -> None:
        if trace_id and self.project:
            entry["logging.googleapis.com/trace"] = f"projects/{self.project}/traces/{trace_id}"
            if span_id:
                entry["logging.googleapis.com/spanId"] = span_id

    def emit(self, event: Event) -> None:
        if isinstance(event, RequestDone):
            self._request(event)
        elif isinstance(event, Predicted):
            self._write(_prediction_entry(event))
        elif isinstance(event, ModelLoaded):
            self._write(
                {"severity": "INFO", "message": f"model {event.model} v{event.version} loaded",
                 "event": "model_load", "model": event.model, "version": event.version,
                 "seconds": round(event.seconds, 6), "cache": "hit" if event.cache_hit else "miss"}
            )  # fmt: skip
        elif isinstance(event, JobStep):
            self._write(
                {"severity": "INFO", "message": f"job {event.job_id} {event.step}",
                 "event": "job_step", "job_id": event.job_id, "kind": event.kind,
                 "step": event.step, "seconds": event.seconds}
            )  # fmt: skip
        elif isinstance(event, JobFinished):
            self._write(_job_entry(event))
        elif isinstance(event, ChallengerFailed):
            self._write(
                {"severity": "WARNING", "event": "challenger_error", "model": event.model,
                 "message": f"{event.model} v{event.version} ({event.mode}) failed: "
                            f"{event.error_code}; the champion answered",
                 "version": event.version, "mode": event.mode, "error_code": event.error_code}
            )  # fmt: skip
        elif isinstance(event, DriftChecked):
            verdict = {True: "dataset drift", False: "no dataset drift", None: "too few rows"}
            self._write(
                {"severity": "WARNING" if event.dataset_drift else "INFO",
                 "message": f"{event.model} v{event.version}: {verdict[event.dataset_drift]}",
                 "event": "drift", "model": event.model, "version": event.version,
                 "rows": event.rows, "drift_share": event.drift_share,
                 "dataset_drift": event.dataset_drift, "outcome": event.outcome}
            )  # fmt: skip

    def _request(self, event: RequestDone) -> None:
        severity = "ERROR" if event.status >= 500 else "WARNING" if event.status >= 400 else "INFO"
        entry: dict[str, Any] = {
            "severity": severity,
            "message": f"{event.method} {event.route} {event.status}",
            "event": "request",
            "httpRequest": {
                "requestMethod": event.method, "requestUrl": event.path or event.route,
                "status": event.status, "responseSize": str(event.response_bytes),
                "userAgent": event.user_agent, "remoteIp": event.remote_ip,
                "latency": f"{event.seconds:.6f}s",
            },
            "logging.googleapis.com/labels": {"route": event.route},
            "request_id": event.request_id, "model": event.model, "version": event.version,
            "rows": event.rows, "error_code": event.error_code,
        }  # fmt: skip
        self._trace(entry, event.trace_id, event.span_id)
        self._write(entry)

    def flush(self) -> None:
        (self.stream or sys.stdout).flush()


def _prediction_entry(event: Predicted) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "severity": "INFO", "message": f"predicted {event.rows} rows",
        "event": "prediction", "model": event.model, "version": event.version,
        "rows": event.rows, "classes": dict(event.classes),
    }  # fmt: skip
    if event.confidences:
        entry["mean_confidence"] = sum(event.confidences) / len(event.confidences)
    if event.values:
        entry["mean_value"] = sum(event.values) / len(event.values)
    return entry


def _job_entry(event: JobFinished) -> dict[str, Any]:
    return {
        "severity": "ERROR" if event.status == "failed" else "INFO",
        "message": f"job {event.job_id} {event.status} after {event.attempts} attempt(s)",
        "event": "job", "job_id": event.job_id, "kind": event.kind, "status": event.status,
        "attempts": event.attempts, "seconds": event.seconds, "error_code": event.error_code,
        "version": event.version,
    }  # fmt: skip
