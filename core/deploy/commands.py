"""`mlfn deploy`: the real deploy commands of each cloud, filled from the config's environment.

Each cloud is a function returning its steps (argv, working folder). `--dry-run` prints them;
otherwise every tool is checked first, then the steps run in order and stop at the first
failure. One-time setup (accounts, secrets) is in infra/<cloud>/ and the README.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import constants
from core.config import Settings
from core.deploy.alert_steps import (
    azure_alerts_argv,
    gcp_alerts_argv,
    write_azure_alerts,
    write_gcp_alerts,
)
from core.deploy.bundle import install_config, stage_bundle
from core.deploy.gateway_steps import (
    azure_gateway_argv,
    gcp_gateway_argv,
    gcp_gateway_on,
    write_azure_gateway,
    write_gcp_gateway,
)
from core.errors import ConfigError, DeployError, MissingToolError, ValidationError

INSTALL_HINTS = {
    "sam": "pip install aws-sam-cli (it comes with `make setup`)",
    "serverless": "npm install --prefix .tools serverless@3 (Serverless Framework v3)",
    "docker": "Docker Engine (sam build needs it for the training image)",
    "gcloud": "the Google Cloud CLI: https://cloud.google.com/sdk/docs/install",
    "az": "the Azure CLI: https://learn.microsoft.com/cli/azure/install-azure-cli",
    "func": "Azure Functions Core Tools v4: npm install -g azure-functions-core-tools@4",
    "bash": "bash (apt-get install -y bash)",
}
LOCAL_TOOLS = {"serverless": ".tools/node_modules/.bin/serverless"}  # installed by the project
GCP_RUNTIME = "python311"
GCP_SOURCE = "functions/gcp/main.py"
GCP_WORKER_TIMEOUT_S = 540  # the most an event-driven gen2 function may run
AZURE_WORKER_TIMEOUT_S = 600  # host.json functionTimeout (the Consumption plan's most)


@dataclass(frozen=True)
class Step:
    argv: list[str]
    cwd: Path
    internal: bool = False  # runs `mlfn` itself: no external tool to check

    def shell(self, root: Path) -> str:
        line = shlex.join(self.argv)
        if self.cwd != root:
            line = f"(cd {shlex.quote(os.path.relpath(self.cwd, root))} && {line})"
        return line

    def to_dict(self, root: Path) -> dict[str, Any]:
        return {"argv": self.argv, "cwd": os.path.relpath(self.cwd, root)}


def _bucket(settings: Settings, scheme: str) -> str:
    match = re.fullmatch(rf"{scheme}://([^/]+)/?", settings.store_uri)
    if not match:
        raise ConfigError(
            f"environment '{settings.env}' stores in {settings.store_uri}; a deploy there needs "
            f"a whole {scheme}://NAME store (set promotion.{settings.env}.store)"
        )
    return match.group(1)


def _cloud_settings(settings: Settings, cloud: str) -> dict[str, Any]:
    return dict(getattr(settings.environment, cloud))


def _required(values: dict[str, Any], key: str, settings: Settings, cloud: str) -> str:
    value = values.get(key)
    if not value:
        raise ConfigError(
            f"{settings.config_path}: field 'promotion.{settings.env}.{cloud}.{key}' is needed "
            f"to deploy to {cloud}"
        )
    return str(value)


def _name(settings: Settings) -> str:
    return f"mlfn-{settings.config.model_name}-{settings.env}".replace("_", "-")


def _jwt() -> tuple[str, str]:
    issuer = os.environ.get(constants.ENV_JWT_ISSUER, constants.DEFAULT_JWT_ISSUER)
    audience = os.environ.get(constants.ENV_JWT_AUDIENCE, constants.DEFAULT_JWT_AUDIENCE)
    return issuer, audience


def _config_args(settings: Settings, root: Path) -> list[str]:
    path = settings.config_path.resolve()
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    return ["--config", str(shown), "--env", settings.env]


def _mlfn(*args: str, root: Path) -> Step:
    return Step(["mlfn", *args], root, internal=True)


def _auth_mode(aws: dict[str, Any]) -> str:
    """`idp`: the gateway's JWT authorizer and the functions check the IdP's tokens alike;
    `secret`: no gateway authorizer, the functions check HS256 tokens (the default)."""
    mode = str(aws.get("auth_mode", "idp" if aws.get("jwt_authorizer") else "secret"))
    if mode not in ("idp", "secret"):
        raise ValidationError(f"aws.auth_mode '{mode}' is not one of ['idp', 'secret']")
    return mode


def aws_steps(settings: Settings, root: Path, tool: str = "sam") -> list[Step]:
    aws = _cloud_settings(settings, "aws")
    bucket, name = _bucket(settings, "s3"), _name(settings)
    region = str(aws.get("region", "us-east-1"))
    memory = str(aws.get("memory_mb", 1024))
    issuer, audience = _jwt()
    mode, prefix = _auth_mode(aws), str(aws.get("jwt_scope_prefix", ""))
    package = _mlfn("package", "aws", *_config_args(settings, root), root=root)
    if tool == "serverless":
        params = {
            "bucket": bucket,
            "modelName": settings.config.model_name,
            "predictMemory": memory,
            "jwtIssuer": issuer,
            "jwtAudience": audience,
            "authMode": mode,
            "jwtScopePrefix": prefix,
            **aws_schedules(settings, "monitorSchedule", "retrainSchedule"),
        }
        deploy = ["serverless", "deploy", "--stage", settings.env, "--region", region]
        deploy += [f"--param={key}={value}" for key, value in params.items()]
        return [package, Step(deploy, root)]
    if tool != "sam":
        raise ValidationError(f"--tool '{tool}' is not one of ['sam', 'serverless']")
    overrides = {
        "Stage": settings.env,
        "ModelName": settings.config.model_name,
        "ArtifactBucketName": bucket,
        "PredictMemorySize": memory,
        "EnableJwtAuthorizer": "true" if mode == "idp" else "false",
        "JwtIssuer": issuer,
        "JwtAudience": audience,
        "JwtScopePrefix": prefix,
        **aws_schedules(settings, "MonitorSchedule", "RetrainSchedule"),
    }
    deploy = [
        "sam", "deploy", "--template-file", ".aws-sam/build/template.yaml",
        "--stack-name", name, "--region", region,
        "--capabilities", "CAPABILITY_IAM", "--resolve-s3", "--resolve-image-repos",
        "--no-fail-on-empty-changeset", "--parameter-overrides",
        *(f'{key}="{value}"' if " " in value or not value else f"{key}={value}"
          for key, value in overrides.items()),  # SAM splits at spaces, refuses bare empties
    ]  # fmt: skip
    return [package, Step(["sam", "build", "--template-file", "template.yaml"], root),
            Step(deploy, root)]  # fmt: skip


def aws_schedules(settings: Settings, monitor: str, retrain: str) -> dict[str, str]:
    """The config's schedules as EventBridge crons ("off" for one it does not set)."""
    from core.jobs.scheduled import OFF, config_schedules

    found = {s.name: s.cron.eventbridge() for s in config_schedules(settings.config)}
    return {monitor: found.get("monitor", OFF), retrain: found.get("retrain", OFF)}


