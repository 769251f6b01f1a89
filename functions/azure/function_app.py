"""Azure Functions (Python v2 programming model): the HTTP API, the queue-triggered worker
the job sweep's timer, and the config's schedules (monitor, retrain) as timers whose NCRONTAB
`mlfn deploy azure` sets in the app settings MLFN_MONITOR_SCHEDULE and MLFN_RETRAIN_SCHEDULE
(a schedule the config does not set is disabled: AzureWebJobs.<name>.Disabled=true).

AsgiFunctionApp serves core's FastAPI app on every route (host.json sets routePrefix "" so
the paths are the contract's, without /api). Training jobs arrive on the Storage queue
`mlfn-training`; an exception makes the host retry (host.json `maxDequeueCount`), then move
the message to `mlfn-training-poison`.
"""

from __future__ import annotations

import logging
import os

import azure.functions as func
from azure.functions.warmup import WarmUpContext

from core.api.door import door_app
from core.jobs import handle_message
from core.jobs.scheduled import run_scheduled_from_env
from core.jobs.schedules import SWEEP
from core.jobs.worker import sweep_from_env
from core.monitoring import use_door

QUEUE_NAME = "mlfn-training"

use_door("azure")  # this cloud's telemetry sinks, JSON logs and (when configured) traces
api = door_app()  # services (store, model) load on first use and stay for the instance
# Behind API Management (`mlfn deploy azure` with azure.apim) the HTTP trigger needs the
# function key, which only the gateway holds; otherwise the app checks the JWT alone.
behind_apim = os.environ.get("MLFN_AZURE_AUTH_LEVEL") == "function"
level = func.AuthLevel.FUNCTION if behind_apim else func.AuthLevel.ANONYMOUS
app = func.AsgiFunctionApp(app=api, http_auth_level=level)


@app.warm_up_trigger(arg_name="context")
def warmup(context: WarmUpContext) -> None:
    """A new instance of a Premium or Dedicated plan app, before it takes traffic: the
    champion loaded and run once (the Consumption plan never calls it; loading stays lazy)."""
    versions, why_not = api.prime()
    if why_not is not None:
        logging.getLogger("mlfn").warning("warmup: nothing primed (%s)", why_not)
    else:
        logging.getLogger("mlfn").info("warmup: primed versions %s", versions)


@app.queue_trigger(arg_name="message", queue_name=QUEUE_NAME, connection="AzureWebJobsStorage")
def worker(message: func.QueueMessage) -> None:
    handle_message(message.get_body())


@app.timer_trigger(arg_name="timer", schedule=SWEEP.ncrontab(), run_on_startup=False)
def sweep(timer: func.TimerRequest) -> None:
    sweep_from_env()


@app.timer_trigger(arg_name="timer", schedule="%MLFN_MONITOR_SCHEDULE%", run_on_startup=False)
def monitor(timer: func.TimerRequest) -> None:
    run_scheduled_from_env("monitor")


@app.timer_trigger(arg_name="timer", schedule="%MLFN_RETRAIN_SCHEDULE%", run_on_startup=False)
def retrain(timer: func.TimerRequest) -> None:
    run_scheduled_from_env("retrain")
