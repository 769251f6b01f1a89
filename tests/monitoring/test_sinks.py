"""Each sink against what its reader reads: Prometheus text, CloudWatch EMF (the spec's
structure), Cloud Logging's special fields, and OpenTelemetry's metric data."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.api import Services, create_app
from core.monitoring.cloudlog import CloudLoggingSink
from core.monitoring.emf import EmfSink
from core.monitoring.otel import OtelSink
from tests.unit.test_api import ROW, local_services, token

OTHER = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def client_with(trained_iris: Any, *sinks: Any) -> Iterator[tuple[TestClient, Services]]:
    settings, store = trained_iris
    services = local_services(settings, store)
    services = Services(
        settings, store, services.dispatcher, services.auth, extra_sinks=tuple(sinks)
    )
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client, services


def test_prometheus_counts_requests_predictions_loads_and_errors(trained_iris) -> None:
    for client, _ in client_with(trained_iris):
        ok = client.post(
            "/predict", json={"instances": [ROW, ROW, OTHER]}, headers=token("predict")
        )
        assert ok.status_code == 200 and len(ok.headers["x-request-id"]) == 32
        bad = client.post("/predict", json={"instances": [{"nope": 1}]}, headers=token("predict"))
        assert bad.status_code == 422
        text = client.get("/metrics").text
    assert 'mlfn_predictions_total{class="setosa",model="iris",version="1"} 2.0' in text
    assert 'mlfn_predictions_total{class="virginica",model="iris",version="1"} 1.0' in text
    assert 'mlfn_prediction_confidence_count{model="iris",version="1"} 3.0' in text
    assert 'mlfn_predicted_rows_total{model="iris",version="1"} 3.0' in text
    failed = 'code="invalid_input",method="POST",route="/predict",status="422",version=""'
    assert f"mlfn_requests_total{{{failed}}} 1.0" in text
    assert 'mlfn_request_seconds_bucket{le="0.0005",route="/predict",version="1"}' in text
    assert re.search(r'mlfn_model_loads_total\{model="iris",result="(hit|miss)"\} [1-9]', text)


def test_a_callers_request_id_is_echoed_and_junk_is_replaced(trained_iris) -> None:
    for client, _ in client_with(trained_iris):
        mine = client.get("/health", headers={"X-Request-Id": "order-42.retry:1"})
        junk = client.get("/health", headers={"X-Request-Id": "bad id\r\nx"})
    assert mine.headers["x-request-id"] == "order-42.retry:1"
    assert re.fullmatch(r"[0-9a-f]{32}", junk.headers["x-request-id"])


EMF_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def check_emf(document: dict[str, Any]) -> None:
    """The EMF specification's rules: _aws.Timestamp (ms) and CloudWatchMetrics directives;
    each directive's Namespace, DimensionSets of at most 30 names that are string members of
    the root, and Metrics whose names are members holding a number or up to 100 numbers."""
    metadata = document["_aws"]
    assert isinstance(metadata["Timestamp"], int) and metadata["Timestamp"] > 1.6e12
    for directive in metadata["CloudWatchMetrics"]:
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(document[name], str) and document[name]
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert metric.get("Unit", "None") in EMF_UNITS
            value = document[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= 100 and all(isinstance(v, int | float) for v in values)


def unpacked(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A line's directives, each as the document of its own it would be: its dimensions and
    metrics only."""
    found = []
    for directive in document["_aws"]["CloudWatchMetrics"]:
        names = [*directive["Dimensions"][0], *(m["Name"] for m in directive["Metrics"])]
        metadata = {"Timestamp": document["_aws"]["Timestamp"], "CloudWatchMetrics": [directive]}
        found.append({"_aws": metadata, **{name: document[name] for name in names}})
    return found


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, out.splitlines()) if "_aws" in line]


