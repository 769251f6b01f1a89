"""Google Cloud Functions (gen2): the HTTP API and the Pub/Sub training worker.

Deploy with `--entry-point api` (HTTP) and `--entry-point worker` (Pub/Sub trigger); the
source file is main.py. No logic here: requests go to core's ASGI app as they are.
"""

from __future__ import annotations

import base64
from typing import Any

from cloudevents.http import CloudEvent
from functions_framework import aio
from starlette.requests import Request
from starlette.responses import Response

from core.api.bridge import call_asgi
from core.api.door import door_app
from core.jobs import handle_message
from core.monitoring import use_door

use_door("gcp")  # this cloud's telemetry sinks, JSON logs and (when configured) traces
app = door_app()  # services (store, model) load on first use and stay for the instance


@aio.http
async def api(request: Request) -> Response:
    status, headers, body = await call_asgi(app, dict(request.scope), await request.body())
    response = Response(body, status_code=status)
    response.raw_headers = headers
    return response


@aio.cloud_event
def worker(event: CloudEvent) -> None:  # training blocks: run off the event loop
    """A Pub/Sub push: {"job_id"} (or the schedule's {"action": "sweep"}) in message.data.
    Raising makes Pub/Sub redeliver, then dead-letter (see infra/gcp/worker-delivery.sh)."""
    message: dict[str, Any] = event.data["message"]
    handle_message(base64.b64decode(message["data"]))
