"""JSON log lines for the clouds: one object a line, with the request, trace and job ids, in
the fields each cloud's log service reads (`severity` and `logging.googleapis.com/trace` on
Google Cloud, `level` and `timestamp` elsewhere). Bearer tokens, JWTs and the values of
secret environment variables are masked before anything is written."""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import UTC, datetime
from typing import Any

from core.monitoring.context import current_fields

SECRET_ENVS = ("MLFN_JWT_SECRET", "AWS_SECRET_ACCESS_KEY", "AZURE_STORAGE_CONNECTION_STRING",
               "APPLICATIONINSIGHTS_CONNECTION_STRING", "AzureWebJobsStorage")  # fmt: skip
BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
MASK = "[redacted]"
JSON_HANDLER = "mlfn-json"
STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def redact(text: str) -> str:
    text = JWT.sub(MASK, BEARER.sub("Bearer " + MASK, text))
    for name in SECRET_ENVS:
        value = os.environ.get(name)
        if value and len(value) >= 8:
            text = text.replace(value, MASK)
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, door: str = "serve") -> None:
        super().__init__()
        self.door = door
        self.project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "severity": record.levelname,
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **current_fields(),
        }
        for key, value in vars(record).items():
            if key not in STANDARD and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        self._google_fields(entry)
        return json.dumps(entry, default=str)

    def _google_fields(self, entry: dict[str, Any]) -> None:
        if self.door == "gcp" and self.project and entry.get("trace_id"):
            entry["logging.googleapis.com/trace"] = (
                f"projects/{self.project}/traces/{entry['trace_id']}"
            )
            if entry.get("span_id"):
                entry["logging.googleapis.com/spanId"] = entry["span_id"]


class ContextFilter(logging.Filter):
    """For a JSON handler that is not ours (Powertools Logger's on AWS, which owns the `mlfn`
    logger there): the ids of the current request and job as fields, secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_fields().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        record.msg, record.args = redact(record.getMessage()), None
        return True


def install_json_logging(door: str, level: int = logging.INFO) -> None:
    """mlfn's loggers write one JSON line per record to stderr (what every function runtime
    collects). Where a JSON handler is already there (Powertools Logger, service `mlfn`, in
    the AWS handler), it keeps writing, with the ids and masking added: never two lines."""
    root = logging.getLogger("mlfn")
    theirs = [h for h in root.handlers if h.get_name() != JSON_HANDLER]
    if theirs:
        for handler in theirs:
            if not any(isinstance(f, ContextFilter) for f in handler.filters):
                handler.addFilter(ContextFilter())
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(door))
    handler.set_name(JSON_HANDLER)
    root.handlers = [handler]
    root.setLevel(level)
    root.propagate = False
