"""Per-request overhead: each door's /predict, in-process and warm, against the bare
onnxruntime call (and the Predictor) on the same row; and the cold import time of each handler
module (a fresh interpreter each time)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.common import REPO, scratch_project, timed_calls
from bench.processes import BenchError

ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}
SECRET = "bench-secret-0123456789abcdefghijklmn"
CALLS = 2000
ROUNDS = 5
MODULES = {
    "aws": "functions.aws.handler",
    "gcp": "functions.gcp.main",
    "azure": "functions.azure.function_app",
    "serve (core.api.app)": "core.api.app",
}


# What each platform's own worker has imported before it loads the handler module: the
# functions-framework server on Google Cloud, the Python worker's azure.functions on Azure.
PLATFORM_MODULES = {
    "gcp": ("functions_framework", "functions_framework.aio"),
    "azure": ("azure.functions",),
}
IMPORT_TIMER = (
    "import time,importlib,sys\n"
    "for name in sys.argv[2:]: importlib.import_module(name)\n"
    "t=time.perf_counter();importlib.import_module(sys.argv[1]);print(time.perf_counter()-t)"
)


def _import_ms(env: dict[str, str], module: str, preloaded: tuple[str, ...], runs: int) -> float:
    command = [sys.executable, "-c", IMPORT_TIMER, module, *preloaded]
    samples = []
    for _ in range(runs):
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                              check=True)  # fmt: skip
        samples.append(float(done.stdout))
    return round(statistics.median(samples) * 1000, 1)


def cold_imports(env: dict[str, str], runs: int = 7) -> dict[str, float]:
    """Median ms to import each handler module in a fresh interpreter."""
    return {name: _import_ms(env, module, (), runs) for name, module in MODULES.items()}


def cold_imports_on_platform(env: dict[str, str], runs: int = 7) -> dict[str, float]:
    """The same, with the platform's own modules already imported, as its worker has them
    when it loads the handler: what the handler itself adds to a cold start."""
    return {
        name: _import_ms(env, MODULES[name], preloaded, runs)
        for name, preloaded in PLATFORM_MODULES.items()
    }


FIRST_PREDICT = {
    "aws": r"""
import base64, json, sys
from types import SimpleNamespace
import functions.aws.handler as handler
event = json.load(open(sys.argv[1]))
event.update(body=base64.b64encode(sys.argv[2].encode()).decode(), isBase64Encoded=True)
event["headers"]["authorization"] = "Bearer " + sys.argv[3]
context = SimpleNamespace(function_name="mlfn", memory_limit_in_mb=1024, aws_request_id="r",
                          invoked_function_arn="arn:aws:lambda:us-east-1:1:function:mlfn")
assert handler.handler(event, context)["statusCode"] == 200
""",
    "gcp": r"""
import asyncio, sys
import functions.gcp.main as gcp
from starlette.requests import Request
body = sys.argv[2].encode()
headers = [(b"authorization", b"Bearer " + sys.argv[3].encode()),
           (b"content-type", b"application/json")]
scope = {"type": "http", "method": "POST", "path": "/predict", "raw_path": b"/predict",
         "query_string": b"", "headers": headers, "http_version": "1.1", "scheme": "https",
         "server": ("localhost", 443), "client": ("127.0.0.1", 1), "root_path": ""}
async def receive():
    return {"type": "http.request", "body": body, "more_body": False}
entry = getattr(gcp.api, "__wrapped__", gcp.api)
assert asyncio.run(entry(Request(scope, receive))).status_code == 200
""",
    "azure": r"""
import asyncio, sys
from types import SimpleNamespace
import azure.functions as func
import functions.azure.function_app as azure_app
functions = {f.get_function_name(): f for f in azure_app.app.get_functions()}
http = functions["http_app_func"].get_user_function()
context = SimpleNamespace(invocation_id="i", function_name="http_app_func",
                          function_directory=".", trace_context=None, retry_context=None)
request = func.HttpRequest("POST", "http://localhost/predict", body=sys.argv[2].encode(),
                           headers={"Authorization": "Bearer " + sys.argv[3],
                                    "Content-Type": "application/json"})
