"""The same scenarios through every door, with identical answers: the AWS handler with API
Gateway REST v1 and HTTP v2 events, and `mlfn serve` over real HTTP; storage on moto S3."""

from __future__ import annotations

import base64
import copy
import importlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.config import load_settings
from core.registry import ModelRegistry
from core.storage import open_store
from core.training.run import train
from tests.conftest import REPO, make_project
from tests.contract.lambda_runtime import (
    LambdaRuntime,
    decoded_body,
    generated_event,
    with_headers,
)
from tests.contract.scenarios import ROW, SCENARIOS, SECRET, Door, Scenario, auth
from tests.emulator_fixtures import AWS_ENV, make_s3_bucket
from tests.jobs_helpers import QUICK_LEASES

EVENTS = REPO / "tests" / "events"
# The prediction log of the doors that run in processes of their own, one line per object,
# so the automatic rollout sees every request at once.
LOGGED = {"MLFN_PREDICTION_LOG": "on", "MLFN_PREDICTION_LOG_BATCH": "1"}
HTTP_V2 = "apigw_http_v2.json"


@dataclass
class LambdaContext:
    function_name: str = "mlfn-api"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:mlfn-api"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"


def _event(template: str, method: str, path: str, body: Any, headers: dict[str, str]) -> dict:
    event = copy.deepcopy(json.loads((EVENTS / template).read_text()))
    encoded = base64.b64encode(json.dumps(body).encode()).decode() if body is not None else None
    if template.endswith("v1.json"):
        event.update(httpMethod=method, path=path, body=encoded, isBase64Encoded=bool(encoded))
        event["headers"] = {**event["headers"], **headers}
        event["requestContext"]["httpMethod"] = method
    else:
        event.update(rawPath=path, body=encoded, isBase64Encoded=bool(encoded))
        event["headers"] = {**event["headers"], **{k.lower(): v for k, v in headers.items()}}
        event["requestContext"]["http"].update(method=method, path=path)
    return event


WEAK = {"logistic_regression": {"C": 0.001, "max_iter": 5}}


def weak_champion(config: Path, store_uri: str) -> tuple[Any, Any]:
    """Point the project at `store_uri` and train a deliberately weak champion (v1), so that
    a random forest trained through a door beats it and is promoted."""
    data = json.loads(config.read_text())
    data["promotion"]["dev"]["store"] = store_uri
    config.write_text(json.dumps(data))
    settings = load_settings(config, env="dev")
    store = open_store(settings.store_uri)
    train(settings, store, model_types=["logistic_regression"], params=WEAK)
    return settings, store


