"""Azure Functions (Python v2 programming model): the HTTP API and the queue-triggered worker.

AsgiFunctionApp serves core's FastAPI app on every route (host.json sets routePrefix "" so
the paths are the contract's, without /api). Training jobs arrive on the Storage queue
`mlfn-training`; an exception makes the host retry, then move the message to the poison queue.
"""

from __future__ import annotations

import json

import azure.functions as func

from core.api import create_app
from core.jobs import run_job_by_id

QUEUE_NAME = "mlfn-training"

api = create_app()  # services (store, model) load on first use and stay for the instance
app = func.AsgiFunctionApp(app=api, http_auth_level=func.AuthLevel.ANONYMOUS)


@app.queue_trigger(arg_name="message", queue_name=QUEUE_NAME, connection="AzureWebJobsStorage")
def worker(message: func.QueueMessage) -> None:
    run_job_by_id(json.loads(message.get_body())["job_id"])
