"""What telemetry costs a warm /predict: the ASGI app called in-process (no network, no
HTTP client), telemetry off (MLFN_TELEMETRY=off: no middleware, no sinks) against on, with
`mlfn serve`'s Prometheus sink and with the AWS door's EMF lines as well (written to
/dev/null). Rounds alternate so drift hits both sides alike.

Two clocks per call: until the response's last body message is sent (what the client
waits for: the server has written it to the socket by then) and until the app returns
(the CPU the request costs, events included: they are recorded after the answer is sent)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import scratch_project

ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}
CALLS, ROUNDS = 2000, 5
GOAL_MS = 0.1
SECRET = "bench-secret-0123456789abcdef"


def _caller(app: Any, token: str) -> Callable[[], tuple[float, float]]:
    body = json.dumps({"instances": [ROW]}).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/predict", "raw_path": b"/predict", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        "headers": [(b"authorization", f"Bearer {token}".encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    loop = asyncio.new_event_loop()

    answered = [0.0]

    async def once() -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200, message
            elif not message.get("more_body"):
                answered[0] = time.perf_counter()

        await app(dict(scope), receive, send)

    def timed() -> tuple[float, float]:
        started = time.perf_counter()
        loop.run_until_complete(once())
        ended = time.perf_counter()
        return (answered[0] - started) * 1000, (ended - started) * 1000

    return timed


def _app(settings: Any, store: Any, telemetry: str, sinks: tuple[Any, ...] = ()) -> Any:
    from core.api import Services, create_app
    from core.auth import Authenticator, AuthSettings
    from core.jobs import LocalDispatcher

    os.environ["MLFN_TELEMETRY"] = telemetry
    try:
        auth = Authenticator(AuthSettings(SECRET, None, "mlfn", "mlfn-api"))
        services = Services(settings, store, LocalDispatcher(settings, store), auth,
                            extra_sinks=sinks)  # fmt: skip
        return create_app(services)
    finally:
        os.environ.pop("MLFN_TELEMETRY", None)


def run() -> dict[str, Any]:
    from core.auth import mint_token
    from core.config import load_settings
    from core.monitoring.emf import EmfSink
    from core.storage import open_store
    from core.training.run import train

    os.environ["MLFN_TRACKING"] = "off"
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(scratch_project(Path(tmp), "iris"), env="dev")
        store = open_store(settings.store_uri)
        train(settings, store, model_types=["logistic_regression"])
        token = mint_token(SECRET, ["predict"])
        emf = EmfSink()
        with open(os.devnull, "w") as devnull:
            emf_to_null = _QuietEmf(emf, devnull)
            callers = {
                "off": _caller(_app(settings, store, "off"), token),
                "prometheus": _caller(_app(settings, store, "on"), token),
                "prometheus_and_emf": _caller(_app(settings, store, "on", (emf_to_null,)), token),
            }
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in callers}
            for call in callers.values():  # warm: the champion loaded, the pools made
                for _ in range(200):
                    call()
            for _ in range(ROUNDS):
                for name, call in callers.items():
                    samples[name].extend(call() for _ in range(CALLS))
    return _summary(samples)


class _QuietEmf:
    """The EMF sink with its lines sent to /dev/null (Lambda would ship them to CloudWatch)."""

    def __init__(self, sink: Any, devnull: io.TextIOBase) -> None:
        self.sink, self.devnull = sink, devnull

    def emit(self, event: Any) -> None:
        import contextlib

        with contextlib.redirect_stdout(self.devnull):
            self.sink.emit(event)

    def emit_all(self, events: list[Any]) -> None:
        import contextlib

        with contextlib.redirect_stdout(self.devnull):
            self.sink.emit_all(events)

    def flush(self) -> None:
        """Nothing buffered."""


def _summary(samples: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    result: dict[str, Any] = {"calls_each": len(samples["off"]), "goal_ms": GOAL_MS}
    for name, pairs in samples.items():
        answered = sorted(pair[0] for pair in pairs)
        returned = sorted(pair[1] for pair in pairs)
        result[name] = {
            "p50_ms": round(statistics.median(answered), 4),
            "p99_ms": round(answered[int(0.99 * (len(answered) - 1))], 4),
            "cpu_p50_ms": round(statistics.median(returned), 4),
        }
    for name in ("prometheus", "prometheus_and_emf"):
        for key in ("p50_ms", "cpu_p50_ms"):
            added = result[name][key] - result["off"][key]
            result[f"{name}_added_{key}"] = round(added, 4)
    return result