def gcp_steps(settings: Settings, root: Path) -> list[Step]:
    gcp = _cloud_settings(settings, "gcp")
    project = _required(gcp, "project", settings, "gcp")
    _bucket(settings, "gs")  # fails early on a store gcloud cannot serve
    name = _name(settings)
    region = str(gcp.get("region", "us-central1"))
    account = str(gcp.get("service_account") or f"{name}@{project}.iam.gserviceaccount.com")
    topic = f"{name}-training"
    build = Path(".build") / "gcp"  # relative to the checkout, where the steps run
    env_file = build / f"env.{settings.env}.yaml"
    common = [
        "--gen2", f"--runtime={GCP_RUNTIME}", f"--region={region}", f"--project={project}",
        f"--service-account={account}", f"--env-vars-file={env_file}",
        f"--set-build-env-vars=GOOGLE_FUNCTION_SOURCE={GCP_SOURCE}",
        f"--set-secrets={constants.ENV_JWT_SECRET}={name}-jwt-secret:latest",
    ]  # fmt: skip
    gateway = gcp_gateway_on(gcp)
    # Behind the gateway the api function is private: only the gateway's account invokes it.
    access = "--no-allow-unauthenticated" if gateway else "--allow-unauthenticated"
    api = [
        "gcloud", "functions", "deploy", f"{name}-api", f"--source={build / 'api'}",
        "--entry-point=api", "--trigger-http", access,
        f"--memory={gcp.get('memory', '1Gi')}", "--timeout=60s", *common,
    ]  # fmt: skip
    worker = [
        "gcloud", "functions", "deploy", f"{name}-worker", f"--source={build / 'worker'}",
        "--entry-point=worker", f"--trigger-topic={topic}", "--no-allow-unauthenticated",
        f"--memory={gcp.get('worker_memory', '4Gi')}", "--cpu=2",
        f"--timeout={GCP_WORKER_TIMEOUT_S}s", "--retry", *common,
    ]  # fmt: skip
    stage = _mlfn("bundle", "gcp", *_config_args(settings, root), root=root)
    steps = [stage, Step(api, root), Step(worker, root),
             *_gcp_job_delivery(settings, name, project, region, topic, root),
             Step(gcp_alerts_argv(name, project), root)]  # fmt: skip
    if gateway:
        steps.append(Step(gcp_gateway_argv(name, project, region, account), root))
    return steps


