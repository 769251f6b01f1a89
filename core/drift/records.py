"""The monitoring records in the store that the serving path reads and writes: posted
labels (feedback/<yyyy>/<mm>/<dd>/<hhmmss>-<id>.jsonl) and the latest report
(reports/drift/<model>/latest.json). Light: the standard library only."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from core.errors import NotFoundError
from core.storage import Store, join_key

REPORTS = "reports/drift"
FEEDBACK_PREFIX = "feedback"


def reports_prefix(model_name: str) -> str:
    return join_key(REPORTS, model_name)


def latest_report(store: Store, model_name: str) -> dict[str, Any]:
    try:
        return dict(store.read_json(join_key(reports_prefix(model_name), "latest.json")))
    except NotFoundError:
        raise NotFoundError(
            f"no drift report for '{model_name}' yet: run `mlfn drift run`, or wait for the "
            "monitor schedule"
        ) from None


def record_feedback(store: Store, items: list[dict[str, Any]], subject: str) -> dict[str, Any]:
    """Labels for prediction ids, as one new object (nothing is appended or overwritten)."""
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="milliseconds")
    lines = [json.dumps({**item, "time": stamp, "by": subject}) for item in items]
    name = f"{now:%H%M%S}-{uuid.uuid4().hex}.jsonl"
    key = join_key(FEEDBACK_PREFIX, f"{now:%Y/%m/%d}", name)
    store.write_new(key, ("\n".join(lines) + "\n").encode())
    return {"accepted": len(items)}