def test_emf_lines_follow_the_specification(trained_iris, capsys) -> None:
    for client, _ in client_with(trained_iris, EmfSink(namespace="mlfn-test")):
        capsys.readouterr()
        client.post("/predict", json={"instances": [ROW, OTHER]}, headers=token("predict"))
        lines = emf_lines(capsys.readouterr().out)
    for document in lines:
        check_emf(document)
    emf = [single for document in lines for single in unpacked(document)]
    request = next(d for d in emf if "Requests" in d)
    dimensions = request["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert set(dimensions) == {"service", "model", "version", "route"}
    assert (request["model"], request["version"], request["route"]) == ("iris", "1", "/predict")
    by_class = {d["class"]: d["Predictions"] for d in emf if "class" in d}
    assert (
        by_class == {"setosa": [2.0], "virginica": [1.0]}
        or sum(v[0] for v in by_class.values()) == 2
    )
    confidence = next(d for d in emf if "Confidence" in d)
    assert len(confidence["Confidence"]) == 2 and all(0 < c <= 1 for c in confidence["Confidence"])


def test_a_requests_emf_documents_share_lines_where_they_fit(trained_iris, capsys) -> None:
    """A request's metric sets are written together: a one-row /predict is one line; two
    classes need two lines (each line holds one `class` value); unpacked, the lines are the
    documents each event makes on its own."""
    from core.monitoring import Predicted, RequestDone, Telemetry
    from core.monitoring.emf import emf_document

    for client, _ in client_with(trained_iris, EmfSink()):
        capsys.readouterr()
        client.post("/predict", json={"instances": [ROW]}, headers=token("predict"))
        (one,) = emf_lines(capsys.readouterr().out)
        client.post("/predict", json={"instances": [ROW, OTHER]}, headers=token("predict"))
        assert len(emf_lines(capsys.readouterr().out)) == 2
    check_emf(one)
    names = {m["Name"] for d in one["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Requests", "Latency", "PredictedRows", "Confidence", "Predictions"} <= names
    events = [Predicted("iris", 2, "classification", {"a": 2, "b": 1}, [0.9, 0.8, 0.7]),
              Predicted("iris", 3, "classification", {"a": 3}, [0.6] * 3),  # a shadow's
              RequestDone("/predict", "POST", 200, 0.002, "iris", 2, 3)]  # fmt: skip
    sink = EmfSink()
    Telemetry([sink]).emit_all(events)
    together = emf_lines(capsys.readouterr().out)
    for event in events:
        sink.emit(event)
    alone = emf_lines(capsys.readouterr().out)
    assert len(together) == 3 and len(alone) == 4  # an event's own sets share lines too

    def key(document: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in document.items() if k != "_aws"}, sort_keys=True)

    for single in (single for line in together for single in unpacked(line)):
        (directive,) = single["_aws"]["CloudWatchMetrics"]
        names = directive["Dimensions"][0]
        metrics = [(m["Name"], m["Unit"], single[m["Name"]]) for m in directive["Metrics"]]
        stamp = single["_aws"]["Timestamp"]
        made = emf_document("mlfn", {name: single[name] for name in names}, metrics, stamp)
        assert json.dumps(single) == json.dumps(made)  # Powertools' document, byte for byte
    split = sorted(key(single) for line in together for single in unpacked(line))
    assert split == sorted(key(single) for line in alone for single in unpacked(line))
    assert len(split) == 6


def test_cloud_logging_entries_carry_http_request_and_trace(trained_iris) -> None:
    stream = io.StringIO()
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    for client, _ in client_with(trained_iris, CloudLoggingSink(stream, project="demo-proj")):
        client.post(
            "/predict",
            json={"instances": [ROW]},
            headers={**token("predict"), "X-Cloud-Trace-Context": f"{trace}/1;o=1"},
        )
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    request = next(e for e in entries if e.get("event") == "request")
    assert request["severity"] == "INFO"
    http = request["httpRequest"]
    assert http["requestMethod"] == "POST" and http["status"] == 200
    assert http["requestUrl"] == "/predict" and re.fullmatch(r"\d+\.\d{6}s", http["latency"])
    assert http["responseSize"].isdigit() and int(http["responseSize"]) > 0
    assert request["logging.googleapis.com/trace"] == f"projects/demo-proj/traces/{trace}"
    assert request["logging.googleapis.com/spanId"] == f"{1:016x}"
    assert request["version"] == 1 and request["rows"] == 1
    prediction = next(e for e in entries if e.get("event") == "prediction")
    assert prediction["classes"] == {"setosa": 1} and "inputs" not in prediction


def test_cloud_logging_marks_server_errors(trained_iris, monkeypatch) -> None:
    stream = io.StringIO()
    for client, services in client_with(trained_iris, CloudLoggingSink(stream, project="p")):

        def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(services.predictor, "predict", broken)
        monkeypatch.setattr(services.predictor, "is_warm", lambda: True)
        assert (
            client.post("/predict", json={"instances": [ROW]}, headers=token("predict")).status_code
            == 500
        )
    request = next(json.loads(x) for x in stream.getvalue().splitlines() if '"request"' in x)
    assert request["severity"] == "ERROR" and request["error_code"] == "internal_error"


def test_otel_metrics_reach_the_reader(trained_iris) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    sink = OtelSink(MeterProvider(metric_readers=[reader]))
    for client, _ in client_with(trained_iris, sink):
        client.post("/predict", json={"instances": [ROW, OTHER]}, headers=token("predict"))
    data = json.loads(reader.get_metrics_data().to_json())
    metrics = {
        m["name"]: m["data"]["data_points"]
        for rm in data["resource_metrics"]
        for sm in rm["scope_metrics"]
        for m in sm["metrics"]
    }
    requests = metrics["mlfn.requests"]
    predict = [p for p in requests if p["attributes"]["http.route"] == "/predict"]
    assert predict[0]["value"] == 1 and predict[0]["attributes"]["http.response.status_code"] == 200
    assert sum(p["value"] for p in metrics["mlfn.predictions"]) == 2
    assert metrics["mlfn.prediction.confidence"][0]["count"] == 2
    duration = metrics["mlfn.request.duration"][0]
    assert duration["explicit_bounds"][0] == 0.0005


def test_a_failing_sink_never_fails_the_request(trained_iris, caplog) -> None:
    class Broken:
        def emit(self, event: Any) -> None:
            raise OSError("collector down")

        def flush(self) -> None:
            raise OSError("collector down")

    for client, _ in client_with(trained_iris, Broken()):
        for _ in range(3):
            answer = client.post("/predict", json={"instances": [ROW]}, headers=token("predict"))
            assert answer.status_code == 200
    warnings = [r for r in caplog.records if "Broken failed" in r.getMessage()]
    assert len(warnings) == 1  # reported once, not per request


def test_telemetry_off_means_no_sinks(trained_iris, monkeypatch) -> None:
    monkeypatch.setenv("MLFN_TELEMETRY", "off")
    stream = io.StringIO()
    for client, services in client_with(trained_iris, CloudLoggingSink(stream)):
        client.post("/predict", json={"instances": [ROW]}, headers=token("predict"))
        assert services.telemetry.sinks == ()
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("door", "sink"),
    [("aws", "EmfSink"), ("gcp", "CloudLoggingSink"), ("azure", "CloudLoggingSink")],
)
def test_each_door_chooses_its_clouds_sink(door: str, sink: str) -> None:
    from core.monitoring.sinks import sinks_for

    assert [type(s).__name__ for s in sinks_for(door)] == [sink]
    assert sinks_for("serve") == []


