"""AWS Lambda: the HTTP API behind API Gateway (REST v1 or HTTP v2), and the SQS training worker.

No logic of its own: Mangum adapts the events to core's ASGI app; Powertools logs with the
request's correlation id (never the event: it carries the bearer token) and reports SQS
batch item failures so only failed messages are retried, then dead-lettered.
"""

from __future__ import annotations

import binascii
import functools
import os
import random
from typing import Any

from aws_lambda_powertools import Logger

from core import constants, random_ids
from core.api.door import door_app
from core.errors import ConfigError
from core.jobs import handle_message
from core.monitoring import use_door
from functions.aws.http_events import (
    UNREADABLE_BODY,
    EventAdapter,
    HttpApiEvents,
    MalformedEvent,
    NotAnHttpEvent,
    is_warmup,
    malformed_answer,
    not_http_answer,
)

logger = Logger(service="mlfn")


def load_jwt_secret() -> None:
    """The HS256 secret lives in SSM Parameter Store (SecureString), never in the template."""
    name = os.environ.get(constants.ENV_JWT_SECRET_PARAMETER)
    if name and not os.environ.get(constants.ENV_JWT_SECRET):
        from aws_lambda_powertools.utilities import parameters

        try:
            secret = parameters.get_parameter(name, decrypt=True, force_fetch=True)
        except parameters.exceptions.GetParameterError as exc:  # fail the cold start, clearly
            raise ConfigError(
                f"cannot read the JWT secret from SSM parameter {name}: {exc}"
            ) from None
        os.environ[constants.ENV_JWT_SECRET] = secret


load_jwt_secret()
use_door("aws")  # this cloud's telemetry sinks, JSON logs and (when configured) traces
# services (store, model) load on first use and stay for the warm instance; FastAPI only
# for a request other than POST /predict
app = door_app()


_asgi = EventAdapter(app, lifespan="off", custom_handlers=[HttpApiEvents])


def _tracer() -> Any:
    """Powertools Tracer (an X-Ray subsegment per invocation, annotated with the service and
    cold start) when MLFN_AWS_TRACER=on; Lambda's own X-Ray tracing (`Tracing: Active`)
    works without it. Optional: importing X-Ray's SDK costs cold-start time."""
    if os.environ.get("MLFN_AWS_TRACER") != "on":
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service="mlfn")


tracer = _tracer()


def prime_before_snapshot() -> None:
    """SnapStart: before the snapshot, build the services, load the champion (and any
    challenger) and run its session once, so a restored instance answers its first request
    warm. With no champion yet the instance loads it on first use, as without SnapStart."""
    versions, why_not = app.prime()
    if why_not is not None:
        logger.warning("not primed before the snapshot", extra={"reason": why_not})
        return
    logger.info("primed before the snapshot", extra={"versions": versions})


def after_restore() -> None:
    """SnapStart: each restored instance draws its own random numbers (prediction-log
    sampling, retry jitter), reads its own request and prediction ids, and reads the
    routing again before its first answer."""
    random.seed()
    random_ids.forget()
    if "services" in app.state.built:
        app.state.build_services().predictor.recheck()


try:  # Lambda's Python runtimes (3.12+) ship it; elsewhere there is no snapshot to prime
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:
    pass
else:
    register_before_snapshot(prime_before_snapshot)
    register_after_restore(after_restore)


@logger.inject_lambda_context
def handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):  # a direct invoke's JSON array, string or number
        return not_http_answer(event)
    # The correlation id Powertools' API_GATEWAY_REST path names (requestContext.requestId,
    # in REST v1 and HTTP v2 events alike), read directly: its JMESPath costs ~10 µs a call.
    context_of_request = event.get("requestContext")
    found = context_of_request.get("requestId") if isinstance(context_of_request, dict) else None
    logger.set_correlation_id(found)
    try:
        return _asgi(event, context)
    except NotAnHttpEvent:
        return _warmed() if is_warmup(event) else not_http_answer(event)
    except MalformedEvent as exc:
        return malformed_answer(str(exc))
    except binascii.Error:  # the adapters decode an event's base64 body before the app runs
        return UNREADABLE_BODY


def _warmed() -> dict[str, Any]:
    """A keep-warm ping: the champion loaded and its session run once, as before a
    SnapStart snapshot, so the next request finds the instance warm."""
    versions, why_not = app.prime()
    if why_not is not None:
        logger.warning("warm-up ping: nothing primed", extra={"reason": why_not})
    return {"warmed": True, "primed": versions}


if tracer is not None:  # the response holds predictions: not copied into the trace
    handler = tracer.capture_lambda_handler(handler, capture_response=False)


def _run(record: Any, lambda_context: Any = None) -> None:
    """One message: {"job_id"} or the schedule's {"action": "sweep"}. A finished job's
    message is acknowledged; raising leaves it for SQS to redeliver, then dead-letter.
    Training stops (failed with `timeout`) before the invocation's own time runs out."""
    left = getattr(lambda_context, "get_remaining_time_in_millis", None)
    outcome = handle_message(record.body, left() / 1000 if left else None)
    logger.info(
        "message handled", extra={"job_id": outcome.get("job_id"), "status": outcome.get("status")}
    )


@logger.inject_lambda_context
def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    return process_partial_response(event, _run, _batch_processor(), context)


@functools.cache
def _batch_processor() -> Any:
    """Failed messages are reported one by one (ReportBatchItemFailures), even when all
    fail. Made on the worker's first message: the API function never imports it."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
