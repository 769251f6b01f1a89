"""`mlfn deploy aws`: the sam and serverless lines from the config's environment, missing
tools named with how to install them, and steps that stop at the first failure."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from core.cli import main
from core.config import load_settings
from core.deploy.commands import Step, run_steps, steps_for
from core.errors import DeployError, MissingToolError

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "config.json"  # staging: s3://mlfn-iris-staging, us-east-1, 1024 MB


def _overrides(argv: list[str]) -> dict[str, str]:
    """The overrides as `sam deploy` itself parses them."""
    from samcli.cli.types import CfnParameterOverridesType

    start = argv.index("--parameter-overrides") + 1
    return dict(CfnParameterOverridesType().convert(tuple(argv[start:]), None, None))


def test_sam_lines_are_filled_from_the_environment() -> None:
    package, build, deploy = steps_for("aws", load_settings(CONFIG, env="staging"), REPO)
    assert package.argv == ["mlfn", "package", "aws", "--config", "config/config.json",
                            "--env", "staging"] and package.internal  # fmt: skip
    assert build.argv == ["sam", "build", "--template-file", "template.yaml"]
    argv = deploy.argv
    assert argv[:2] == ["sam", "deploy"]
    assert argv[argv.index("--stack-name") + 1] == "mlfn-iris-staging"
    assert argv[argv.index("--region") + 1] == "us-east-1"
    assert {"--resolve-s3", "--resolve-image-repos"} <= set(argv)
    assert argv[argv.index("--capabilities") + 1] == "CAPABILITY_IAM"
    assert _overrides(argv) == {
        "Stage": "staging", "ModelName": "iris", "ArtifactBucketName": "mlfn-iris-staging",
        "PredictMemorySize": "1024", "EnableJwtAuthorizer": "false", "JwtIssuer": "mlfn",
        "JwtAudience": "mlfn-api", "JwtScopePrefix": "",
        "MonitorSchedule": "cron(0 * * * ? *)", "RetrainSchedule": "off"}  # fmt: skip


def test_every_override_is_a_template_parameter() -> None:
    from tests.manifests.conftest import sam_template

    parameters = sam_template(REPO / "template.yaml")["Parameters"]
    _, _, deploy = steps_for("aws", load_settings(CONFIG, env="prod"), REPO)
    assert set(_overrides(deploy.argv)) <= set(parameters)


def test_serverless_line_passes_the_params_serverless_yml_needs() -> None:
    _, deploy = steps_for("aws", load_settings(CONFIG, env="prod"), REPO, tool="serverless")
    assert deploy.argv[:4] == ["serverless", "deploy", "--stage", "prod"]
    params = dict(a.removeprefix("--param=").split("=", 1) for a in deploy.argv
                  if a.startswith("--param="))  # fmt: skip
    assert params["bucket"] == "mlfn-iris-prod"
    text = (REPO / "serverless.yml").read_text()
    assert all(f"${{param:{name}" in text for name in params)


def test_dry_run_prints_and_runs_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no tool at all: a real run would stop at once
    assert main(["deploy", "aws", "--env", "staging", "--config", str(CONFIG), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("mlfn package aws --config") and lines[1].startswith("sam build")


def test_a_missing_tool_is_named_with_its_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))  # no venv beside it
    steps = steps_for("aws", load_settings(CONFIG, env="staging"), REPO)
    with pytest.raises(MissingToolError, match=r"'docker' is not installed; install Docker"):
        run_steps(steps, tmp_path)
    with pytest.raises(MissingToolError, match="pip install aws-sam-cli"):
        run_steps(steps[2:], tmp_path)


def test_a_tool_beside_the_interpreter_is_found_without_activating_the_venv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from core.deploy.commands import resolve_tool

    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    _tool(venv_bin, "sam", 0)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("sys.executable", str(venv_bin / "python"))
    assert resolve_tool("sam", tmp_path) == str(venv_bin / "sam")


def _tool(directory: Path, name: str, exit_code: int) -> None:
    script = directory / name
    log = directory / "calls.log"
    script.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\nexit {exit_code}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_steps_run_in_order_and_stop_at_the_first_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tool(tmp_path, "gcloud", 0)
    _tool(tmp_path, "az", 3)
    _tool(tmp_path, "func", 0)
    monkeypatch.setenv("PATH", str(tmp_path))
    steps = [Step(["gcloud", "one"], tmp_path), Step(["az", "two"], tmp_path),
             Step(["func", "three"], tmp_path)]  # fmt: skip
    with pytest.raises(DeployError, match=r"'az' failed \(exit 3\); stopped there"):
        run_steps(steps, tmp_path)
    assert (tmp_path / "calls.log").read_text().splitlines() == ["gcloud one", "az two"]
    shown = capsys.readouterr().err.splitlines()  # each step announced with its place
    assert shown == ["[1/3] $ gcloud one", "[2/3] $ az two"]


def test_azure_lines(tmp_path: Path) -> None:
    data = json.loads(CONFIG.read_text())
    data["promotion"]["prod"]["store"] = "az://mlfn-iris-prod"
    data["promotion"]["prod"]["azure"] = {"function_app": "acme-mlfn", "resource_group": "ml"}
    (tmp_path / "config.json").write_text(json.dumps(data))
    bundle, settings_step, publish, alerts = steps_for(
        "azure", load_settings(tmp_path / "config.json", env="prod"), REPO
    )
    assert bundle.argv[:3] == ["mlfn", "bundle", "azure"]
    argv = settings_step.argv
    assert argv[:5] == ["az", "functionapp", "config", "appsettings", "set"]
    assert argv[argv.index("--name") + 1] == "acme-mlfn"
    assert argv[argv.index("--resource-group") + 1] == "ml"
    values = dict(a.split("=", 1) for a in argv[argv.index("--settings") + 1 :])
    assert values["MLFN_STORE"] == "az://mlfn-iris-prod" and values["MLFN_ENV"] == "prod"
    assert "MLFN_JWT_SECRET" not in values  # a Key Vault reference, set once by setup.sh
    assert publish.argv == ["func", "azure", "functionapp", "publish", "acme-mlfn", "--python"]
    assert publish.cwd == REPO / ".build" / "azure"
    assert alerts.argv[:5] == ["bash", "infra/azure/alerts.sh", "acme-mlfn", "ml",
                               ".build/azure-alerts/alerts.tsv"]  # fmt: skip