def test_a_finished_job_is_told_as_steps_and_an_end(capsys) -> None:
    """What a cloud worker reports when a job ends (core/jobs/worker.py): EMF lines on AWS,
    and the same events in Prometheus under `mlfn serve`."""
    from core.monitoring import Telemetry
    from core.monitoring.jobs import report_job
    from core.monitoring.prometheus import PrometheusSink

    record = {
        "job_id": "20261201T000000000000-abcdefabcdef", "kind": "train", "status": "failed",
        "attempts": 2, "started_at": "2026-12-01T00:00:00.000+00:00",
        "finished_at": "2026-12-01T00:01:30.500+00:00",
        "error": {"code": "worker_lost", "message": "..."},
        "result": {"steps": {"fit": 12.5, "export": 1.25, "total": 14.0}},
    }  # fmt: skip
    prometheus = PrometheusSink()
    report_job(Telemetry([EmfSink(), prometheus]), record)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for document in emf:
        check_emf(document)
    end = next(d for d in emf if "Jobs" in d)
    assert (end["kind"], end["status"], end["JobFailures"], end["JobAttempts"]) == (
        "train", "failed", [1.0], [2.0])  # fmt: skip
    assert end["JobTime"] == [90.5]
    assert {d["step"]: d["JobStepTime"] for d in emf if "step" in d} == {
        "fit": [12.5], "export": [1.25], "total": [14.0]}  # fmt: skip
    text = prometheus.exposition().decode()
    assert 'mlfn_jobs_total{kind="train",status="failed"} 1.0' in text
    assert 'mlfn_job_attempts_total{kind="train"} 2.0' in text
    assert 'mlfn_job_step_seconds_count{kind="train",step="fit"} 1.0' in text
    running = {**record, "status": "running"}
    report_job(Telemetry([prometheus]), running)  # not ended: nothing told
    assert 'mlfn_jobs_total{kind="train",status="failed"} 1.0' in prometheus.exposition().decode()


