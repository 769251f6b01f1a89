"""The dataplane call behind every protocol's predict route, free of the web framework: the
row limit, the routing key, where the scoring runs, and what runs after the answer. The
FastAPI routes (core/api/app.py) and the framework-free /predict (core/api/fastpath.py)
both call `score_rows`, so their answers cannot drift apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.errors import PayloadTooLargeError

if TYPE_CHECKING:
    from core.inference import Predictor

# Up to this many rows a warm /predict runs on the event loop (0.1 to 0.5 ms); bigger batches,
# and any call that must read the store, go to the thread pool so the loop stays responsive.
INLINE_PREDICT_ROWS = 100
ROUTING_HEADER = "X-Mlfn-Routing-Key"
VERSION_HEADER = "X-Mlfn-Model-Version"
Deferred = list[Callable[[], None]]


def routing_key(explicit: str | None, subject: str | None, request_id: str | None) -> str | None:
    """Who the caller is, for sticky routing between champion and challenger: the
    X-Mlfn-Routing-Key header, else the token's subject, else the request id."""
    return explicit or subject or request_id


async def score_rows(
    predictor: Predictor,
    rows: Any,
    max_rows: int,
    request_id: str | None,
    key: str | None,
    version: int | None = None,
) -> tuple[dict[str, Any], Deferred]:
    """(answer, work to run after the answer is sent: a shadow's scoring). Small warm
    batches on the event loop, the rest in the thread pool. `version`: that version, not
    the routing's choice."""
    if len(rows) > max_rows:
        raise PayloadTooLargeError(f"{len(rows)} rows is over the limit of {max_rows}")
    shadows: Deferred = []
    if version is None and len(rows) <= INLINE_PREDICT_ROWS and predictor.is_warm():
        answer = predictor.predict(rows, request_id, key, shadows.append)
        return answer, shadows
    from core.api.offload import in_thread  # only when the loop must not wait

    if version is not None:
        answer = await in_thread(predictor.predict_version, version, rows, request_id)
    else:
        predict = predictor.predict
        answer = await in_thread(predict, rows, request_id, key, shadows.append)
    return answer, shadows


async def run_deferred(tasks: Deferred) -> None:
    """Small CPU work after the answer, on the loop (no thread hop)."""
    for task in tasks:
        task()