def _gcp_job_delivery(
    settings: Settings, name: str, project: str, region: str, topic: str, root: Path
) -> list[Step]:
    """The worker subscription's retries and dead-letter topic, and the sweep's schedule
    rendered from its one declaration (infra/gcp/setup.sh created both)."""
    from core.jobs.schedules import SWEEP

    # Pub/Sub allows 5-100 deliveries; one more than the job's own attempts, so a message
    # that keeps failing before a job can claim it still ends in the dead-letter topic.
    deliveries = min(100, max(5, settings.config.training.max_attempts + 1))
    delivery = ["bash", "infra/gcp/worker-delivery.sh", name, project, region, str(deliveries)]
    schedule = [
        "gcloud", "scheduler", "jobs", "update", "pubsub", f"{name}-job-{SWEEP.name}",
        f"--project={project}", f"--location={region}", f"--schedule={SWEEP.cron()}",
        f"--topic={topic}", f"--message-body={SWEEP.message}",
    ]  # fmt: skip
    names = (name, project, region, topic)
    return [Step(delivery, root), Step(schedule, root),
            *gcp_schedule_steps(settings, names, root)]  # fmt: skip


def azure_steps(settings: Settings, root: Path) -> list[Step]:
    azure = _cloud_settings(settings, "azure")
    container, name = _bucket(settings, "az"), _name(settings)
    app = str(azure.get("function_app", name))
    group = str(azure.get("resource_group", name))
    issuer, audience = _jwt()
    settings_argv = [
        "az", "functionapp", "config", "appsettings", "set", "--name", app,
        "--resource-group", group, "--settings",
        f"{constants.ENV_ENV}={settings.env}", f"{constants.ENV_STORE}=az://{container}",
        f"{constants.ENV_TRACKING}=off", f"{constants.ENV_JWT_ISSUER}={issuer}",
        f"{constants.ENV_JWT_AUDIENCE}={audience}", "MLFN_AZURE_QUEUE=mlfn-training",
        "MLFN_PREDICTION_LOG=on", f"MLFN_WORKER_TIMEOUT_SECONDS={AZURE_WORKER_TIMEOUT_S}",
    ]  # fmt: skip
    publish = ["func", "azure", "functionapp", "publish", app, "--python"]
    stage = _mlfn("bundle", "azure", *_config_args(settings, root), root=root)
    gateway = azure_gateway_argv(app, group, azure)
    if gateway is not None:  # the app then answers only calls bearing its function key
        settings_argv.append("MLFN_AZURE_AUTH_LEVEL=function")
        if azure.get("trust_gateway"):  # the claims APIM validated, with its secret key
            settings_argv.append("MLFN_TRUST_GATEWAY=azure")
    settings_argv += azure_schedule_settings(settings)
    steps = [stage, Step(settings_argv, root), Step(publish, root / ".build" / "azure"),
             Step(azure_alerts_argv(app, group, azure), root)]  # fmt: skip
    return steps if gateway is None else [*steps, Step(gateway, root)]


