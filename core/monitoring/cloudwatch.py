"""CloudWatch alarms and dashboard for template.yaml (SAM) and serverless.yml, declared once
with the thresholds of core/monitoring/alerts.py. Both manifests carry exactly what
`aws_resources(...)` returns (tests/manifests compare them); print it with
`python -m core.monitoring.cloudwatch sam|serverless`.

Alarms notify the SNS topic given as a parameter (SAM `AlarmTopicArn`, Serverless
`alarmTopicArn`); with none, they still show in the console."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from core.monitoring.alerts import DEFAULT, Thresholds
from core.monitoring.emf import NAMESPACE

CONDITION = "HasAlarmTopic"
FUNCTIONS = ("predict", "api", "worker")


@dataclass(frozen=True)
class Names:
    """Logical ids in one manifest, and its alarm topic's value."""

    predict: str
    api: str
    worker: str
    topic: Any
    model: Any  # the model_name, as the manifest spells it


SAM = Names(
    "PredictFunction", "ApiFunction", "TrainWorker", {"Ref": "AlarmTopicArn"},
    {"Ref": "ModelName"},
)  # fmt: skip
SERVERLESS = Names(
    "PredictLambdaFunction", "ApiLambdaFunction", "TrainWorkerLambdaFunction",
    "${param:alarmTopicArn, ''}", "${param:modelName}",
)  # fmt: skip


def _metric(namespace: str, name: str, dimensions: dict[str, Any], stat: str, period: int) -> Any:
    return {
        "Metric": {
            "Namespace": namespace, "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        },
        "Period": period, "Stat": stat,
    }  # fmt: skip


def _alarm(names: Names, description: str, threshold: float, periods: int, **how: Any) -> Any:
    actions = {"Fn::If": [CONDITION, [names.topic], {"Ref": "AWS::NoValue"}]}
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description, "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": threshold, "EvaluationPeriods": periods, "DatapointsToAlarm": periods,
            "TreatMissingData": "notBreaching", "AlarmActions": actions, "OKActions": actions,
            **how,
        },
    }  # fmt: skip


def _sum_of(metrics: dict[str, Any], label: str) -> list[dict[str, Any]]:
    queries: list[dict[str, Any]] = [
        {"Id": "total", "Expression": " + ".join(metrics), "Label": label, "ReturnData": True}
    ]
    return queries + [
        {"Id": key, "MetricStat": stat, "ReturnData": False} for key, stat in metrics.items()
    ]


def alarms(names: Names, t: Thresholds = DEFAULT) -> dict[str, Any]:
    api = {"ApiId": {"Ref": "HttpApi"}, "Stage": "$default"}
    lam = "AWS/Lambda"
    fn = {key: {"FunctionName": {"Ref": getattr(names, key)}} for key in FUNCTIONS}
    ratio = [
        {"Id": "ratio", "Expression": "IF(requests > 0, errors / requests, 0)",
         "Label": "5xx ratio", "ReturnData": True},
        {"Id": "errors", "MetricStat": _metric("AWS/ApiGateway", "5xx", api, "Sum", 60),
         "ReturnData": False},
        {"Id": "requests", "MetricStat": _metric("AWS/ApiGateway", "Count", api, "Sum", 60),
         "ReturnData": False},
    ]  # fmt: skip
    jobs = {k: {"service": "mlfn", "kind": k, "status": "failed"} for k in ("train", "retrain")}
    dlq = {"QueueName": {"Fn::GetAtt": ["TrainDeadLetterQueue", "QueueName"]}}
    return {
        "MlfnErrorRatioAlarm": _alarm(
            names, f"mlfn: more than {t.error_ratio:.0%} of HTTP requests answered 5xx",
            t.error_ratio, 5, Metrics=ratio),
        "MlfnPredictLatencyAlarm": _alarm(
            names, f"mlfn: /predict p99 duration over {t.p99_seconds * 1000:.0f} ms",
            t.p99_seconds * 1000, 5, Namespace=lam, MetricName="Duration",
            Dimensions=[{"Name": "FunctionName", "Value": fn["predict"]["FunctionName"]}],
            ExtendedStatistic="p99", Period=60),
        "MlfnThrottlesAlarm": _alarm(
            names, "mlfn: Lambda throttled invocations", 0, 1,
            Metrics=_sum_of({k: _metric(lam, "Throttles", d, "Sum", 300) for k, d in fn.items()},
                            "throttles")),
        "MlfnDeadLetterAlarm": _alarm(
            names, "mlfn: training messages in the dead-letter queue", 0, 1,
            Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": dlq["QueueName"]}], Statistic="Maximum",
            Period=300),
        "MlfnWorkerErrorsAlarm": _alarm(
            names, "mlfn: the training worker failed or jobs failed", 0, 1,
            Metrics=_sum_of({"crashes": _metric(lam, "Errors", fn["worker"], "Sum", 300),
                             **{k: _metric(NAMESPACE, "JobFailures", d, "Sum", 300)
                                for k, d in jobs.items()}}, "worker errors and failed jobs")),
        "MlfnDatasetDriftAlarm": _alarm(
            names, "mlfn: the monitoring run found dataset drift (mlfn drift report --open)", 0,
            1, Namespace=NAMESPACE, MetricName="DatasetDrift", Statistic="Maximum", Period=3600,
            Dimensions=[{"Name": "service", "Value": "mlfn"},
                        {"Name": "model", "Value": names.model}]),
    }  # fmt: skip