def lambda_door(handler: Any, template: str) -> Door:
    def call(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        answer = handler.handler(_event(template, method, path, body, headers), LambdaContext())
        text = base64.b64decode(answer["body"]) if answer.get("isBase64Encoded") else answer["body"]
        return answer["statusCode"], json.loads(text)

    return call


def http_door(base: str) -> Door:
    def call(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            base + path,
            data=data,
            method=method,
            headers={**headers, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    return call


@pytest.fixture(scope="module")
def aws_project(moto_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    directory = tmp_path_factory.mktemp("contract")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            **AWS_ENV,
            "AWS_ENDPOINT_URL_S3": moto_server.url,
            "AWS_ENDPOINT_URL_SQS": moto_server.url,
            "MLFN_TRACKING": "off",
            "MLFN_JWT_SECRET": SECRET,
            "MLFN_CHAMPION_TTL": "0",
        }.items():
            patch.setenv(name, value)
        import boto3

        queue_url = boto3.client("sqs").create_queue(QueueName="mlfn-train")["QueueUrl"]
        config = make_project(directory, training=QUICK_LEASES)
        settings, store = weak_champion(config, f"s3://{make_s3_bucket()}/iris")
        patch.setenv("MLFN_CONFIG", str(config))
        patch.setenv("MLFN_SQS_QUEUE_URL", queue_url)
        import functions.aws.handler as handler

        handler = importlib.reload(handler)  # a cold start with this environment
        services = handler.app.state.build_services()  # built now, while the environment is set
        assert services.store.uri == settings.store_uri
        yield {
            "handler": handler,
            "settings": settings,
            "store": store,
            "queue": queue_url,
            "env": dict(os.environ),
        }


@pytest.fixture
def worker_env(aws_project: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker Lambda's own environment (the autouse fixture clears MLFN_* per test)."""
    for name in ("MLFN_CONFIG", "MLFN_JWT_SECRET", "MLFN_CHAMPION_TTL"):
        monkeypatch.setenv(name, aws_project["env"][name])


@pytest.fixture(scope="module")
def serve_door(aws_project: dict) -> Iterator[Door]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**aws_project["env"], **LOGGED}
    env.pop("MLFN_SQS_QUEUE_URL")  # `mlfn serve` trains with its own local worker
    server = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(port)], cwd=REPO, env=env
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/health", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield http_door(base)
    server.terminate()
    server.wait(timeout=10)


def start_http(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    server = subprocess.Popen(command, cwd=REPO, env={**env, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
            return server
        except urllib.error.HTTPError:
            return server  # answering: the worker function has no /health
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {server.returncode}") from None
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"{command} did not start")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def gcp_project(gcs_server, aws_project: dict, tmp_path_factory) -> Iterator[dict]:
    """The GCP entry points under functions-framework on 127.0.0.1, on the GCS emulator."""
    from tests.emulator_fixtures import make_gcs_bucket

    directory = tmp_path_factory.mktemp("gcp")
    config = make_project(directory, training=QUICK_LEASES)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
        _, store = weak_champion(config, f"gs://{make_gcs_bucket()}/iris")
        env = {
            **aws_project["env"],
            "STORAGE_EMULATOR_HOST": gcs_server.url,
            "MLFN_CONFIG": str(config),
            **LOGGED,
        }
        env.pop("MLFN_SQS_QUEUE_URL")
        api_port, worker_port = free_port(), free_port()
        api = _functions_framework("api", api_port, env)
        worker = _functions_framework("worker", worker_port, env, "--signature-type", "cloudevent")
        yield {
            "door": http_door(f"http://127.0.0.1:{api_port}"),
            "store": store,
            "config": config,
            "worker": f"http://127.0.0.1:{worker_port}",
        }
        for server in (api, worker):
            server.terminate()
            server.wait(timeout=10)


def _functions_framework(
    target: str, port: int, env: dict[str, str], *options: str
) -> subprocess.Popen:
    """One GCP entry point of functions/gcp/main.py under functions-framework, on loopback."""
    framework = str(Path(sys.executable).parent / "functions-framework")
    source = str(REPO / "functions" / "gcp" / "main.py")
    command = [framework, "--target", target, "--source", source, "--asgi", *options,
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    return start_http(command, env, port)


def azure_door(functions: dict) -> tuple[Door, Any]:
    import asyncio

    import azure.functions as func

    http = functions["http_app_func"].get_user_function()
    loop = asyncio.new_event_loop()  # the Functions host keeps one loop for the worker
    asyncio.set_event_loop(loop)

    def call(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else b""
        request = func.HttpRequest(
            method=method,
            url=f"http://localhost{path}",
            headers={**headers, "Content-Type": "application/json"},
            body=data,
        )
        context = SimpleNamespace(
            invocation_id="e7f3c5a2-0000-4000-8000-000000000001",
            function_name="http_app_func",
            function_directory=str(REPO),
            trace_context=None,
            retry_context=None,
        )
        answer = loop.run_until_complete(http(request, context))
        return answer.status_code, json.loads(answer.get_body())

    return call, loop


@pytest.fixture(scope="module")
def azure_project(azurite_server, aws_project: dict, tmp_path_factory) -> Iterator[dict]:
    """The Azure app in-process through its registered functions, on Azurite."""
    from tests.emulator_fixtures import make_azure_container
    from tests.integration.emulators import azurite_connection_string

    directory = tmp_path_factory.mktemp("azure")
    config = make_project(directory, training=QUICK_LEASES)
    from azure.storage.queue import QueueClient

    from tests.integration.emulators import azurite_queue

    queues = azurite_queue(directory / "queues").start()
    # One storage account, as on Azure: blobs for the store, a queue for training jobs.
    connection = azurite_connection_string(azurite_server.port) + (
        f"QueueEndpoint=http://127.0.0.1:{queues.port}/devstoreaccount1;"
    )
    QueueClient.from_connection_string(connection, "mlfn-training").create_queue()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
        patch.setenv("MLFN_AZURE_QUEUE", "mlfn-training")
        _, store = weak_champion(config, f"az://{make_azure_container()}/iris")
        patch.setenv("MLFN_CONFIG", str(config))
        patch.delenv("MLFN_SQS_QUEUE_URL", raising=False)
        import functions.azure.function_app as function_app

        function_app = importlib.reload(function_app)  # a cold start with this environment
        function_app.api.state.build_services()  # built now, while the environment is set
        functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
        door, loop = azure_door(functions)
        yield {"door": door, "functions": functions, "store": store, "env": dict(os.environ),
               "loop": loop}  # fmt: skip
        # As the Functions host does on shutdown: end the ASGI lifespan on its own loop, so
        # AsgiFunctionApp.__del__ has nothing left to wait for.
        if function_app.app.startup_task_done:
            loop.run_until_complete(function_app.app.middleware.notify_shutdown())
            function_app.app.startup_task_done = False
        loop.close()
    queues.stop()


@pytest.fixture(scope="module")
def aws_runtimes(aws_project: dict) -> Iterator[dict[str, LambdaRuntime]]:
    """The HTTP handler and the SQS worker, each inside the real Lambda runtime."""
    runtimes = {
        name: LambdaRuntime(f"functions.aws.handler.{name}", aws_project["env"])
        for name in ("handler", "worker")
    }
    for runtime in runtimes.values():
        runtime.start()
    yield runtimes
    for runtime in runtimes.values():
        runtime.stop()


def runtime_door(runtime: LambdaRuntime, kind: str) -> Door:
    template = generated_event(kind, "POST", "/predict", {})  # `sam local generate-event`

    def call(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        event = copy.deepcopy(template)
        encoded = base64.b64encode(json.dumps(body).encode()).decode() if body is not None else None
        event.update(body=encoded, isBase64Encoded=encoded is not None)
        if kind == "v1":
            event.update(httpMethod=method, path=path)
            event["requestContext"].update(httpMethod=method, path=path)
        else:
            event.update(rawPath=path)
            event["requestContext"]["http"].update(method=method, path=path)
        answer = runtime.invoke(with_headers(event, headers))
        return answer["statusCode"], decoded_body(answer)

    return call


@pytest.fixture(scope="module")
def doors(
    aws_project: dict, aws_runtimes: dict, serve_door: Door, gcp_project: dict, azure_project: dict
) -> dict[str, Door]:
    handler = aws_project["handler"]
    return {
        "aws-rest-v1": lambda_door(handler, "apigw_rest_v1.json"),
        "aws-http-v2": lambda_door(handler, "apigw_http_v2.json"),
        "aws-runtime-rest-v1": runtime_door(aws_runtimes["handler"], "v1"),
        "aws-runtime-http-v2": runtime_door(aws_runtimes["handler"], "v2"),
        "gcp-functions-framework": gcp_project["door"],
        "azure-functions": azure_project["door"],
        "mlfn-serve": serve_door,
    }


def _without_ids(body: Any) -> Any:
    """An answer without its prediction ids, which are new on every call (one per row, each
    door's own: that is checked, then they are left out of the comparison)."""
    if isinstance(body, dict) and "prediction_ids" in body.get("parameters", {}):
        return {**body, "parameters": {}}  # the Open Inference Protocol's answer carries them here
    if not isinstance(body, dict) or "prediction_ids" not in body:
        return body
    ids = body["prediction_ids"]
    assert len(ids) == len(body["predictions"]) == len(set(ids)), body
    assert all(re.fullmatch(r"[0-9a-f]{32}-\d+", i) for i in ids), ids
    return {k: v for k, v in body.items() if k != "prediction_ids"}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_same_answer_through_every_door(scenario: Scenario, doors: dict[str, Door]) -> None:
    answers = {
        name: door(scenario.method, scenario.path, scenario.body, scenario.headers())
        for name, door in doors.items()
    }
    statuses = {name: status for name, (status, _) in answers.items()}
    assert set(statuses.values()) == {scenario.status}, statuses
    bodies = [_without_ids(body) for _, body in answers.values()]
    assert all(body == bodies[0] for body in bodies), answers
    if scenario.status >= 400:  # each protocol's own error shape
        shape = {"error_code", "message"} if scenario.path == "/invocations" else {"error"}
        assert set(bodies[0]) == shape and "Traceback" not in json.dumps(bodies[0])


def _sqs_event(message: dict, queue_url: str) -> dict:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:"
                + queue_url.rsplit("/", 1)[1],
                "awsRegion": "us-east-1",
            }
        ]
    }


def _wait_for_job(door: Door, job_id: str, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _, job = door("GET", f"/jobs/{job_id}", None, auth("train"))
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def _reset_to_weak_champion(project: dict) -> None:
    registry = ModelRegistry(project["store"], "iris")
    if registry.champion().version != 1:
        registry.promote(1, registry.champion())


@pytest.mark.parametrize("door_name", ["aws-http-v2", "aws-runtime-http-v2", "mlfn-serve"])
def test_train_job_then_predict_answers_the_new_version(
    door_name: str, doors: dict, aws_project: dict, aws_runtimes: dict, worker_env: None
) -> None:
    _reset_to_weak_champion(aws_project)
    door = doors[door_name]
    status, accepted = door("POST", "/train", {"model_type": "random_forest"}, auth("train"))
    assert status == 202 and accepted["status"] == "queued"
    if door_name.startswith("aws"):
        import boto3

        sqs = boto3.client("sqs")
        messages = sqs.receive_message(QueueUrl=aws_project["queue"], WaitTimeSeconds=5)
        (message,) = messages["Messages"]
        assert json.loads(message["Body"]) == {"job_id": accepted["job_id"]}
        event = _sqs_event(message, aws_project["queue"])
        if "runtime" in door_name:  # the worker Lambda inside the real runtime
            report = aws_runtimes["worker"].invoke(event)
        else:
            report = aws_project["handler"].worker(event, LambdaContext())
        assert report == {"batchItemFailures": []}
    job = _wait_for_job(door, accepted["job_id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["promoted"], job["result"]
    _, answer = door("POST", "/predict", {"instances": [ROW]}, auth("predict"))
    assert answer["model"]["version"] == job["result"]["version"]


def test_sqs_worker_reports_failed_items(aws_project: dict, worker_env: None) -> None:
    event = {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "r-1",
                "body": json.dumps({"job_id": "no-such-job"}),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "x",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:mlfn-train",
                "awsRegion": "us-east-1",
            }
        ]
    }
    report = aws_project["handler"].worker(event, LambdaContext())
    assert report == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


@pytest.fixture
def lambda_log(aws_project: dict) -> Iterator[io.StringIO]:
    """What the handler's Powertools logger writes (it holds the stdout of import time)."""
    log_handler = aws_project["handler"].logger.registered_handler
    buffer, original = io.StringIO(), log_handler.stream
    log_handler.setStream(buffer)
    yield buffer
    log_handler.setStream(original)


def test_request_id_is_the_correlation_id_and_the_token_is_never_logged(
    aws_project: dict, lambda_log: io.StringIO
) -> None:
    handler = aws_project["handler"]
    headers = auth("predict")
    lambda_door(handler, "apigw_rest_v1.json")("POST", "/predict", {"instances": [ROW]}, headers)
    handler.logger.info("after the request")
    lines = [json.loads(line) for line in lambda_log.getvalue().splitlines()]
    assert lines and lines[-1]["correlation_id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert lines[-1]["function_name"] == "mlfn-api"
    assert headers["Authorization"].split()[1] not in lambda_log.getvalue()


def test_gcp_pubsub_worker_runs_a_queued_job(gcp_project: dict) -> None:
    from core.jobs.record import JobStore

    job = JobStore(gcp_project["store"]).create(
        "train",
        {"model_type": "random_forest"},
        owner="mlfn-dev",  # the tokens' subject
    )
    message = {
        "message": {
            "data": base64.b64encode(json.dumps({"job_id": job["job_id"]}).encode()).decode(),
            "messageId": "1",
        },
        "subscription": "projects/p/subscriptions/mlfn-train",
    }
    request = urllib.request.Request(
        gcp_project["worker"],
        data=json.dumps(message).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "ce-id": "1",
            "ce-specversion": "1.0",
            "ce-source": "//pubsub.googleapis.com/projects/p/topics/mlfn-train",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        },
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        assert answer.status == 200
    finished = _wait_for_job(gcp_project["door"], job["job_id"])
    assert finished["status"] == "succeeded" and finished["result"]["promoted"]
    _, answer = gcp_project["door"]("POST", "/predict", {"instances": [ROW]}, auth("predict"))
    assert answer["model"]["version"] == finished["result"]["version"]


def test_azure_queue_worker_runs_a_queued_job(
    azure_project: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.functions as func

    from core.jobs.record import JobStore

    for name in ("MLFN_CONFIG", "AZURE_STORAGE_CONNECTION_STRING", "MLFN_JWT_SECRET"):
        monkeypatch.setenv(name, azure_project["env"][name])
    job = JobStore(azure_project["store"]).create(
        "train",
        {"model_type": "random_forest"},
        owner="mlfn-dev",  # the tokens' subject
    )
    worker = azure_project["functions"]["worker"].get_user_function()
    worker(func.QueueMessage(body=json.dumps({"job_id": job["job_id"]}).encode()))
    finished = _wait_for_job(azure_project["door"], job["job_id"])
    assert finished["status"] == "succeeded" and finished["result"]["promoted"]
    _, answer = azure_project["door"]("POST", "/predict", {"instances": [ROW]}, auth("predict"))
    assert answer["model"]["version"] == finished["result"]["version"]


def test_azure_app_registers_the_contract_bindings(azure_project: dict) -> None:
    functions = azure_project["functions"]
    assert set(functions) == {"http_app_func", "warmup", "worker", "sweep", "monitor", "retrain"}
    http = [json.loads(b) for b in functions["http_app_func"].get_raw_bindings()]
    assert http[0]["type"] == "httpTrigger" and http[0]["route"] == "/{*route}"
    assert http[0]["authLevel"] == "ANONYMOUS"  # core checks the JWT itself
    queue = json.loads(functions["worker"].get_raw_bindings()[0])
    assert (queue["type"], queue["queueName"]) == ("queueTrigger", "mlfn-training")
    host = json.loads((REPO / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""


def test_azure_train_through_the_door_and_the_queue(
    azure_project: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.functions as func
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    env = azure_project["env"]
    for name in ("MLFN_CONFIG", "AZURE_STORAGE_CONNECTION_STRING", "MLFN_JWT_SECRET"):
        monkeypatch.setenv(name, env[name])
    registry = ModelRegistry(azure_project["store"], "iris")
    if registry.champion().version != 1:
        registry.promote(1, registry.champion())  # back to the weak champion
    door = azure_project["door"]
    status, accepted = door("POST", "/train", {"model_type": "random_forest"}, auth("train"))
    assert status == 202
    queue = QueueClient.from_connection_string(
        env["AZURE_STORAGE_CONNECTION_STRING"],
        "mlfn-training",
        message_decode_policy=TextBase64DecodePolicy(),
    )
    (message,) = list(queue.receive_messages())
    worker = azure_project["functions"]["worker"].get_user_function()
    worker(func.QueueMessage(body=message.content.encode()))  # what the host hands the worker
    job = _wait_for_job(door, accepted["job_id"])
    assert job["status"] == "succeeded" and job["result"]["promoted"]
    _, answer = door("POST", "/predict", {"instances": [ROW]}, auth("predict"))
    assert answer["model"]["version"] == job["result"]["version"]


# --- the job lifecycle through each cloud's worker entry point ------------------------------
# Each worker is given a job's message as its cloud delivers it; a real SIGKILL ends the
# attempt's process mid-training, a second delivery of one message runs nothing, a cancel
# through the API stops the running worker, and a refused enqueue is retried by its key.


def _deliver(cloud: str, project: dict, job_id: str) -> Any:
    """Hand one message for `job_id` to the cloud's worker, as its trigger would."""
    body = json.dumps({"job_id": job_id})
    if cloud == "aws":
        record = _sqs_record(body)
        return project["handler"].worker({"Records": [record]}, LambdaContext())
    if cloud == "gcp":
        return _push_to_gcp(project["worker"], body)
    import azure.functions as func

    worker = project["functions"]["worker"].get_user_function()
    return worker(func.QueueMessage(body=body.encode()))


def _push_to_gcp(worker: str, body: str) -> int:
    """One Pub/Sub push, as a CloudEvent, to the worker function; its HTTP status."""
    push = {"message": {"data": base64.b64encode(body.encode()).decode(), "messageId": "1"},
            "subscription": "projects/p/subscriptions/mlfn-train"}  # fmt: skip
    request = urllib.request.Request(
        worker, data=json.dumps(push).encode(), method="POST",
        headers={"Content-Type": "application/json", "ce-id": str(time.monotonic_ns()),
                 "ce-specversion": "1.0", "ce-source": "//pubsub.googleapis.com/p",
                 "ce-type": "google.cloud.pubsub.topic.v1.messagePublished"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=180) as answer:
        return int(answer.status)


def _sqs_record(body: str) -> dict[str, Any]:
    """One SQS message as the event source mapping hands it to the worker."""
    return {"messageId": f"m-{time.monotonic_ns()}", "receiptHandle": "r", "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": "x", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:mlfn-train"}  # fmt: skip


ACKED = {"aws": {"batchItemFailures": []}, "gcp": 200, "azure": None}


@pytest.fixture
def cloud_worker(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, dict]:
    cloud = request.param
    project = request.getfixturevalue(f"{cloud}_project")
    if cloud in ("aws", "azure"):  # in-process workers read their environment per call
        env = project["env"]
        for name in ("MLFN_CONFIG", "MLFN_JWT_SECRET", "AZURE_STORAGE_CONNECTION_STRING"):
            if name in env:
                monkeypatch.setenv(name, env[name])
    return cloud, project


CLOUDS = pytest.mark.parametrize("cloud_worker", ["aws", "gcp", "azure"], indirect=True)


def _deliver_in_thread(cloud: str, project: dict, job_id: str) -> tuple[Any, dict]:
    import threading

    out: dict = {}
    thread = threading.Thread(
        target=lambda: out.update(answer=_deliver(cloud, project, job_id)), daemon=True
    )
    thread.start()
    return thread, out


@CLOUDS
def test_worker_entry_point_survives_a_killed_attempt(cloud_worker: tuple[str, dict]) -> None:
    from core.jobs.record import JobStore
    from tests.jobs_helpers import SLOW, kill_attempt

    cloud, project = cloud_worker
    jobs = JobStore(project["store"])
    job = jobs.create("train", SLOW)
    thread, out = _deliver_in_thread(cloud, project, job["job_id"])
    kill_attempt(job["job_id"], 1, lambda: jobs.get(job["job_id"]))
    thread.join(timeout=180)
    assert out["answer"] == ACKED[cloud]
    record = jobs.get(job["job_id"])
    assert record["status"] == "succeeded" and record["attempts"] == 2, record
    assert "ended with code -9" in record["history"][0]["outcome"]


@CLOUDS
def test_worker_entry_point_runs_one_message_once(cloud_worker: tuple[str, dict]) -> None:
    from core.jobs.record import JobStore

    cloud, project = cloud_worker
    jobs, registry = JobStore(project["store"]), ModelRegistry(project["store"], "iris")
    before = len(registry.versions())
    job = jobs.create("train", {"model_type": "logistic_regression", "params": {}})
    first, second = (_deliver_in_thread(cloud, project, job["job_id"]) for _ in range(2))
    for thread, out in (first, second):
        thread.join(timeout=180)
        assert out["answer"] == ACKED[cloud]  # the duplicate is acknowledged, not retried
    assert _deliver(cloud, project, job["job_id"]) == ACKED[cloud]  # a late redelivery
    record = jobs.get(job["job_id"])
    assert record["status"] == "succeeded" and record["attempts"] == 1
    assert len(registry.versions()) == before + 1


@CLOUDS
def test_worker_entry_point_stops_on_cancel(cloud_worker: tuple[str, dict]) -> None:
    from core.jobs.record import JobStore
    from tests.jobs_helpers import SLOW, attempt_pids, wait_until

    cloud, project = cloud_worker
    jobs, registry = JobStore(project["store"]), ModelRegistry(project["store"], "iris")
    champion = registry.champion()
    door = project["door"] if cloud != "aws" else lambda_door(project["handler"], HTTP_V2)
    accepted = jobs.create("train", SLOW, owner="carol")  # as POST /train by carol would
    thread, out = _deliver_in_thread(cloud, project, accepted["job_id"])
    wait_until(lambda: attempt_pids(accepted["job_id"]), what="the attempt's process")
    status, asked = door("POST", f"/jobs/{accepted['job_id']}/cancel", None,
                         auth("train", subject="carol"))  # fmt: skip
    assert status == 202 and asked["cancel_requested_at"]
    thread.join(timeout=15)
    assert not thread.is_alive() and out["answer"] == ACKED[cloud]
    assert jobs.get(accepted["job_id"])["status"] == "cancelled"
    assert registry.champion() == champion


@CLOUDS
def test_a_refused_enqueue_is_retried_by_its_key(cloud_worker: tuple[str, dict]) -> None:
    """The API's own dispatcher for the cloud, made to fail once, then working again."""
    from core.api import create_app
    from core.jobs.record import JobStore

    cloud, project = cloud_worker
    services = _services_of(cloud, project)
    real = services.dispatcher
    _received(cloud, project, real)  # what earlier tests left on the queue
    services.dispatcher = _refusing(cloud, real)
    app_door = _asgi_door(create_app(services))
    headers = {**auth("train", subject="dave"), "Idempotency-Key": f"key-{cloud}"}
    status, refused = app_door("POST", "/train", {"model_type": "logistic_regression"}, headers)
    assert status == 503 and refused["error"]["code"] == "unavailable", refused
    services.dispatcher = real
    status, accepted = app_door("POST", "/train", {"model_type": "logistic_regression"}, headers)
    assert status == 202
    record = JobStore(project["store"]).get(accepted["job_id"])
    assert record["dispatched_at"] and record["dispatch_error"] is None
    ours = [m for m in _received(cloud, project, real) if m == {"job_id": accepted["job_id"]}]
    assert len(ours) == 1  # dispatched once, for real (others' messages may reappear)
    assert _deliver(cloud, project, accepted["job_id"]) == ACKED[cloud]
    assert JobStore(project["store"]).get(accepted["job_id"])["status"] == "succeeded"


def _services_of(cloud: str, project: dict) -> Any:
    """The API's services as each cloud's function builds them (GCP's API runs in its own
    process here, so its services are built the same way, on a Pub/Sub dispatcher)."""
    if cloud == "aws":
        return project["handler"].app.state.build_services()
    if cloud == "azure":
        return sys.modules["functions.azure.function_app"].api.state.build_services()
    from core.api import Services
    from core.auth import Authenticator, AuthSettings
    from core.jobs.queues import PubSubDispatcher
    from tests.integration.test_dispatchers import FakePublisher

    settings = load_settings(project["config"], env="dev")
    return Services(
        settings,
        open_store(settings.store_uri),
        PubSubDispatcher("projects/p/topics/mlfn-train", FakePublisher()),
        Authenticator(AuthSettings(SECRET, None, "mlfn", "mlfn-api")),
    )


def _refusing(cloud: str, real: Any) -> Any:
    """The same kind of dispatcher, refused by its service (a missing queue or topic)."""
    from core.jobs.queues import AzureQueueDispatcher, PubSubDispatcher, SqsDispatcher

    if cloud == "aws":
        return SqsDispatcher(real.queue_url.rsplit("/", 1)[0] + "/no-such-queue", real.client)
    if cloud == "azure":
        from azure.storage.queue import QueueClient

        connection = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        missing = QueueClient.from_connection_string(connection, "no-such-queue")
        return AzureQueueDispatcher("no-such-queue", missing)

    class Refusing:
        def publish(self, topic: str, data: bytes) -> Any:
            from google.api_core.exceptions import NotFound

            raise NotFound(f"Resource not found (resource={topic})")

    return PubSubDispatcher("projects/p/topics/missing", Refusing())


def _asgi_door(app: Any) -> Door:
    from fastapi.testclient import TestClient

    client = TestClient(app, raise_server_exceptions=False)

    def call(method: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        answer = client.request(method, path, json=body, headers=headers)
        return answer.status_code, answer.json()

    return call


def _received(cloud: str, project: dict, dispatcher: Any) -> list[dict]:
    """The messages the queue now holds (taken off it)."""
    if cloud == "gcp":
        return [json.loads(data) for _, data in dispatcher.publisher.published]
    if cloud == "aws":
        import boto3

        sqs, bodies = boto3.client("sqs"), []
        while found := sqs.receive_message(
            QueueUrl=project["queue"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            for message in found:
                sqs.delete_message(
                    QueueUrl=project["queue"], ReceiptHandle=message["ReceiptHandle"]
                )
                bodies.append(json.loads(message["Body"]))
        return bodies
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    queue = QueueClient.from_connection_string(
        os.environ["AZURE_STORAGE_CONNECTION_STRING"], "mlfn-training",
        message_decode_policy=TextBase64DecodePolicy(),
    )  # fmt: skip
    messages = list(queue.receive_messages())
    for message in messages:
        queue.delete_message(message)
    return [json.loads(m.content) for m in messages]


def test_aws_worker_stops_training_before_the_invocation_runs_out(
    aws_project: dict, worker_env: None
) -> None:
    """Lambda says how long the invocation has left; the attempt is stopped 30 s before
    and failed with `timeout`, instead of the platform killing it unrecorded."""
    from core.jobs.record import JobStore
    from tests.jobs_helpers import SLOW

    @dataclass
    class ShortContext(LambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 33_000  # 3 s of training, then 30 s to spare

    # A training no earlier test ran: an identical one would be reused at once (`train`
    # returns the version a finished identical training made), with nothing left to stop.
    unique = {**SLOW, "params": {"neural_network": {**SLOW["params"]["neural_network"],
                                                    "patience": 99}}}  # fmt: skip
    job = JobStore(aws_project["store"]).create("train", unique)
    record = _sqs_record(json.dumps({"job_id": job["job_id"]}))
    started = time.monotonic()
    report = aws_project["handler"].worker({"Records": [record]}, ShortContext())
    assert report == {"batchItemFailures": []} and time.monotonic() - started < 8
    finished = JobStore(aws_project["store"]).get(job["job_id"])
    assert finished["status"] == "failed" and finished["error"]["code"] == "timeout"
    assert "the worker function's own time limit" in finished["error"]["message"]


CANARY_KEYS = 2000  # through the real Lambda runtime; each other door checks the first 200


def _second_version(store: Any) -> int:
    """A copy of the champion's graph as a new version, so a challenger can be routed."""
    registry = ModelRegistry(store, "iris")
    champion = registry.champion()
    assert champion is not None
    meta = registry.metadata(champion.version)
    files = {name: registry.read_file(champion.version, name, meta) for name in meta["files"]}
    return registry.create_version(files, {k: v for k, v in meta.items() if k != "files"})


@pytest.fixture
def door_stores(aws_project: dict, gcp_project: dict, azure_project: dict) -> Iterator[dict]:
    """Each of the four doors with its cloud's store; every challenger is taken out after."""
    found = {
        "aws-runtime-http-v2": aws_project["store"],
        "gcp-functions-framework": gcp_project["store"],
        "azure-functions": azure_project["store"],
        "mlfn-serve": aws_project["store"],
    }
    yield found
    from core.rollout.actions import rollback

    for store in {id(s): s for s in found.values()}.values():
        registry = ModelRegistry(store, "iris")
        if registry.routing().challenger is not None:
            rollback(registry, "test")


def test_a_canary_and_a_shadow_through_every_door(doors: dict, door_stores: dict) -> None:
    """Each door routes each key as the hash says (10 % ± 2 % of 2,000 keys, the same key
    always to the same version); under a shadow only the champion answers; both changes
    are in the door's audit trail, by the token's subject."""
    from core.routing import assigned

    keys = [f"door-caller-{i}" for i in range(CANARY_KEYS)]
    assert 0.08 <= sum(assigned("iris", k, 10) for k in keys) / CANARY_KEYS <= 0.12
    for name, store in door_stores.items():
        door, admin = doors[name], auth("admin", subject=f"ops-{name}")
        champion = ModelRegistry(store, "iris").champion().version  # type: ignore[union-attr]
        version = _second_version(store)
        status, record = door("POST", f"/models/{version}/canary", {"weight": 10}, admin)
        assert status == 200 and record["by"] == f"ops-{name}", record
        for key in keys if name == "aws-runtime-http-v2" else keys[:200]:
            headers = {**auth("predict"), "X-Mlfn-Routing-Key": key}
            status, answer = door("POST", "/predict", {"instances": [ROW]}, headers)
            wanted = version if assigned("iris", key, 10) else champion
            assert status == 200 and answer["model"]["version"] == wanted, (name, key)
        status, record = door("POST", f"/models/{version}/shadow", {}, admin)
        assert status == 200 and record["to"]["challenger"]["mode"] == "shadow", record
        for i in range(20):
            headers = {**auth("predict"), "X-Mlfn-Routing-Key": f"shadowed-{i}"}
            _, answer = door("POST", "/predict", {"instances": [ROW]}, headers)
            assert answer["model"]["version"] == champion, name
        status, found = door("GET", "/models/history", None, admin)
        assert [r["action"] for r in found["records"]][-2:] == ["canary", "shadow"], name
        status, back = door("POST", "/models/rollback", {"reason": "test over"}, admin)
        assert status == 200 and back["to"]["challenger"] is None, back


AUTO = {"steps": [50, 100], "min_requests": 8, "max_error_rate": 0.05}


def _fire_monitor(cloud: str, project: dict) -> None:
    """One firing of the monitor schedule, as each cloud delivers it (EventBridge → SQS →
    the worker Lambda; Cloud Scheduler → Pub/Sub → the worker function; the Azure timer;
    `mlfn rollout step` beside `mlfn serve`). Each firing is a new minute's claim."""
    store = project["store"]
    for key in store.list("schedules/iris/monitor/"):
        store.delete(key)  # the claim of this minute: the next firing is "a new minute"
    body = json.dumps({"action": "monitor"})
    if cloud == "aws":
        report = project["handler"].worker({"Records": [_sqs_record(body)]}, LambdaContext())
        assert report == {"batchItemFailures": []}
    elif cloud == "gcp":
        assert _push_to_gcp(project["worker"], body) == 200
    elif cloud == "azure":
        project["functions"]["monitor"].get_user_function()(None)
    else:
        env = {**project["env"], "MLFN_CONFIG": str(project["settings"].config_path)}
        subprocess.run([sys.executable, "-m", "core.cli", "rollout", "step"], cwd=REPO,
                       env=env, check=True, capture_output=True, timeout=120)  # fmt: skip


def _traffic_through(door: Door, prefix: str, count: int) -> set[int]:
    versions = set()
    for i in range(count):
        headers = {**auth("predict"), "X-Mlfn-Routing-Key": f"{prefix}-{i}"}
        status, answer = door("POST", "/predict", {"instances": [ROW]}, headers)
        assert status == 200, answer
        versions.add(answer["model"]["version"])
    return versions


def _wait_for_shadow_lines(store: Any, version: int, count: int, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lines = [json.loads(line) for key in store.list("logs/predictions/")
                 for line in store.read_bytes(key).splitlines() if line]  # fmt: skip
        if sum(x.get("role") == "shadow" and x["model_version"] == version for x in lines) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"the shadow's {count} log lines did not arrive")


@pytest.fixture
def rollout_door(request: pytest.FixtureRequest, doors: dict, monkeypatch: pytest.MonkeyPatch):
    """(cloud, its door, its project) with `rollout` in the project's config and the
    prediction log on; the config, the champion and the routing are put back after."""
    from core.logs import PredictionLog

    cloud, name = request.param
    project = request.getfixturevalue(f"{'aws' if cloud == 'serve' else cloud}_project")
    for key in ("MLFN_CONFIG", "MLFN_JWT_SECRET", "AZURE_STORAGE_CONNECTION_STRING"):
        if key in project.get("env", {}):
            monkeypatch.setenv(key, project["env"][key])
    config = Path(os.environ["MLFN_CONFIG"] if cloud == "azure" else project.get("config")
                  or project["settings"].config_path)  # fmt: skip
    original = config.read_text()
    config.write_text(json.dumps({**json.loads(original), "rollout": AUTO}))
    registry = ModelRegistry(project["store"], "iris")
    champion = registry.champion()
    services = _services_of(cloud, project) if cloud in ("aws", "azure") else None
    if services is not None:
        monkeypatch.setattr(services.predictor, "log", PredictionLog(project["store"], 1))
    yield cloud, doors[name], project
    config.write_text(original)
    if registry.routing().challenger is not None:
        from core.rollout.actions import rollback

        rollback(registry, "test")
    if champion is not None and registry.champion().version != champion.version:  # type: ignore[union-attr]
        registry.promote(champion.version, registry.champion())


@pytest.mark.parametrize(
    "rollout_door",
    [("aws", "aws-http-v2"), ("gcp", "gcp-functions-framework"),
     ("azure", "azure-functions"), ("serve", "mlfn-serve")],
    ids=["aws", "gcp", "azure", "serve"], indirect=True,
)  # fmt: skip
def test_the_scheduled_rollout_rolls_back_a_failing_challenger_and_promotes_a_healthy_one(
    rollout_door: tuple[str, Door, dict],
) -> None:
    """Through each door: a challenger whose graph is broken never reaches a caller and the
    next firing of the schedule rolls it back; a healthy one, first a shadow that never
    answers but is measured beside the champion, is stepped up to 100 % and promoted;
    every step is in the audit trail, the automatic ones by `scheduler`."""
    cloud, door, project = rollout_door
    admin = auth("admin", subject=f"ops-{cloud}")
    store = project["store"]
    registry = ModelRegistry(store, "iris")
    champion = registry.champion().version  # type: ignore[union-attr]
    meta = {k: v for k, v in registry.metadata(champion).items() if k != "files"}
    broken = registry.create_version({"model.onnx": b"not a graph"}, meta)
    assert door("POST", f"/models/{broken}/canary", {"weight": 50}, admin)[0] == 200
    assert _traffic_through(door, f"{cloud}-broken", 40) == {champion}
    _fire_monitor(cloud, project)
    assert registry.routing().challenger is None
    healthy = _second_version(store)
    assert door("POST", f"/models/{healthy}/shadow", {}, admin)[0] == 200
    assert _traffic_through(door, f"{cloud}-shadowed", 20) == {champion}  # never the shadow
    _wait_for_shadow_lines(store, healthy, 20)  # scored after each answer was sent
    _fire_monitor(cloud, project)  # shadow → canary at 50 %
    for version in (champion, healthy):  # both versions measured, as of that firing
        status, live = door("GET", f"/models/{version}/live", None, auth("predict"))
        assert status == 200 and live["traffic"]["requests"] == 20, live
        assert live["traffic"]["latency_ms"]["p50"] > 0 and live["traffic"]["errors"] == 0
    assert live["traffic"]["roles"] == {"shadow": 20}
    assert _traffic_through(door, f"{cloud}-healthy-50", 30) == {champion, healthy}
    _fire_monitor(cloud, project)  # 50 % → 100 %
    assert _traffic_through(door, f"{cloud}-healthy-100", 30) == {healthy}
    _fire_monitor(cloud, project)  # the last step done: promoted
    assert registry.champion().version == healthy  # type: ignore[union-attr]
    _, found = door("GET", "/models/history", None, admin)
    steps = [(r["action"], r["by"]) for r in found["records"]][-6:]
    assert steps == [("canary", f"ops-{cloud}"), ("auto-rollback", "scheduler"),
                     ("shadow", f"ops-{cloud}"), ("auto-step", "scheduler"),
                     ("auto-step", "scheduler"), ("auto-promote", "scheduler")], steps  # fmt: skip
    rollback_record = found["records"][-5]
    assert "error rate" in rollback_record["reason"], rollback_record
    assert rollback_record["metrics"]["live"]["challenger"]["errors"] >= 8


@pytest.fixture(params=["aws-lambda-runtime", "azure-functions"])
def protocol_front(
    request: pytest.FixtureRequest, aws_runtimes: dict, azure_project: dict
) -> Iterator[tuple[int, Door]]:
    """An HTTP front (what the cloud's gateway or host does) before the real Lambda runtime
    or the Azure app, and the door to compare with."""
    from tests.contract.gateway_front import azure_http, gateway_front, lambda_http_v2

    if request.param == "aws-lambda-runtime":
        runtime = aws_runtimes["handler"]
        template = generated_event("v2", "POST", "/predict", {})
        invoke, door = lambda_http_v2(runtime, template), runtime_door(runtime, "v2")
    else:
        invoke = azure_http(azure_project["functions"], azure_project["loop"], str(REPO))
        door = azure_project["door"]
    with gateway_front(invoke) as port:
        yield port, door


def test_the_real_protocol_clients_through_the_lambda_and_azure_doors(
    protocol_front: tuple[int, Door], monkeypatch: pytest.MonkeyPatch
) -> None:
    """tritonclient.http, the KServe SDK and MLflow's ScoringServerClient, each over HTTP to
    the real handler: the answers are the door's own /predict answers."""
    import pandas as pd
    import requests
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    from tests.protocols.test_oip_clients import run_clients
    from tests.unit.test_oip import ROWS

    port, door = protocol_front
    headers = auth("predict")
    status, expected = door("POST", "/predict", {"instances": ROWS}, headers)
    assert status == 200, expected
    found = run_clients(port, headers["Authorization"].removeprefix("Bearer "))
    for seen in (found["triton"], found["kserve"]):
        assert seen["live"] and seen["ready"] and seen["model_ready"]
        assert seen["labels"] == expected["predictions"]
        flat = [v for row in seen["probabilities"] for v in row]
        assert flat == pytest.approx([v for row in expected["probabilities"] for v in row])
    assert found["triton"]["labels_from_matrix"] == expected["predictions"]
    real_post = requests.post
    monkeypatch.setattr(requests, "post", lambda url, **kw: real_post(
        url, **{**kw, "headers": {**kw.get("headers", {}), **headers}}))  # fmt: skip
    client = ScoringServerClient("127.0.0.1", port)
    client.wait_server_ready(timeout=30)
    scored = client.invoke(pd.DataFrame(ROWS).assign(extra="ignored"))
    assert scored["predictions"] == expected["predictions"]
    assert client.get_version()


def _drain_sqs(queue_url: str, wanted: Any, seconds: float = 30) -> list[dict]:
    """The messages on the queue that `wanted(body)` picks, each deleted once received."""
    import boto3

    sqs, found = boto3.client("sqs"), []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=1).get("Messages", [])  # fmt: skip
        picked = [m for m in messages if wanted(json.loads(m["Body"]))]
        for message in picked:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        found += picked
        if not messages and found:
            break
    return found


def test_a_batch_fans_out_on_sqs_and_the_worker_lambda_scores_it(
    aws_project: dict, worker_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """POST /batch through API Gateway's v2 event; the job's message and then one message
    per chunk go through the SQS queue (moto) to the worker handler, as the event source
    mapping delivers them; the last chunk writes the manifest."""
    import io

    import pyarrow.parquet as pq

    from tests.batch.conftest import feature_table

    door = lambda_door(aws_project["handler"], HTTP_V2)
    store, queue = aws_project["store"], aws_project["queue"]
    # The worker Lambda's environment: its queue, not another door's fixture's.
    monkeypatch.setenv("MLFN_SQS_QUEUE_URL", queue)
    for other in ("MLFN_AZURE_QUEUE", "MLFN_PUBSUB_TOPIC"):
        monkeypatch.delenv(other, raising=False)
    buffer = io.BytesIO()
    pq.write_table(feature_table(3_500), buffer)
    store.write_bytes("data/raw/daily/in.parquet", buffer.getvalue())
    body = {"input": "data/raw/daily/in.parquet", "chunk_rows": 1_000, "id_column": "customer"}
    status, accepted = door("POST", "/batch", body, auth("predict"))
    assert status == 202, accepted
    job_id = accepted["job_id"]
    (job_message,) = _drain_sqs(queue, lambda m: m.get("job_id") == job_id)
    report = aws_project["handler"].worker(_sqs_event(job_message, queue), LambdaContext())
    assert report == {"batchItemFailures": []}
    chunks = _drain_sqs(queue, lambda m: m.get("action") == "batch_chunk")
    assert sorted(json.loads(m["Body"])["chunk"] for m in chunks) == [0, 1, 2, 3]
    for message in [*chunks, chunks[0]]:  # one delivered twice
        report = aws_project["handler"].worker(_sqs_event(message, queue), LambdaContext())
        assert report == {"batchItemFailures": []}
    status, found = door("GET", f"/batch/{job_id}", None, auth("predict"))
    assert status == 200 and found["result"]["state"] == "dispatched", found
    batch = found["batch"]
    assert batch["state"] == "succeeded" and batch["chunks_done"] == 4
    assert batch["manifest"]["rows_out"] == 3_500
    parts = [k for k in store.list(f"batches/{batch['batch_id']}/output/") if "part-" in k]
    assert len(parts) == 4
