"""The alerts of core/monitoring/alerts.py for Google Cloud and Azure, which `mlfn deploy`
creates or updates (`--dry-run` shows the steps; the files land in .build/).

Google Cloud: Cloud Monitoring alert policies with PromQL conditions over the built-in Cloud
Run metrics of the gen2 functions (no opt-in needed) and Pub/Sub's dead-letter backlog.
Azure: Azure Monitor metric alerts on the function app's platform metrics."""

from __future__ import annotations

from typing import Any

from core.monitoring.alerts import DEFAULT, Thresholds

RUN = "run_googleapis_com"


def _seconds(duration: str) -> str:
    """Prometheus's 5m / 15m / 30s as Cloud Monitoring's "300s"."""
    units = {"s": 1, "m": 60, "h": 3600}
    return f"{int(duration[:-1]) * units[duration[-1]]}s"


def _policy(name: str, title: str, query: str, hold: str, severity: str, doc: str) -> Any:
    return {
        "displayName": f"{name}: {title}",
        "combiner": "OR",
        "severity": severity,
        "documentation": {"content": f"{doc} (docs/monitoring.md#alerts)",
                          "mimeType": "text/markdown"},
        "userLabels": {"service": "mlfn", "deployment": name},
        "conditions": [{
            "displayName": title,
            "conditionPrometheusQueryLanguage": {
                "query": query, "duration": _seconds(hold), "evaluationInterval": "60s",
            },
        }],
    }  # fmt: skip


def gcp_policies(name: str, t: Thresholds = DEFAULT) -> dict[str, Any]:
    """Alert policies by file name, for the functions `{name}-api` and `{name}-worker`."""
    api = f'monitored_resource="cloud_run_revision",service_name="{name}-api"'
    worker = f'monitored_resource="cloud_run_revision",service_name="{name}-worker"'
    w = t.window
    every = f"sum(rate({RUN}:request_count{{{api}}}[{w}]))"
    five_xx = f'sum(rate({RUN}:request_count{{{api},response_code_class="5xx"}}[{w}]))'
    p99 = (f"histogram_quantile(0.99, sum by (le) "
           f"(rate({RUN}:request_latencies_bucket{{{api}}}[{w}])))")  # fmt: skip
    not_ok = f'{worker},response_code_class!="2xx"'
    failed = f"sum(increase({RUN}:request_count{{{not_ok}}}[{t.job_window}]))"
    dlq = f'subscription_id="{name}-training-dead-letter"'
    undelivered = "pubsub_googleapis_com:subscription_num_undelivered_messages"
    dead = f'max({undelivered}{{monitored_resource="pubsub_subscription",{dlq}}})'
    return {
        "error-ratio.json": _policy(name, "5xx ratio", f"({five_xx} / {every}) > {t.error_ratio}",
                                    t.hold, "CRITICAL", "More than "
                                    f"{t.error_ratio:.0%} of the API's requests fail with 5xx."),
        "latency-p99.json": _policy(name, "p99 latency", f"{p99} > {t.p99_seconds * 1000}",
                                    t.hold, "WARNING", "The API's p99 latency is over "
                                    f"{t.p99_seconds * 1000:.0f} ms."),
        "worker-errors.json": _policy(name, "worker errors", f"{failed} > 0", "0m", "WARNING",
                                      "The training worker answered Pub/Sub with errors."),
        "dead-letters.json": _policy(name, "dead letters", f"{dead} > 0", "0m", "WARNING",
                                     "Training messages reached the dead-letter topic."),
    }  # fmt: skip


def azure_metric_alerts(app: str, t: Thresholds = DEFAULT) -> list[dict[str, str]]:
    """`az monitor metrics alert create` arguments per alert. `scope` is the function app
    (platform metrics: no percentiles, so latency is the average response time against the
    p99 threshold) or its Application Insights component (failed executions: the training
    worker and the sweep), when the deployment names one (azure.app_insights)."""
    return [
        {"name": f"{app}-http-5xx", "scope": "app", "severity": "1", "window": t.window,
         "condition": "total Http5xx > 5", "description": "mlfn: the API answers 5xx"},
        {"name": f"{app}-response-time", "scope": "app", "severity": "2", "window": t.window,
         "condition": f"avg HttpResponseTime > {t.p99_seconds}",
         "description": f"mlfn: average response time over {t.p99_seconds * 1000:.0f} ms"},
        {"name": f"{app}-failed-executions", "scope": "insights", "severity": "2",
         "window": t.job_window, "condition": "count requests/failed > 0",
         "description": "mlfn: function executions failed (training worker, sweep, API)"},
    ]  # fmt: skip