assert asyncio.run(http(request, context)).status_code == 200
""",
}


def cold_first_predict(
    env: dict[str, str], body: bytes, token: str, runs: int = 5
) -> dict[str, float]:
    """Median ms from starting a fresh interpreter to each handler's first /predict answered
    (AWS: an API Gateway v2 event; Google Cloud: functions-framework's request; Azure: an
    HttpRequest; the champion read from the local store)."""
    event = str(REPO / "tests" / "events" / "apigw_http_v2.json")
    medians = {}
    for door in FIRST_PREDICT:
        samples = [first_answer_ms(door, env, event, body, token) for _ in range(runs)]
        medians[door] = round(statistics.median(samples), 1)
    return medians


ANSWERED = "\nimport time\nprint('mlfn-answered-at', time.monotonic(), flush=True)\n"


def first_answer_ms(door: str, env: dict[str, str], event: str, body: bytes, token: str) -> float:
    """Ms from starting a fresh interpreter to `door`'s first /predict answered: the child
    tells when its answer came (the system-wide monotonic clock), so the interpreter's own
    exit after it (50 to 120 ms of module teardown, which a function instance never pays before
    answering) is not counted."""
    import time

    started = time.monotonic()
    child = subprocess.run([sys.executable, "-c", FIRST_PREDICT[door] + ANSWERED, event,
                            body.decode(), token], cwd=REPO, env=env, check=True,
                           capture_output=True, text=True)  # fmt: skip
    marks = [line for line in child.stdout.splitlines() if line.startswith("mlfn-answered-at ")]
    return round((float(marks[-1].split()[1]) - started) * 1000, 1)


def run() -> dict[str, Any]:
    from core.auth import mint_token
    from core.config import load_settings
    from core.inference import Predictor, validate_rows
    from core.storage import open_store
    from core.training.run import train

    with tempfile.TemporaryDirectory() as tmp:
        config = scratch_project(Path(tmp), "iris")
        os.environ.update(
            {
                "MLFN_TRACKING": "off",
                "MLFN_CONFIG": str(config),
                "MLFN_JWT_SECRET": SECRET,
                "MLFN_CHAMPION_TTL": "3600",
            }
        )
        settings = load_settings(config, env="dev")
        store = open_store(settings.store_uri)
        train(settings, store, model_types=["random_forest"])
        token = mint_token(SECRET, ["predict"])
        body = json.dumps({"instances": [ROW]}).encode()
        results: dict[str, Any] = {
            "cold_import_ms": cold_imports(dict(os.environ)),
            "cold_import_on_platform_ms": cold_imports_on_platform(dict(os.environ)),
            "cold_first_predict_ms": cold_first_predict(dict(os.environ), body, token),
        }
        predictor = Predictor(store, "iris")
        model = predictor.current()
        feeds = validate_rows([ROW], model.spec)
        doors, close = _doors(body, token)
        try:
            calls = {"bare_onnxruntime": lambda: model.session.run(None, feeds),
                     "bare_predictor": lambda: predictor.predict([ROW]), **doors}  # fmt: skip
            results.update(interleaved(calls, CALLS))
        finally:
            close()
        bare = results["bare_onnxruntime"]
        for name in doors:
            timing = results[name]
            timing["overhead_p50_ms"] = round(timing["p50_ms"] - bare["p50_ms"], 4)
            timing["overhead_p99_ms"] = round(timing["p99_ms"] - bare["p99_ms"], 4)
    return results


def interleaved(calls: dict[str, Any], count: int) -> dict[str, dict[str, float]]:
    """Each call timed in ROUNDS rounds, every call once per round in turn, so a slow spell
    of the machine falls on all of them alike. Per call: the round with the lowest p50 (the
    noise here only ever adds time), with every round's p50 listed, and the median p99."""
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            rounds[name].append(timed_calls(call, count // ROUNDS, warmup=20))
    found = {}
    for name, timings in rounds.items():
        best = min(timings, key=lambda timing: timing["p50_ms"])
        found[name] = {
            **best,
            "calls": count // ROUNDS * ROUNDS,
            "p50_ms_by_round": [timing["p50_ms"] for timing in timings],
            "p99_ms": statistics.median(timing["p99_ms"] for timing in timings),
        }
    return found


def _doors(body: bytes, token: str) -> tuple[dict[str, Any], Any]:
    """Each door's /predict as a call, on one event loop, and how to close them. Each door
    answers once as soon as it is made: its services (and so its cloud's telemetry sinks)
    are built while its own module is the door in use, as in its own process."""
    from core.monitoring import use_door

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
    ]
    use_door("serve")  # as `mlfn serve` does
    makers = {
        "serve_app_asgi": lambda: _serve_app_call(loop, body, headers),
        "aws_handler_http_v2": lambda: _aws_call(body, token),
        "gcp_entry_point": lambda: _gcp_call(loop, body, headers),
        "azure_http_function": lambda: _azure_call(loop, body, token),
    }
    calls = {}
    for name, make in makers.items():
        calls[name] = make()
        answer = calls[name]()
        status = answer["statusCode"] if isinstance(answer, dict) else answer.status_code
        if status != 200:
            raise BenchError(f"{name} answered {status}: {answer}")

    def close() -> None:
        import functions.azure.function_app as azure_app

        # End the Azure app's ASGI lifespan on its loop, or its __del__ waits forever at exit.
        if azure_app.app.startup_task_done:
            loop.run_until_complete(azure_app.app.middleware.notify_shutdown())
            azure_app.app.startup_task_done = False
        loop.close()

    return calls, close


def _aws_call(body: bytes, token: str) -> Any:
    """The handler with an API Gateway v2 event (it leaves the event as it was: one event
    serves every call)."""
    import functions.aws.handler as aws

    event = json.loads((REPO / "tests" / "events" / "apigw_http_v2.json").read_text())
    event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    event["headers"]["authorization"] = f"Bearer {token}"
    context = SimpleNamespace(
        function_name="mlfn",
        memory_limit_in_mb=1024,
        aws_request_id="r",
        invoked_function_arn="arn:aws:lambda:us-east-1:1:function:mlfn",
    )
    return lambda: aws.handler(event, context)


def _gcp_call(loop: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> Any:
    """functions-framework's aio entry point with a Starlette request."""
    from starlette.requests import Request

    import functions.gcp.main as gcp

    scope = {"type": "http", "method": "POST", "path": "/predict", "raw_path": b"/predict",
             "query_string": b"", "headers": headers, "http_version": "1.1",
             "scheme": "https", "server": ("localhost", 443), "client": ("127.0.0.1", 1),
             "root_path": ""}  # fmt: skip
    entry = getattr(gcp.api, "__wrapped__", gcp.api)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return lambda: loop.run_until_complete(entry(Request(scope, receive)))


def _azure_call(loop: Any, body: bytes, token: str) -> Any:
    """The Azure Functions app's HTTP function with an HttpRequest."""
    import azure.functions as func

    import functions.azure.function_app as azure_app

    functions = {f.get_function_name(): f for f in azure_app.app.get_functions()}
    azure_http = functions["http_app_func"].get_user_function()
    context = SimpleNamespace(invocation_id="i", function_name="http_app_func",
                              function_directory=str(REPO), trace_context=None,
                              retry_context=None)  # fmt: skip

    def call() -> Any:
        request = func.HttpRequest(
            "POST",
            "http://localhost/predict",
            body=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        return loop.run_until_complete(azure_http(request, context))

    return call


def _serve_app_call(loop: Any, body: bytes, headers: list[tuple[bytes, bytes]]) -> Any:
    """`mlfn serve`'s app as uvicorn calls it: one ASGI request in, the answer out (over
    HTTP, bench/serving.py and bench/peers.py; a test client would time its own threads)."""
    from core.api import create_app

    app = create_app()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/predict", "raw_path": b"/predict",
             "root_path": "", "query_string": b"", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 8000)}  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    def call() -> SimpleNamespace:
        sent.clear()
        request = {**scope, "headers": list(headers), "state": {}}
        loop.run_until_complete(app(request, receive, send))
        return SimpleNamespace(status_code=sent[0]["status"])

    return call
