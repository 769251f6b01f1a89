"""The OpenTelemetry metrics sink: the same events as instruments of a Meter, exported to
Cloud Monitoring (Google Cloud, MLFN_GCP_MONITORING=on) or Application Insights (Azure,
APPLICATIONINSIGHTS_CONNECTION_STRING), or read by whatever MeterProvider you hand it."""

from __future__ import annotations

import os
from typing import Any

from core.monitoring.events import (
    ChallengerFailed,
    DriftChecked,
    Event,
    JobFinished,
    JobStep,
    ModelLoaded,
    Predicted,
    RequestDone,
)
from core.monitoring.prometheus import CONFIDENCE_BUCKETS, LATENCY_BUCKETS
from core.monitoring.tracing import resource_attributes

EXPORT_MILLIS = 60_000


def azure_monitor() -> None:
    """Application Insights through the Azure Monitor OpenTelemetry distro (traces, metrics
    and logs); the connection string is read from the environment by the distro itself."""
    from azure.monitor.opentelemetry import configure_azure_monitor
    from opentelemetry.sdk.resources import Resource

    configure_azure_monitor(
        logger_name="mlfn",
        enable_live_metrics=False,
        # mlfn's own middleware makes the request span, with the FaaS attributes: no second one
        instrumentation_options={"fastapi": {"enabled": False}},
        resource=Resource.create(resource_attributes("azure")),
    )


def gcp_meter_provider(exporter: Any = None) -> Any:
    """Metrics to Cloud Monitoring as workload.googleapis.com/mlfn.* (the project and the
    credentials from the function's environment)."""
    from opentelemetry.exporter.cloud_monitoring import CloudMonitoringMetricsExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    reader = PeriodicExportingMetricReader(
        exporter or CloudMonitoringMetricsExporter(), export_interval_millis=EXPORT_MILLIS
    )
    return MeterProvider([reader], resource=Resource.create(resource_attributes("gcp")))


class OtelSink:
    def __init__(self, meter_provider: Any) -> None:
        self.provider = meter_provider
        meter = meter_provider.get_meter("mlfn")
        self.requests = meter.create_counter("mlfn.requests", "{request}", "HTTP requests")
        self.latency = meter.create_histogram(
            "mlfn.request.duration", "s", "HTTP request latency",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS),
        )  # fmt: skip
        self.predictions = meter.create_counter("mlfn.predictions", "{row}", "Rows by class")
        self.confidence = meter.create_histogram(
            "mlfn.prediction.confidence", "1", "Probability of the predicted class",
            explicit_bucket_boundaries_advisory=list(CONFIDENCE_BUCKETS),
        )  # fmt: skip
        self.values = meter.create_histogram("mlfn.prediction.value", "1", "Predicted values")
        self.loads = meter.create_counter("mlfn.model.loads", "{load}", "Model loads")
        self.load_time = meter.create_histogram("mlfn.model.load.duration", "s", "Load time")
        self.jobs = meter.create_counter("mlfn.jobs", "{job}", "Finished jobs")
        self.job_time = meter.create_histogram("mlfn.job.duration", "s", "Job time")
        self.steps = meter.create_histogram("mlfn.job.step.duration", "s", "Job step time")
        self.drift = meter.create_histogram("mlfn.drift.share", "1", "Share of features drifted")
        self.drift_checks = meter.create_counter("mlfn.drift.checks", "{run}", "Drift checks")
        self.challenger_errors = meter.create_counter(
            "mlfn.challenger.errors", "{request}", "Requests a challenger failed"
        )

    def emit(self, event: Event) -> None:
        if isinstance(event, RequestDone):
            attributes = {
                "http.route": event.route, "http.request.method": event.method,
                "http.response.status_code": event.status, "mlfn.model.version": event.version or 0,
                "error.type": event.error_code or "",
            }  # fmt: skip
            self.requests.add(1, attributes)
            self.latency.record(event.seconds, attributes)
        elif isinstance(event, Predicted):
            self._predicted(event)
        elif isinstance(event, ModelLoaded):
            attributes = {
                "mlfn.model": event.model,
                "mlfn.cache": "hit" if event.cache_hit else "miss",
            }
            self.loads.add(1, attributes)
            self.load_time.record(
                event.seconds, {**attributes, "mlfn.model.version": event.version}
            )
        elif isinstance(event, JobStep):
            self.steps.record(
                event.seconds, {"mlfn.job.kind": event.kind, "mlfn.job.step": event.step}
            )
        elif isinstance(event, ChallengerFailed):
            self.challenger_errors.add(
                1, {"mlfn.model": event.model, "mlfn.model.version": event.version,
                    "mlfn.rollout.mode": event.mode, "error.type": event.error_code},
            )  # fmt: skip
        elif isinstance(event, DriftChecked):
            verdict = {"mlfn.model": event.model, "mlfn.drift": str(event.dataset_drift).lower()}
            self.drift_checks.add(1, verdict)
            if event.drift_share is not None:
                self.drift.record(event.drift_share, {"mlfn.model": event.model})
        elif isinstance(event, JobFinished):
            attributes = {"mlfn.job.kind": event.kind, "mlfn.job.status": event.status}
            self.jobs.add(1, {**attributes, "mlfn.job.attempts": event.attempts})
            if event.seconds is not None:
                self.job_time.record(event.seconds, attributes)

    def _predicted(self, event: Predicted) -> None:
        base = {"mlfn.model": event.model, "mlfn.model.version": event.version}
        for label, count in event.classes.items():
            self.predictions.add(count, {**base, "mlfn.class": label})
        for value in event.confidences:
            self.confidence.record(value, base)
        for value in event.values:
            self.values.record(value, base)

    def flush(self) -> None:
        self.provider.force_flush()


def otel_sink_for(door: str) -> OtelSink | None:
    if door == "gcp" and os.environ.get("MLFN_GCP_MONITORING") == "on":
        return OtelSink(gcp_meter_provider())
    if door == "azure" and os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        from opentelemetry import metrics

        return OtelSink(metrics.get_meter_provider())  # set by configure_azure_monitor
    return None