def test_cloud_monitoring_receives_mlfn_time_series(trained_iris) -> None:
    """GCP with MLFN_GCP_MONITORING=on: the real Cloud Monitoring exporter, its API client
    replaced by one that records the calls (no Google credentials here)."""
    from opentelemetry.exporter.cloud_monitoring import CloudMonitoringMetricsExporter

    from core.monitoring.otel import gcp_meter_provider

    class MetricService:
        def __init__(self) -> None:
            self.series: list[Any] = []

        @staticmethod
        def common_project_path(project: str) -> str:
            return f"projects/{project}"

        def create_metric_descriptor(self, request: Any) -> Any:
            return request.metric_descriptor

        def create_time_series(self, request: Any) -> None:
            assert request.name == "projects/acme-ml"
            self.series.extend(request.time_series)

    service = MetricService()
    exporter = CloudMonitoringMetricsExporter(project_id="acme-ml", client=service)
    provider = gcp_meter_provider(exporter)
    for client, _ in client_with(trained_iris, OtelSink(provider)):
        client.post("/predict", json={"instances": [ROW, OTHER]}, headers=token("predict"))
    provider.force_flush()
    by_type: dict[str, list[Any]] = {}
    for series in service.series:
        by_type.setdefault(series.metric.type, []).append(series)
    assert "workload.googleapis.com/mlfn.requests" in by_type
    assert "workload.googleapis.com/mlfn.request.duration" in by_type
    classes = {
        s.metric.labels["mlfn_class"] for s in by_type["workload.googleapis.com/mlfn.predictions"]
    }
    assert classes == {"setosa", "virginica"}
    provider.shutdown()


def test_a_drift_verdict_reaches_every_clouds_sink(capsys) -> None:
    """What the monitoring run tells (core/drift/act.py): the EMF metric the CloudWatch alarm
    `MlfnDatasetDriftAlarm` watches, a WARNING entry for Cloud Logging, OpenTelemetry
    metrics for Azure Monitor; Prometheus takes its gauges from the report instead."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from core.monitoring import DriftChecked, Telemetry
    from core.monitoring.cloudwatch import SAM, alarms
    from core.monitoring.prometheus import PrometheusSink

    drifted = DriftChecked("iris", 3, 5000, 0.75, True, "retrain queued")
    too_few = DriftChecked("iris", 3, 12, None, None, "nothing to do")
    stream, reader = io.StringIO(), InMemoryMetricReader()
    sinks = [EmfSink(), CloudLoggingSink(stream=stream),
             OtelSink(MeterProvider(metric_readers=[reader])), PrometheusSink()]  # fmt: skip
    for event in (drifted, too_few):
        Telemetry(sinks).emit(event)
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    check_emf(emf)  # a run without a verdict writes no metric
    assert (emf["DatasetDrift"], emf["DriftShare"], emf["model"]) == ([1.0], [0.75], "iris")
    alarm = alarms(SAM)["MlfnDatasetDriftAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("mlfn", "DatasetDrift")
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["severity"] for e in entries] == ["WARNING", "INFO"]
    assert entries[0]["message"] == "iris v3: dataset drift" and entries[1]["rows"] == 12
    data = json.loads(reader.get_metrics_data().to_json())
    metrics = {m["name"]: m["data"]["data_points"] for rm in data["resource_metrics"]
               for sm in rm["scope_metrics"] for m in sm["metrics"]}  # fmt: skip
    assert sum(p["value"] for p in metrics["mlfn.drift.checks"]) == 2
    assert metrics["mlfn.drift.share"][0]["sum"] == 0.75


def test_a_failing_challenger_reaches_every_clouds_sink(capsys) -> None:
    """What serving tells when a challenger fails and the champion answers instead: an EMF
    metric with the version and mode, a WARNING for Cloud Logging, an OpenTelemetry counter
    for Azure Monitor, and a Prometheus counter by code."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from prometheus_client import generate_latest

    from core.monitoring import ChallengerFailed, Telemetry
    from core.monitoring.prometheus import PrometheusSink

    failed = ChallengerFailed("iris", 4, "canary", "inference_error")
    stream, reader, prometheus = io.StringIO(), InMemoryMetricReader(), PrometheusSink()
    sinks = [EmfSink(), CloudLoggingSink(stream=stream),
             OtelSink(MeterProvider(metric_readers=[reader])), prometheus]  # fmt: skip
    for _ in range(2):
        Telemetry(sinks).emit(failed)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(emf) == 2 and all(check_emf(line) is None for line in emf)
    assert (emf[0]["ChallengerErrors"], emf[0]["version"], emf[0]["mode"]) == ([1.0], "4", "canary")
    (entry, _) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["severity"] == "WARNING" and entry["error_code"] == "inference_error"
    data = json.loads(reader.get_metrics_data().to_json())
    points = [p for rm in data["resource_metrics"] for sm in rm["scope_metrics"]
              for m in sm["metrics"] if m["name"] == "mlfn.challenger.errors"
              for p in m["data"]["data_points"]]  # fmt: skip
    assert sum(p["value"] for p in points) == 2
    text = generate_latest(prometheus.registry).decode()
    assert ('mlfn_challenger_errors_total{code="inference_error",mode="canary",model="iris",'
            'version="4"} 2.0') in text  # fmt: skip