AZURE_IDLE_SCHEDULE = {"monitor": "0 0 * * * *", "retrain": "0 0 3 * * *"}


def azure_schedule_settings(settings: Settings) -> list[str]:
    """The timers' NCRONTAB app settings; a schedule the config does not set is disabled."""
    from core.jobs.scheduled import config_schedules

    found = {s.name: s.cron.ncrontab() for s in config_schedules(settings.config)}
    values = []
    for name, idle in AZURE_IDLE_SCHEDULE.items():
        values.append(f"MLFN_{name.upper()}_SCHEDULE={found.get(name, idle)}")
        values.append(f"AzureWebJobs.{name}.Disabled={'false' if name in found else 'true'}")
    return values


def gcp_schedule_steps(settings: Settings, names: tuple[str, str, str, str], root: Path
                       ) -> list[Step]:  # fmt: skip
    """Cloud Scheduler jobs publishing the config's schedules to the worker's topic
    (created or updated; deleted when the config no longer sets one)."""
    from core.jobs.scheduled import config_schedules

    name, project, region, topic = names
    found = {s.name: s for s in config_schedules(settings.config)}
    steps = []
    for schedule in ("monitor", "retrain"):
        cron = found[schedule].cron.text if schedule in found else "off"
        message = f'{{"action": "{schedule}"}}'
        steps.append(Step(["bash", "infra/gcp/schedule.sh", f"{name}-{schedule}", project,
                           region, topic, cron, message], root))  # fmt: skip
    return steps


def steps_for(cloud: str, settings: Settings, root: Path, tool: str = "sam") -> list[Step]:
    builders: dict[str, Callable[[], list[Step]]] = {
        "aws": lambda: aws_steps(settings, root, tool),
        "gcp": lambda: gcp_steps(settings, root),
        "azure": lambda: azure_steps(settings, root),
    }
    if cloud not in builders:
        raise ValidationError(f"cloud '{cloud}' is not one of {sorted(builders)}")
    return builders[cloud]()


def gcp_variables(settings: Settings) -> dict[str, str]:
    """The functions' environment (gcloud's --env-vars-file); the JWT secret is a secret."""
    project = _required(_cloud_settings(settings, "gcp"), "project", settings, "gcp")
    issuer, audience = _jwt()
    return {
        constants.ENV_ENV: settings.env,
        constants.ENV_STORE: f"gs://{_bucket(settings, 'gs')}",
        constants.ENV_TRACKING: "off",
        constants.ENV_JWT_ISSUER: issuer,
        constants.ENV_JWT_AUDIENCE: audience,
        "MLFN_PUBSUB_TOPIC": f"projects/{project}/topics/{_name(settings)}-training",
        "MLFN_PREDICTION_LOG": "on",
        "MLFN_WORKER_TIMEOUT_SECONDS": str(GCP_WORKER_TIMEOUT_S),  # the worker's --timeout
        # Behind Google API Gateway the caller's token arrives in X-Forwarded-Authorization.
        **({"MLFN_GATEWAY": "google"} if gcp_gateway_on(_cloud_settings(settings, "gcp")) else {}),
        **_gcp_trust(settings),
    }