def _search(metric: str, dimensions: str, stat: str, label: str = "") -> list[dict[str, str]]:
    """One row of a widget's `metrics`: a SEARCH over the EMF metrics of every dimension
    value (every route, version, class or job status)."""
    query = f"SEARCH('{{{NAMESPACE},{dimensions}}} MetricName=\"{metric}\"', '{stat}', 60)"
    return [{"expression": query, "label": label, "id": f"{metric.lower()}_{stat.lower()}"}]


def _widget(title: str, metrics: list[Any], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
    return {
        "type": "metric", "x": x, "y": y, "width": 8, "height": 6,
        "properties": {"title": title, "view": "timeSeries", "region": "@Region@",
                       "stat": stat, "period": 60, "metrics": metrics},
    }  # fmt: skip


def dashboard_body() -> str:
    """The CloudWatch dashboard (EMF metrics by route, version, class and job; API Gateway
    and the dead-letter queue) as JSON, with @Region@, @ApiId@ and @DeadLetterQueue@ where
    the stack's values go (no ${...}: Serverless would read that as its own variable)."""
    request = "model,route,service,version"
    widgets = [
        _widget("Requests by route", [_search("Requests", request, "Sum")], 0, 0),
        _widget("Errors (4xx, 5xx)", [_search("Errors4xx", request, "Sum", "4xx"),
                                      _search("Errors5xx", request, "Sum", "5xx")], 8, 0),
        _widget("API Gateway requests", [["AWS/ApiGateway", "Count", "ApiId", "@ApiId@"]], 16, 0),
        _widget("Latency p50 / p90 / p99 (ms)", [_search("Latency", request, s, s)
                                                 for s in ("p50", "p90", "p99")], 0, 6, "p99"),
        _widget("Requests by model version", [_search("PredictedRows", "model,service,version",
                                                       "Sum")], 8, 6),
        _widget("Predictions by class", [_search("Predictions", "class,model,service,version",
                                                  "Sum")], 16, 6),
        _widget("Jobs by status", [_search("Jobs", "kind,service,status", "Sum")], 0, 12),
        _widget("Job time p90 (s)", [_search("JobTime", "kind,service,status", "p90")], 8, 12,
                "p90"),
        _widget("Dead-letter queue", [["AWS/SQS", "ApproximateNumberOfMessagesVisible",
                                       "QueueName", "@DeadLetterQueue@"]], 16, 12, "Maximum"),
    ]  # fmt: skip
    return json.dumps({"widgets": widgets}, sort_keys=True)


PLACES = {
    "Region": {"Ref": "AWS::Region"},
    "ApiId": {"Ref": "HttpApi"},
    "DeadLetterQueue": {"Fn::GetAtt": ["TrainDeadLetterQueue", "QueueName"]},
}


def dashboard() -> dict[str, Any]:
    parts: list[Any] = []
    for index, piece in enumerate(dashboard_body().split("@")):
        parts.append(PLACES[piece] if index % 2 else piece)
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardBody": {"Fn::Join": ["", [p for p in parts if p != ""]]}},
    }


def aws_resources(names: Names) -> dict[str, Any]:
    return {**alarms(names), "MlfnDashboard": dashboard()}


if __name__ == "__main__":
    import yaml

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    chosen = SERVERLESS if sys.argv[1:] == ["serverless"] else SAM
    print(yaml.dump(aws_resources(chosen), Dumper=NoAliases, sort_keys=False, width=100))