@pytest.mark.parametrize(
    ("dimensions", "metrics"),
    [
        ({"model": "iris", "version": "3", "route": "/predict"},
         [("Requests", "Count", [1.0]), ("Latency", "Milliseconds", [0.42])]),
        ({"model": "iris", "version": "3", "class": "Virginica é"},
         [("Predictions", "Count", [2])]),
        ({"kind": "train"}, [("Confidence", "None", [i / 200 for i in range(150)])]),
    ],
)  # fmt: skip
def test_emf_documents_are_the_ones_powertools_makes(
    dimensions: dict[str, str], metrics: list[tuple[str, str, list[Any]]]
) -> None:
    from aws_lambda_powertools.metrics import EphemeralMetrics

    from core.monitoring.emf import emf_document

    labels = {**dimensions, "service": "mlfn"}
    powertools = EphemeralMetrics(namespace="mlfn", service="mlfn")
    metric_set = {
        name: {"Unit": unit, "StorageResolution": 60, "Value": [float(v) for v in values[:100]]}
        for name, unit, values in metrics
    }
    expected = powertools.serialize_metric_set(metric_set, labels, {})
    ours = emf_document("mlfn", labels, metrics, expected["_aws"]["Timestamp"])
    assert json.dumps(ours) == json.dumps(expected)


def test_prometheus_counts_a_requests_events_taken_together() -> None:
    """`emit_all` queues a request's per-request events; with another kind among them (a
    challenger's failure) each goes its own way. Either way, all are counted."""
    from prometheus_client import generate_latest

    from core.monitoring import ChallengerFailed, Predicted, RequestDone
    from core.monitoring.prometheus import PrometheusSink

    sink = PrometheusSink()
    done = RequestDone("/predict", "POST", 200, 0.002, "iris", 2, 1)
    predicted = Predicted("iris", 2, "classification", {"a": 1}, [0.9])
    sink.emit_all([predicted, done])
    sink.emit_all([predicted, ChallengerFailed("iris", 3, "canary", "inference_error"), done])
    sink.emit_all([])  # nothing to count: nothing happens
    text = generate_latest(sink.registry).decode()
    assert 'mlfn_requests_total{code="",method="POST",route="/predict",status="200",' in text
    assert 'status="200",version="2"} 2.0' in text
    assert 'mlfn_predictions_total{class="a",model="iris",version="2"} 2.0' in text
    assert 'mode="canary",model="iris",version="3"} 1.0' in text
    through = PrometheusSink()
    through._tally, through._queue = None, None  # as with several workers: written at once
    through.emit_all([predicted, done])
    assert 'status="200",version="2"} 1.0' in generate_latest(through.registry).decode()
