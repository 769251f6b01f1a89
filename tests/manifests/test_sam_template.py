"""template.yaml: SAM's and CloudFormation's linters, then samtranslator's transform checked
for the routes, the authorizer, the SQS worker and IAM scoped to the bucket and queue."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.jobs.schedules import SWEEP
from tests.manifests.conftest import (
    PROTECTED_ROUTES,
    PUBLIC_ROUTES,
    REPO,
    offline_env,
    sam_template,
)

TEMPLATE = REPO / "template.yaml"
BIN = Path(sys.executable).parent


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], cwd=REPO, env=offline_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_sam_validate_lint_passes() -> None:
    result = _tool("sam", "validate", "--lint", "--template-file", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_cfn_lint_passes() -> None:
    result = _tool("cfn-lint", str(TEMPLATE))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    resources: dict[str, Any] = sam_template(TEMPLATE, transform=True)["Resources"]
    return resources


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def test_routes_cover_the_contract_with_scopes_behind_the_optional_authorizer(
    transformed: dict[str, Any],
) -> None:
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in
              _of_type(transformed, "AWS::ApiGatewayV2::Route").values()}  # fmt: skip
    assert set(routes) == set(PROTECTED_ROUTES) | PUBLIC_ROUTES
    for key, properties in routes.items():
        assert re.fullmatch(r"(GET|POST) /\S*", key), key  # linters miss a missing slash
        if key in PUBLIC_ROUTES:
            assert "AuthorizationType" not in properties, key
            continue
        assert properties["AuthorizationType"] == {"Fn::If": ["UseJwtAuthorizer", "JWT", "NONE"]}
        assert properties["AuthorizerId"]["Fn::If"][1] == {"Ref": "JwtAuthorizer"}
        assert properties["AuthorizationScopes"]["Fn::If"][1] == [
            {"Fn::Sub": "${JwtScopePrefix}" + PROTECTED_ROUTES[key]}
        ]
    targets = {key: p["Target"]["Fn::Sub"] for key, p in routes.items()}
    assert {targets[k] for k in ("POST /train", "POST /retrain", "GET /jobs/{job_id}")} == {
        "integrations/${ApiIntegration}"
    }
    assert targets["POST /predict"] == "integrations/${PredictIntegration}"


def test_jwt_authorizer_takes_issuer_and_audience_parameters(
    transformed: dict[str, Any],
) -> None:
    (authorizer,) = _of_type(transformed, "AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Condition"] == "UseJwtAuthorizer"
    config = authorizer["Properties"]
    assert config["AuthorizerType"] == "JWT"
    assert config["JwtConfiguration"] == {
        "Issuer": {"Ref": "JwtIssuer"},
        "Audience": [{"Ref": "JwtAudience"}],
    }
    (api,) = _of_type(transformed, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["CorsConfiguration"]["AllowHeaders"] == [
        "authorization", "content-type", "idempotency-key",
    ]  # fmt: skip


def test_worker_is_an_image_fed_by_sqs_with_a_dead_letter_queue(
    transformed: dict[str, Any],
) -> None:
    (mapping,) = _of_type(transformed, "AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]
    assert properties["EventSourceArn"] == {"Fn::GetAtt": ["TrainQueue", "Arn"]}
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["FunctionName"] == {"Ref": "TrainWorker"}
    worker = transformed["TrainWorker"]["Properties"]
    assert worker["PackageType"] == "Image" and worker["Timeout"] == 900
    assert worker["ImageConfig"]["Command"] == ["functions.aws.handler.worker"]
    queue = transformed["TrainQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["TrainDeadLetterQueue", "Arn"]
    }
    assert queue["VisibilityTimeout"] >= 6 * 900


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"].get("Policies", [])
            for s in p["PolicyDocument"]["Statement"]]  # fmt: skip


def test_iam_is_scoped_to_the_bucket_and_the_queue(transformed: dict[str, Any]) -> None:
    roles = _of_type(transformed, "AWS::IAM::Role")
    assert set(roles) == {"PredictFunctionRole", "ApiFunctionRole", "TrainWorkerRole"}
    for name, role in roles.items():
        managed = json.dumps(role["Properties"].get("ManagedPolicyArns", []))
        assert "SQS" not in managed and "S3" not in managed, (name, managed)
        for statement in _statements(role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [
                statement["Action"]]  # fmt: skip
            if not any(a.startswith(("s3:", "sqs:")) for a in actions):
                continue
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            for resource in resources:
                text = json.dumps(resource)
                assert resource != "*" and ("ArtifactBucket" in text or "TrainQueue" in text), (
                    name, statement)  # fmt: skip
    predict = {
        a
        for s in _statements(roles["PredictFunctionRole"])
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "sqs:SendMessage" not in predict and "s3:PutObject" in predict
    api = json.dumps(_statements(roles["ApiFunctionRole"]))
    assert "sqs:SendMessage" in api and "sqs:ReceiveMessage" not in api
    worker = json.dumps(_statements(roles["TrainWorkerRole"]))
    assert "sqs:ReceiveMessage" in worker  # and SendMessage: the sweep requeues (to this queue)
    deletes = [
        st for st in _statements(roles["TrainWorkerRole"]) if st["Action"] == "s3:DeleteObject"
    ]
    assert [st["Resource"] for st in deletes] == [
        {"Fn::Sub": "${ArtifactBucket.Arn}/idempotency/*"}
    ]


def test_the_job_sweep_is_scheduled_onto_the_training_queue(transformed: dict[str, Any]) -> None:
    """The one schedule declaration (core/jobs/schedules.py), rendered for EventBridge; only
    that rule may send to the queue besides the functions' roles."""
    rule = transformed["JobSweepSchedule"]["Properties"]
    assert rule["ScheduleExpression"] == SWEEP.eventbridge()
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["TrainQueue", "Arn"]}
    assert json.loads(target["Input"]) == json.loads(SWEEP.message)
    (statement,) = transformed["TrainQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        {"Fn::GetAtt": [rule, "Arn"]}
        for rule in ("JobSweepSchedule", "MonitorScheduleRule", "RetrainScheduleRule")
    ]


