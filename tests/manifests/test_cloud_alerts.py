"""Cloud Monitoring alert policies and Azure Monitor metric alerts: rendered by `mlfn bundle`
from the thresholds the Prometheus rules use, created by the steps `mlfn deploy --dry-run`
shows, and the scripts run against stand-in gcloud/az that record what they are asked."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.cli import main
from core.monitoring.alerts import DEFAULT
from tests.manifests.conftest import REPO
from tests.monitoring.test_prometheus_stack import need

CLOUDS = REPO / "examples" / "clouds"


def _dry_run(cloud: str, capsys: pytest.CaptureFixture[str]) -> list[list[str]]:
    config = CLOUDS / cloud / "config.json"
    assert main(["deploy", cloud, "--env", "staging", "--config", str(config), "--dry-run",
                 "--json"]) == 0  # fmt: skip
    return [step["argv"] for step in json.loads(capsys.readouterr().out)]


def _bundle(cloud: str) -> None:
    config = CLOUDS / cloud / "config.json"
    assert main(["bundle", cloud, "--env", "staging", "--config", str(config)]) == 0


def _stand_in(folder: Path, tool: str, script: str) -> Path:
    """An executable `tool` on PATH that records its argv (one JSON line per call)."""
    path = folder / tool
    record = "python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' \"$@\""
    path.write_text(f"#!/usr/bin/env bash\n{record} >> {folder}/{tool}.log\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return folder / f"{tool}.log"


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_gcp_policies_are_promql_over_the_functions_metrics(tmp_path: Path) -> None:
    _bundle("gcp")
    folder = REPO / ".build" / "gcp-alerts"
    policies = {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    assert set(policies) == {"error-ratio.json", "latency-p99.json", "worker-errors.json",
                             "dead-letters.json"}  # fmt: skip
    for policy in policies.values():
        (condition,) = policy["conditions"]
        assert policy["displayName"].startswith("mlfn-iris-staging: ")
        assert set(condition["conditionPrometheusQueryLanguage"]) == {
            "query", "duration", "evaluationInterval"}  # fmt: skip
    ratio = policies["error-ratio.json"]["conditions"][0]["conditionPrometheusQueryLanguage"]
    assert ratio["query"].endswith(f"> {DEFAULT.error_ratio}") and ratio["duration"] == "300s"
    assert 'service_name="mlfn-iris-staging-api"' in ratio["query"]
    dead = policies["dead-letters.json"]["conditions"][0]["conditionPrometheusQueryLanguage"]
    assert 'subscription_id="mlfn-iris-staging-training-dead-letter"' in dead["query"]
    need("promtool")  # every query is PromQL Prometheus itself parses
    queries = {name.split(".")[0]: _query(policy) for name, policy in policies.items()}
    rules = {"groups": [{"name": "gcp", "rules": [
        {"alert": alert, "expr": expr} for alert, expr in queries.items()]}]}  # fmt: skip
    (tmp_path / "gcp.yml").write_text(yaml.safe_dump(rules))
    checked = subprocess.run(["promtool", "check", "rules", str(tmp_path / "gcp.yml")],
                             capture_output=True, text=True)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _query(policy: dict[str, Any]) -> str:
    return str(policy["conditions"][0]["conditionPrometheusQueryLanguage"]["query"])


def test_deploy_gcp_creates_or_updates_each_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = _dry_run("gcp", capsys)
    alerts = next(argv for argv in steps if argv[:2] == ["bash", "infra/gcp/alerts.sh"])
    assert alerts[2] == "mlfn-iris-staging" and alerts[4] == ".build/gcp-alerts"
    _bundle("gcp")
    existing = "projects/p/alertPolicies/123"
    log = _stand_in(tmp_path, "gcloud", f"""case "$*" in
  *"policies list"*"5xx ratio"*) echo {existing} ;;
esac""")  # fmt: skip
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(alerts, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = [c for c in _calls(log) if c[3] in {"create", "update"}]
    assert sorted(c[3] for c in calls) == ["create", "create", "create", "update"]
    update = next(c for c in calls if c[3] == "update")
    assert update[4] == existing and update[6].endswith("error-ratio.json")


def test_azure_metric_alerts_are_created_by_the_deploy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = _dry_run("azure", capsys)
    alerts = next(argv for argv in steps if argv[:2] == ["bash", "infra/azure/alerts.sh"])
    assert alerts[2:5] == ["mlfn-iris-staging", "mlfn-iris-staging",
                           ".build/azure-alerts/alerts.tsv"]  # fmt: skip
    _bundle("azure")
    rows = (REPO / ".build" / "azure-alerts" / "alerts.tsv").read_text().splitlines()
    assert [row.split("\t")[4] for row in rows] == [
        "total Http5xx > 5", f"avg HttpResponseTime > {DEFAULT.p99_seconds}",
        "count requests/failed > 0"]  # fmt: skip
    log = _stand_in(tmp_path, "az", 'echo "/subscriptions/s/resourceGroups/g/providers/x/$2"')
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    argv = [
        *alerts[:5],
        "/subscriptions/s/resourceGroups/g/providers/microsoft.insights/actionGroups/oncall",
        "",
    ]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    created = [c for c in _calls(log) if c[:4] == ["monitor", "metrics", "alert", "create"]]
    assert len(created) == 2  # the Application Insights one waits for azure.app_insights
    assert "skipped mlfn-iris-staging-failed-executions" in done.stdout
    flags: dict[str, Any] = dict(zip(created[0][4::2], created[0][5::2], strict=False))
    assert flags["--condition"] == "total Http5xx > 5" and flags["--window-size"] == "5m"
    assert flags["--action"].endswith("/actionGroups/oncall")
    assert flags["--scopes"].startswith("/subscriptions/")
