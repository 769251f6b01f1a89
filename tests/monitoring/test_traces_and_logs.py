"""Traces follow the FaaS conventions and cross the queue; JSON logs carry the ids and never
a token or secret; the prediction log samples."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.api import Services, create_app
from core.errors import ConfigError
from core.jobs.runner import run_job
from core.logs import PredictionLog, prediction_log_sample
from core.monitoring import tracing
from core.monitoring.logjson import JsonFormatter
from core.training.run import train
from tests.conftest import project_settings
from tests.jobs_helpers import Recorder
from tests.unit.test_api import ROW, local_services, token

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def spans() -> Any:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracing.enable_tracing(exporter, door="gcp")
    yield exporter
    tracing.disable_tracing()


def json_lines(logger_name: str = "mlfn") -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("gcp"))
    logging.getLogger(logger_name).addHandler(handler)
    return stream, handler


def test_a_trace_goes_from_the_request_through_the_queue_to_the_job(
    tmp_path: Path, spans: Any, monkeypatch
) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-proj")
    settings, store = project_settings(tmp_path)
    train(settings, store)
    queue = Recorder()  # the test runs the job itself
    base = local_services(settings, store)
    services = Services(settings, store, queue, base.auth)
    with TestClient(create_app(services)) as client:
        answer = client.post(
            "/train", json={}, headers={**token("train"), "traceparent": PARENT,
                                        "X-Request-Id": "req-7"},
        )  # fmt: skip
    job_id = answer.json()["job_id"]
    assert queue.sent == [job_id]
    record = services.jobs.get(job_id)
    assert record["trace"]["request_id"] == "req-7"
    assert record["trace"]["traceparent"].split("-")[1] == TRACE
    stream, handler = json_lines()
    try:
        finished = run_job(settings, store, job_id)
    finally:
        logging.getLogger("mlfn").removeHandler(handler)
    assert finished["status"] == "succeeded"
    by_name = {span.name: span for span in spans.get_finished_spans()}
    server, consumer = by_name["POST /train"], by_name["job train"]
    assert server.context.trace_id == consumer.context.trace_id == int(TRACE, 16)
    assert consumer.parent.span_id == server.context.span_id
    assert server.attributes["faas.trigger"] == "http"
    assert server.attributes["faas.invocation_id"] == "req-7"
    assert server.attributes["cloud.provider"] == "gcp"
    assert server.attributes["http.route"] == "/train"
    assert server.attributes["http.response.status_code"] == 202
    assert consumer.attributes["faas.trigger"] == "pubsub"
    assert consumer.attributes["faas.invocation_id"] == job_id
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    started = next(line for line in lines if "started" in line["message"])
    assert started["job_id"] == job_id and started["request_id"] == "req-7"
    assert started["trace_id"] == TRACE
    assert started["logging.googleapis.com/trace"] == f"projects/demo-proj/traces/{TRACE}"
    assert started["severity"] == "WARNING"


def test_a_predict_the_hot_lane_answers_has_its_span(trained_iris, spans: Any) -> None:
    settings, store = trained_iris
    known = token("predict")
    with TestClient(create_app(local_services(settings, store))) as client:
        for _ in range(2):  # the second with a token seen before: the lane's
            headers = {**known, "traceparent": PARENT, "X-Request-Id": "req-9"}
            assert client.post("/predict", json={"instances": [ROW]}, headers=headers).is_success
    served = [span for span in spans.get_finished_spans() if span.name == "POST /predict"]
    assert len(served) == 2
    for span in served:
        assert span.context.trace_id == int(TRACE, 16)
        assert span.attributes["http.route"] == "/predict"
        assert span.attributes["http.response.status_code"] == 200
        assert span.attributes["mlfn.model.version"] == 1
        assert span.attributes["faas.invocation_id"] == "req-9"


@pytest.mark.parametrize(
    ("header", "value", "trace"),
    [
        ("traceparent", PARENT, TRACE),
        ("X-Cloud-Trace-Context", f"{TRACE.upper()}/17;o=1", TRACE),
        ("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
         "5759e988bd862e3fe1be46a994272793"),
        ("traceparent", "00-zz-00f067aa0ba902b7-01", None),  # malformed: ignored
    ],
)  # fmt: skip
def test_without_tracing_the_callers_trace_reaches_the_events(
    trained_iris, header: str, value: str, trace: str | None
) -> None:
    class Events:
        def __init__(self) -> None:
            self.seen: list[Any] = []

        def emit(self, event: Any) -> None:
            self.seen.append(event)

        def flush(self) -> None:
            """Nothing buffered."""

    settings, store = trained_iris
    events = Events()
    base = local_services(settings, store)
    services = Services(settings, store, base.dispatcher, base.auth, extra_sinks=(events,))
    with TestClient(create_app(services)) as client:
        client.get("/ready", headers={header: value})
    request = events.seen[-1]
    assert request.route == "/ready" and request.trace_id == trace


def test_logs_never_carry_tokens_or_secrets(monkeypatch) -> None:
    monkeypatch.setenv("MLFN_JWT_SECRET", "s3cret-value-never-logged")
    stream, handler = json_lines("mlfn.test")
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQ"
    try:
        logging.getLogger("mlfn.test").warning(
            "auth failed for Authorization: Bearer abc.def.ghi with %s", jwt,
            extra={"header": f"Bearer {jwt}", "detail": "key=s3cret-value-never-logged"},
        )  # fmt: skip
    finally:
        logging.getLogger("mlfn.test").removeHandler(handler)
    text = stream.getvalue()
    for secret in ("abc.def.ghi", jwt, "s3cret-value-never-logged"):
        assert secret not in text
    line = json.loads(text)
    assert line["message"].count("[redacted]") == 2 and line["detail"] == "key=[redacted]"


def test_the_prediction_log_samples(tmp_path: Path, monkeypatch) -> None:
    from core.storage import open_store

    store = open_store(f"file://{tmp_path}")
    monkeypatch.setenv("MLFN_PREDICTION_LOG_SAMPLE", "0.25")
    rate = prediction_log_sample()
    log = PredictionLog(store, batch_size=10_000, sample=rate)
    for i in range(4000):
        log.record(str(i), [ROW], {"predictions": ["setosa"]}, 1, 0.1)
    kept = len(log._lines)
    assert 800 < kept < 1200  # 25 % of 4000, binomial spread well inside
    none = PredictionLog(store, sample=0.0)
    none.record("x", [ROW], {}, 1, 0.1)
    assert none._lines == []
    for bad in ("1.5", "-0.1", "half"):
        monkeypatch.setenv("MLFN_PREDICTION_LOG_SAMPLE", bad)
        with pytest.raises(ConfigError, match="MLFN_PREDICTION_LOG_SAMPLE must be"):
            prediction_log_sample()


@pytest.fixture
def mlfn_logger() -> Any:
    """The `mlfn` logger as it was, after a test that lets Powertools take it over."""
    root = logging.getLogger("mlfn")
    saved = (list(root.handlers), root.propagate, root.level)
    marks = {name: getattr(root, name) for name in POWERTOOLS_MARKS if hasattr(root, name)}
    yield root
    root.handlers, root.propagate = saved[0], saved[1]
    root.setLevel(saved[2])
    for name in POWERTOOLS_MARKS:  # else a later Logger() takes a handler that is gone
        if name in marks:
            setattr(root, name, marks[name])
        elif hasattr(root, name):
            delattr(root, name)


# What Powertools' Logger leaves on the logger it takes over, and reads again in the next
# Logger of that service.
POWERTOOLS_MARKS = ("powertools_handler", "init")


def test_on_aws_each_record_is_one_json_line_with_the_ids(mlfn_logger, monkeypatch) -> None:
    """The AWS handler's Powertools Logger (service `mlfn`) owns the `mlfn` logger: the door
    adds the request id and the masking to its lines instead of writing a second one."""
    from aws_lambda_powertools import Logger

    from core.monitoring import context as ctx
    from core.monitoring import use_door

    monkeypatch.setenv("MLFN_JWT_SECRET", "s3cret-value-never-logged")
    stream = io.StringIO()
    powertools = Logger(service="mlfn")  # the handler module's may exist already: its handler
    written = powertools.registered_handler
    original = written.setStream(stream)
    use_door("aws")
    token = ctx.current.set(ctx.Current("req-42"))
    try:
        logging.getLogger("mlfn.jobs").warning("job failed: s3cret-value-never-logged")
        powertools.info("handled")
    finally:
        ctx.current.reset(token)
        written.setStream(original)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["job failed: [redacted]", "handled"]
    assert all(line["request_id"] == "req-42" and line["service"] == "mlfn" for line in lines)
    assert not any(h.get_name() == "mlfn-json" for h in mlfn_logger.handlers)