def test_the_configs_schedules_are_rules_the_deploy_parameters_switch_on(
    transformed: dict[str, Any],
) -> None:
    """monitoring.schedule and retrain.schedule: a rule each on the training queue, its
    cron a parameter `mlfn deploy aws` fills; "off" leaves it disabled."""
    for rule_name, parameter, action in (
        ("MonitorScheduleRule", "MonitorSchedule", "monitor"),
        ("RetrainScheduleRule", "RetrainSchedule", "retrain"),
    ):
        rule = transformed[rule_name]["Properties"]
        condition = "MonitorOn" if action == "monitor" else "RetrainOn"
        assert rule["ScheduleExpression"] == {
            "Fn::If": [condition, {"Ref": parameter}, "rate(1 day)"]
        }
        assert rule["State"] == {"Fn::If": [condition, "ENABLED", "DISABLED"]}
        (target,) = rule["Targets"]
        assert json.loads(target["Input"]) == {"action": action}


def test_functions_run_the_handlers_on_a_runtime_onnxruntime_loads_on(
    transformed: dict[str, Any],
) -> None:
    import functions.aws.handler as handler

    zipped = {n: f["Properties"] for n, f in _of_type(transformed, "AWS::Lambda::Function").items()
              if f["Properties"].get("PackageType") != "Image"}  # fmt: skip
    assert set(zipped) == {"PredictFunction", "ApiFunction"}
    for properties in zipped.values():
        assert properties["Runtime"] == "python3.12"  # Amazon Linux 2023: glibc 2.34
        module, _, attribute = properties["Handler"].rpartition(".")
        assert module == "functions.aws.handler" and callable(getattr(handler, attribute))
        variables = properties["Environment"]["Variables"]
        assert "MLFN_JWT_SECRET" not in variables  # the secret stays in SSM
        assert variables["MLFN_JWT_SECRET_PARAMETER"]["Fn::If"][2] == {
            "Fn::Sub": "/mlfn/${Stage}/jwt-secret"
        }
        assert variables["MLFN_ENV"] == {"Ref": "Stage"}
    assert zipped["ApiFunction"]["Environment"]["Variables"]["MLFN_SQS_QUEUE_URL"] == {
        "Ref": "TrainQueue"
    }


