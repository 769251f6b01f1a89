"""`mlfn serve`: the API under uvicorn with a local job worker, in one process or several.

With `--workers N` (N > 1) uvicorn starts N processes that each import `app_factory`; the
settings travel to them as MLFN_CONFIG / MLFN_ENV / MLFN_STORE, and the Prometheus numbers
are shared through PROMETHEUS_MULTIPROC_DIR, a fresh folder, so any worker's /metrics
answers for all of them."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from core import constants
from core.config import Settings
from core.monitoring.prometheus import MULTIPROC_ENV


def services_for(settings: Settings) -> Any:
    from core.api.app import Services
    from core.jobs import LocalDispatcher
    from core.storage import open_store

    store = open_store(settings.store_uri)
    dispatcher = LocalDispatcher(settings, store)
    services = Services(settings, store, dispatcher)
    dispatcher.start_sweeps()  # jobs a previous server left behind run again
    from core.jobs.scheduled import start_local_schedules

    start_local_schedules(settings, store, dispatcher, dispatcher.stopping)
    return services


def app_factory() -> Any:
    """One worker process's app (uvicorn calls this in each)."""
    from core.api.app import create_app
    from core.config import load_settings

    return create_app(services_for(load_settings()))


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    os.environ[constants.ENV_CONFIG] = str(settings.config_path)
    os.environ[constants.ENV_ENV] = settings.env
    os.environ[constants.ENV_STORE] = settings.store_uri
    shared = tempfile.mkdtemp(prefix="mlfn-metrics-")
    os.environ[MULTIPROC_ENV] = shared
    print(f"mlfn: {workers} worker processes on http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        uvicorn.run(
            "core.api.serve:app_factory", factory=True, host=host, port=port,
            workers=workers, log_level="warning", access_log=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(shared, ignore_errors=True)