def _gcp_trust(settings: Settings) -> dict[str, str]:
    """gcp.trust_gateway: the functions take the claims API Gateway validated, from requests
    bearing the gateway's own ID token (its service account, for the api function's URL)."""
    gcp = _cloud_settings(settings, "gcp")
    if not (gcp_gateway_on(gcp) and gcp.get("trust_gateway")):
        return {}
    name, project = _name(settings), _required(gcp, "project", settings, "gcp")
    region = str(gcp.get("region", "us-central1"))
    account = str(gcp.get("service_account") or f"{name}@{project}.iam.gserviceaccount.com")
    return {
        "MLFN_TRUST_GATEWAY": "google",
        "MLFN_GATEWAY_ACCOUNT": account,
        "MLFN_GATEWAY_AUDIENCE": f"https://{region}-{project}.cloudfunctions.net/{name}-api",
    }


def prepare_bundles(cloud: str, settings: Settings, root: Path) -> list[Path]:
    """What `mlfn bundle` lays out in .build/: the folders gcloud and func upload."""
    build = root / ".build" / cloud
    if cloud == "gcp":
        folders = [
            stage_bundle("gcp", root, build / "api"),
            stage_bundle("gcp", root, build / "worker", with_training=True),
        ]
        for folder in folders:
            install_config(folder, settings.config_path)
        lines = (f"{key}: {json.dumps(value)}\n" for key, value in gcp_variables(settings).items())
        (build / f"env.{settings.env}.yaml").write_text("".join(lines), encoding="utf-8")
        gcp = _cloud_settings(settings, "gcp")
        if gcp_gateway_on(gcp):
            project = _required(gcp, "project", settings, "gcp")
            region = str(gcp.get("region", "us-central1"))
            write_gcp_gateway(build, _name(settings), project, region, gcp)
        write_gcp_alerts(root, _name(settings), gcp)
        return folders
    if cloud == "azure":
        folder = stage_bundle("azure", root, build, with_training=True)
        install_config(folder, settings.config_path)
        azure = _cloud_settings(settings, "azure")
        app = str(azure.get("function_app", _name(settings)))
        write_azure_gateway(root, app, azure)
        write_azure_alerts(root, app)
        return [folder]
    raise ValidationError(f"`mlfn bundle` lays out 'gcp' or 'azure', not '{cloud}'")


def resolve_tool(name: str, root: Path) -> str:
    """The tool on PATH, beside this Python (the venv's `sam`, not activated), or in the
    project's `.tools/`."""
    import sys

    local = root / LOCAL_TOOLS.get(name, "-")
    beside = Path(sys.executable).parent / name
    found = (
        shutil.which(name)
        or (str(beside) if beside.is_file() else None)
        or (str(local) if local.is_file() else None)
    )
    if found is None:
        raise MissingToolError(f"'{name}' is not installed; install {INSTALL_HINTS[name]}")
    return found


def run_steps(steps: list[Step], root: Path) -> None:
    """Check every tool first, then run the steps in order; stop at the first failure."""
    tools = {step.argv[0] for step in steps if not step.internal}
    if any(step.argv[:2] == ["sam", "build"] for step in steps):
        tools.add("docker")
    paths = {tool: resolve_tool(tool, root) for tool in sorted(tools)}
    for number, step in enumerate(steps, start=1):
        argv = (
            [sys.executable, "-m", "core.cli", *step.argv[1:]]
            if step.internal
            else [paths[step.argv[0]], *step.argv[1:]]
        )
        print(f"[{number}/{len(steps)}] $ {step.shell(root)}", file=sys.stderr, flush=True)
        result = subprocess.run(argv, cwd=step.cwd, check=False)  # noqa: S603
        if result.returncode != 0:
            raise DeployError(f"'{step.argv[0]}' failed (exit {result.returncode}); stopped there")


__all__ = ["Step", "prepare_bundles", "run_steps", "steps_for"]
