"""`mlfn deploy gcp --dry-run`: the gcloud command lines, field by field, the env-vars file
and the bundles they upload; when gcloud is installed, it parses every line too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.jobs.schedules import SWEEP
from tests.manifests.conftest import REPO


@pytest.fixture
def gcp_config(tmp_path: Path) -> Path:
    data = json.loads((REPO / "config" / "config.json").read_text())
    data["promotion"]["qa"] = {"store": "gs://mlfn-iris-qa",
                               "gcp": {"project": "acme-ml", "region": "europe-west1"}}  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    (tmp_path / "project_parser_config.json").write_text("{}")
    return path


def _flags(argv: list[str]) -> dict[str, str | bool]:
    flags: dict[str, str | bool] = {}
    for arg in argv:
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            flags[key] = value or True
    return flags


def _dry_run(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(["deploy", "gcp", "--env", "qa", "--config", str(config), "--dry-run",
                 "--json"]) == 0  # fmt: skip
    return json.loads(capsys.readouterr().out)


def _gcloud_parses(config: Path, steps: list[dict[str, Any]], tmp_path: Path) -> None:
    """Where gcloud is installed (it is not on every machine, nor installable from the
    registries here), it parses each line: with no account it stops at credentials (exit 1),
    which comes after the flags parsed; a bad flag exits 2 before that. As in a real deploy,
    the bundle step runs first: gcloud reads the env-vars file it writes."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return
    shutil.rmtree(REPO / ".build" / "gcp", ignore_errors=True)
    assert main(["bundle", "gcp", "--env", "qa", "--config", str(config)]) == 0
    env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
           "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "GCE_METADATA_HOST": "127.0.0.1:9",
           "GCE_METADATA_IP": "127.0.0.1:9"}  # fmt: skip
    for step in steps:
        result = subprocess.run([gcloud, *step["argv"][1:]], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 1, result.stderr[-1500:]
        assert "account" in result.stderr.lower()
    bad = subprocess.run([gcloud, "functions", "deploy", "x", "--no-such-flag"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2


def test_gcloud_lines_field_by_field(
    gcp_config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bundle, api, worker, delivery, schedule, monitor, retrain, alerts, gateway = _dry_run(
        gcp_config, capsys
    )
    # config/config.json monitors hourly and sets no retraining schedule
    for job, action, cron in ((monitor, "monitor", "0 * * * *"), (retrain, "retrain", "off")):
        assert job["argv"] == ["bash", "infra/gcp/schedule.sh", f"mlfn-iris-qa-{action}",
                               "acme-ml", "europe-west1", "mlfn-iris-qa-training", cron,
                               f'{{"action": "{action}"}}']  # fmt: skip
    assert alerts["argv"] == ["bash", "infra/gcp/alerts.sh", "mlfn-iris-qa", "acme-ml",
                              ".build/gcp-alerts"]  # fmt: skip
    assert bundle["argv"][:3] == ["mlfn", "bundle", "gcp"]
    assert api["argv"][:4] == [*worker["argv"][:3], "mlfn-iris-qa-api"]
    common = {
        "gen2": True, "runtime": "python311", "region": "europe-west1", "project": "acme-ml",
        "service-account": "mlfn-iris-qa@acme-ml.iam.gserviceaccount.com",
        "env-vars-file": ".build/gcp/env.qa.yaml",
        "set-build-env-vars": "GOOGLE_FUNCTION_SOURCE=functions/gcp/main.py",
        "set-secrets": "MLFN_JWT_SECRET=mlfn-iris-qa-jwt-secret:latest",
    }  # fmt: skip
    assert _flags(api["argv"]) == {
        **common, "source": ".build/gcp/api", "entry-point": "api", "trigger-http": True,
        "no-allow-unauthenticated": True, "memory": "1Gi", "timeout": "60s"}  # fmt: skip
    assert gateway["argv"][:2] == ["bash", "infra/gcp/gateway.sh"]  # the API Gateway in front
    assert worker["argv"][3] == "mlfn-iris-qa-worker"
    assert _flags(worker["argv"]) == {
        **common, "source": ".build/gcp/worker", "entry-point": "worker",
        "trigger-topic": "mlfn-iris-qa-training", "no-allow-unauthenticated": True,
        "memory": "4Gi", "cpu": "2", "timeout": "540s", "retry": True}  # fmt: skip
    assert delivery["argv"] == ["bash", "infra/gcp/worker-delivery.sh", "mlfn-iris-qa",
                                "acme-ml", "europe-west1", "5"]  # fmt: skip
    assert schedule["argv"][:6] == ["gcloud", "scheduler", "jobs", "update", "pubsub",
                                    "mlfn-iris-qa-job-sweep"]  # fmt: skip
    assert _flags(schedule["argv"]) == {
        "project": "acme-ml", "location": "europe-west1", "schedule": SWEEP.cron(),
        "topic": "mlfn-iris-qa-training", "message-body": SWEEP.message}  # fmt: skip
    _gcloud_parses(gcp_config, [api, worker, schedule], tmp_path)
    import functions.gcp.main as entry

    assert callable(entry.api) and callable(entry.worker)  # the two entry points exist
    assert Path(REPO, common["set-build-env-vars"].split("=")[1]).is_file()


def test_setup_declares_the_dead_letter_topic_and_the_sweep_schedule() -> None:
    """setup.sh creates what the deploy steps then keep in step with core/jobs/schedules.py."""
    for script in ("setup.sh", "worker-delivery.sh"):
        checked = subprocess.run(["bash", "-n", str(REPO / "infra" / "gcp" / script)],
                                 capture_output=True, text=True)  # fmt: skip
        assert checked.returncode == 0, checked.stderr
    setup = (REPO / "infra" / "gcp" / "setup.sh").read_text()
    assert 'topics create "${NAME}-training-dead-letter"' in setup
    assert f'--schedule "{SWEEP.cron()}"' in setup and f"--message-body '{SWEEP.message}'" in setup
    delivery = (REPO / "infra" / "gcp" / "worker-delivery.sh").read_text()
    assert "--dead-letter-topic" in delivery and "--max-delivery-attempts" in delivery


def test_bundles_and_env_file(gcp_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundle", "gcp", "--env", "qa", "--config", str(gcp_config)]) == 0
    build = REPO / ".build" / "gcp"
    variables = dict(line.split(": ", 1) for line in
                     (build / "env.qa.yaml").read_text().splitlines())  # fmt: skip
    assert {k: json.loads(v) for k, v in variables.items()} == {
        "MLFN_ENV": "qa", "MLFN_STORE": "gs://mlfn-iris-qa", "MLFN_TRACKING": "off",
        "MLFN_JWT_ISSUER": "mlfn", "MLFN_JWT_AUDIENCE": "mlfn-api",
        "MLFN_PUBSUB_TOPIC": "projects/acme-ml/topics/mlfn-iris-qa-training",
        "MLFN_PREDICTION_LOG": "on", "MLFN_WORKER_TIMEOUT_SECONDS": "540",
        "MLFN_GATEWAY": "google"}  # fmt: skip
    api_requirements = (build / "api" / "requirements.txt").read_text()
    worker_requirements = (build / "worker" / "requirements.txt").read_text()
    assert "functions-framework" in api_requirements and "torch" not in api_requirements
    assert "torch==2.13.0" in worker_requirements and "google-cloud-pubsub" in worker_requirements
    for folder in ("api", "worker"):
        assert (build / folder / "functions" / "gcp" / "main.py").is_file()


def test_missing_project_and_unusable_store_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = REPO / "config" / "config.json"  # dev: no gcp.project, a file:// store
    assert main(["deploy", "gcp", "--env", "dev", "--config", str(config), "--dry-run"]) == 2
    assert "field 'promotion.dev.gcp.project' is needed" in capsys.readouterr().err
    data = json.loads(config.read_text())
    data["promotion"]["dev"]["gcp"] = {"project": "acme-ml"}
    (tmp_path / "config.json").write_text(json.dumps(data))
    args = ["deploy", "gcp", "--env", "dev", "--config", str(tmp_path / "config.json")]
    assert main([*args, "--dry-run"]) == 2
    stored = (tmp_path / "../.mlfn/dev").resolve()  # relative to the config's folder
    assert f"file://{stored}; a deploy there needs a whole gs://NAME store" in (
        capsys.readouterr().err
    )