def test_bucket_is_versioned_encrypted_private_and_expires_logs(
    transformed: dict[str, Any],
) -> None:
    bucket = transformed["ArtifactBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    properties = bucket["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(properties["PublicAccessBlockConfiguration"].values())
    rules = {r["Id"]: r for r in properties["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-logs"]["Prefix"] == "logs/"
    for group in _of_type(transformed, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_stage_parameter_names_resources_and_outputs_the_api_url() -> None:
    template = sam_template(TEMPLATE)
    assert template["Parameters"]["Stage"]["AllowedValues"] == ["dev", "qa", "staging", "prod"]
    assert not any("secret" in name.lower() for name in template["Parameters"])
    assert "execute-api" in template["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]
    dockerfile = REPO / template["Resources"]["TrainWorker"]["Metadata"]["Dockerfile"]
    text = dockerfile.read_text()
    assert "FROM public.ecr.aws/lambda/python:3.12" in text
    assert "download.pytorch.org/whl/cpu" in text  # CPU torch, not the CUDA build


def test_gateway_and_functions_check_the_same_tokens(transformed: dict[str, Any]) -> None:
    """One parameter (EnableJwtAuthorizer) switches both: idp mode, the authorizer and the
    functions trust the same issuer, audience (aud or client_id, as API Gateway reads it),
    keys and scope names; secret mode, no authorizer and the functions' HS256 secret."""
    functions = _of_type(transformed, "AWS::Lambda::Function")
    for name, function in functions.items():
        env = function["Properties"]["Environment"]["Variables"]
        assert env["MLFN_JWT_ISSUER"] == {"Ref": "JwtIssuer"}, name
        assert env["MLFN_JWT_AUDIENCE"] == {"Ref": "JwtAudience"}, name
        assert env["MLFN_JWT_JWKS_URL"] == {
            "Fn::If": ["UseJwtAuthorizer", "discover", {"Ref": "AWS::NoValue"}]
        }, name
        assert env["MLFN_JWT_AUDIENCE_CLAIM"] == {
            "Fn::If": ["UseJwtAuthorizer", "aud,client_id", "aud"]
        }, name
        assert env["MLFN_JWT_SCOPE_PREFIXES"] == {"Ref": "JwtScopePrefix"}, name
        secret = env["MLFN_JWT_SECRET_PARAMETER"]["Fn::If"]
        assert secret[0] == "UseJwtAuthorizer" and secret[1] == {"Ref": "AWS::NoValue"}, name


def test_alarms_and_dashboard_are_core_monitorings(transformed: dict[str, Any]) -> None:
    """The alarms (5xx ratio, p99 duration, throttles, dead letters, worker errors and failed
    jobs) and the dashboard are exactly what core/monitoring/cloudwatch.py declares, with the
    thresholds the Prometheus rules use, notifying the AlarmTopicArn parameter."""
    from core.monitoring.alerts import DEFAULT
    from core.monitoring.cloudwatch import SAM, aws_resources

    expected = aws_resources(SAM)
    assert {name: transformed[name] for name in expected} == expected
    template = sam_template(TEMPLATE)
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert "HasAlarmTopic" in template["Conditions"]
    ratio = expected["MlfnErrorRatioAlarm"]["Properties"]
    assert ratio["Threshold"] == DEFAULT.error_ratio
    latency = expected["MlfnPredictLatencyAlarm"]["Properties"]
    assert latency["Threshold"] == DEFAULT.p99_seconds * 1000
    assert latency["ExtendedStatistic"] == "p99"
    body = "".join(
        p if isinstance(p, str) else "X" for p in
        expected["MlfnDashboard"]["Properties"]["DashboardBody"]["Fn::Join"][1]
    )  # fmt: skip
    titles = [w["properties"]["title"] for w in json.loads(body)["widgets"]]
    wanted = {"Requests by route", "Latency p50 / p90 / p99 (ms)", "Errors (4xx, 5xx)",
              "Predictions by class", "Requests by model version", "Jobs by status"}  # fmt: skip
    assert wanted <= set(titles)
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "mlfn"
