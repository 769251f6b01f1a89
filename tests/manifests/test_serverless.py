"""serverless.yml: `serverless package` (v3, from the project's own .tools) works offline and
its CloudFormation has the same routes, authorizer, worker and scoped IAM as template.yaml."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.jobs.schedules import SWEEP
from tests.manifests.conftest import PROTECTED_ROUTES, PUBLIC_ROUTES, REPO, offline_env

SERVERLESS = REPO / ".tools" / "node_modules" / ".bin" / "serverless"
TOPIC = "arn:aws:sns:us-east-1:123456789012:mlfn-alerts"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlfn-trainer@sha256:" + "a" * 64


def _package(output: Path, **extra: str) -> dict[str, Any]:
    if not SERVERLESS.exists():  # `make setup` installs it; a missing one is a failure
        pytest.fail(f"{SERVERLESS} is missing: run `make setup` (npm install serverless@3)")
    env = {**offline_env(), "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off",
           "HOME": str(output)}  # fmt: skip
    params = {
        "bucket": "mlfn-iris-dev",
        "jwtIssuer": "https://issuer.example.com/",
        "jwtAudience": "mlfn-api",
        "trainImageSource": "uri",
        "trainImageUri": IMAGE,
        **extra,
    }
    command = [str(SERVERLESS), "package", "--stage", "dev", "--package", str(output),
               *(f"--param={k}={v}" for k, v in params.items())]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((output / "cloudformation-template-update-stack.json").read_text())
    resources: dict[str, Any] = template["Resources"]
    return resources


@pytest.fixture(scope="module")
def packaged(aws_package: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _package(tmp_path_factory.mktemp("sls"), jwtScopePrefix="mlfn/")


@pytest.fixture(scope="module")
def packaged_secret(aws_package: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _package(tmp_path_factory.mktemp("sls-secret"), authMode="secret", alarmTopicArn=TOPIC)


def _of_type(resources: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in resources.values() if r["Type"] == kind]


def test_same_routes_and_scopes_as_the_sam_template(packaged: dict[str, Any]) -> None:
    routes = {r["RouteKey"]: r for r in _of_type(packaged, "AWS::ApiGatewayV2::Route")}
    assert set(routes) == set(PROTECTED_ROUTES) | PUBLIC_ROUTES
    for key, scope in PROTECTED_ROUTES.items():
        assert routes[key]["AuthorizationType"] == "JWT"
        assert routes[key]["AuthorizationScopes"] == [f"mlfn/{scope}"]
    for key in PUBLIC_ROUTES:
        assert "AuthorizationType" not in routes[key], key
    (authorizer,) = _of_type(packaged, "AWS::ApiGatewayV2::Authorizer")
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["JwtConfiguration"] == {
        "Issuer": "https://issuer.example.com/", "Audience": ["mlfn-api"]}  # fmt: skip


def test_functions_package_and_worker(packaged: dict[str, Any]) -> None:
    functions = {f["FunctionName"]: f for f in _of_type(packaged, "AWS::Lambda::Function")}
    predict, api = functions["mlfn-iris-dev-predict"], functions["mlfn-iris-dev-api"]
    for zipped in (predict, api):
        assert zipped["Runtime"] == "python3.12"  # moved there by resources.extensions
        assert zipped["Handler"] == "functions.aws.handler.handler"
        assert zipped["Code"]["S3Key"].endswith("/predict.zip")  # what `mlfn package aws` built
    worker = functions["mlfn-iris-dev-train-worker"]
    assert worker["PackageType"] == "Image" and worker["Timeout"] == 900
    assert worker["Code"] == {"ImageUri": IMAGE}
    (mapping,) = _of_type(packaged, "AWS::Lambda::EventSourceMapping")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["TrainQueue", "Arn"]}
    queues = {q["QueueName"]: q for q in _of_type(packaged, "AWS::SQS::Queue")}
    assert queues["mlfn-iris-dev-training"]["RedrivePolicy"]["maxReceiveCount"] == 3
    assert api["Environment"]["Variables"]["MLFN_SQS_QUEUE_URL"] == {"Ref": "TrainQueue"}
    rules = {
        json.loads(r["Targets"][0]["Input"])["action"]: r
        for r in _of_type(packaged, "AWS::Events::Rule")
    }  # as in template.yaml
    assert rules["sweep"]["ScheduleExpression"] == SWEEP.eventbridge()
    assert rules["monitor"]["State"] == {"Fn::If": ["MonitorOn", "ENABLED", "DISABLED"]}
    assert rules["retrain"]["State"] == {"Fn::If": ["RetrainOn", "ENABLED", "DISABLED"]}
    (policy,) = _of_type(packaged, "AWS::SQS::QueuePolicy")
    assert policy["PolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"] == {
        "aws:SourceArn": [
            {"Fn::GetAtt": [rule, "Arn"]}
            for rule in ("JobSweepSchedule", "MonitorScheduleRule", "RetrainScheduleRule")
        ]
    }


def test_iam_statements_for_s3_and_sqs_name_the_bucket_or_queue(
    packaged: dict[str, Any],
) -> None:
    statements = [
        s
        for role in _of_type(packaged, "AWS::IAM::Role")
        for p in role["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    scoped = [s for s in statements if any(a.startswith(("s3:", "sqs:")) for a in s["Action"])]
    assert scoped, "no S3/SQS statements: the functions could not reach the store"
    for statement in scoped:
        for resource in statement["Resource"]:
            text = json.dumps(resource)
            assert resource != "*" and ("ArtifactBucket" in text or "TrainQueue" in text)


def test_the_zip_it_deploys_holds_core_at_its_root(aws_package: Any) -> None:
    import zipfile

    names = set(zipfile.ZipFile(aws_package.zip_path).namelist())
    assert {"core/__init__.py", "functions/aws/handler.py", "config/config.json"} <= names
    assert not any(n.startswith(("tests/", "bench/", "examples/", ".venv/")) for n in names)
    assert Path(os.path.relpath(aws_package.zip_path, REPO)) == Path(".build/aws/predict.zip")


def _function_env(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        f["Environment"]["Variables"]
        for f in _of_type(resources, "AWS::Lambda::Function")
        if "Environment" in f
    ]


def test_idp_mode_functions_trust_what_the_authorizer_trusts(packaged: dict[str, Any]) -> None:
    (authorizer,) = _of_type(packaged, "AWS::ApiGatewayV2::Authorizer")
    jwt = authorizer["JwtConfiguration"]
    for env in _function_env(packaged):
        assert env["MLFN_JWT_ISSUER"] == jwt["Issuer"]
        assert [env["MLFN_JWT_AUDIENCE"]] == jwt["Audience"]
        assert env["MLFN_JWT_JWKS_URL"] == "discover"  # the keys of that same issuer
        assert env["MLFN_JWT_AUDIENCE_CLAIM"] == "aud,client_id"  # as API Gateway reads it
        assert env["MLFN_JWT_SCOPE_PREFIXES"] == "mlfn/"
        assert env["MLFN_JWT_SECRET_PARAMETER"] == ""  # no second way in


def test_secret_mode_has_no_gateway_authorizer(packaged_secret: dict[str, Any]) -> None:
    assert _of_type(packaged_secret, "AWS::ApiGatewayV2::Authorizer") == []
    for route in _of_type(packaged_secret, "AWS::ApiGatewayV2::Route"):
        assert "AuthorizationType" not in route, route["RouteKey"]
    for env in _function_env(packaged_secret):
        assert env["MLFN_JWT_SECRET_PARAMETER"] == "/mlfn/dev/jwt-secret"
        assert env["MLFN_JWT_JWKS_URL"] == ""


def test_alarms_and_dashboard_are_core_monitorings_with_the_topic_parameter(
    packaged: dict[str, Any], packaged_secret: dict[str, Any]
) -> None:
    from dataclasses import replace

    from core.monitoring.cloudwatch import SERVERLESS as NAMES
    from core.monitoring.cloudwatch import aws_resources

    for resources, topic in ((packaged, ""), (packaged_secret, TOPIC)):
        expected = aws_resources(replace(NAMES, topic=topic, model="iris"))  # params.default
        assert {k: resources[k] for k in expected} == expected
    for env in _function_env(packaged):
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "mlfn"
