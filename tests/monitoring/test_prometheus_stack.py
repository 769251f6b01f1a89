"""The real stack: Prometheus scrapes `mlfn serve` with mlfn's alert rules, Alertmanager
receives the alerts. Counts read back through Prometheus's HTTP API match the traffic sent;
errors make the alerts go pending, then firing, and reach Alertmanager."""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.monitoring.alerts import Thresholds, prometheus_rules
from core.monitoring.stack import Stack, alertmanager_config, prometheus_config
from tests.conftest import project_settings
from tests.integration.emulators import free_port, unavailable
from tests.jobs_helpers import wait_until
from tests.unit.test_api import ROW, SECRET, token

REPO = Path(__file__).resolve().parents[2]
OTHER = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
FAST = Thresholds(window="10s", hold="2s", job_window="1m")


def need(binary: str) -> None:
    """A tool from Debian that `make setup` installs: a failure in CI, a skip elsewhere."""
    if shutil.which(binary) is None:
        unavailable(f"{binary} is not installed (make setup installs it from Debian)")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {**headers, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def query(prometheus: str, promql: str) -> float | None:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    result = get_json(url)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def serve_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MLFN_JWT_SECRET": SECRET,
            "MLFN_TRACKING": "off", "MLFN_CHAMPION_TTL": "1", "PYTHONPATH": str(REPO),
            "HOME": os.environ.get("HOME", "/tmp")}  # fmt: skip


@pytest.fixture
def stack() -> Iterator[Stack]:
    need("prometheus")
    need("prometheus-alertmanager")
    running = Stack()
    yield running
    running.stop()


def test_prometheus_reads_the_traffic_and_the_alerts_fire(tmp_path: Path, stack: Stack) -> None:
    settings, _ = project_settings(tmp_path)  # no champion yet: /predict answers 503
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [sys.executable, "-m", "core.cli", "serve", "--config", str(settings.config_path)]
    stack.start([*serve, "--port", str(port)], f"{base}/health", "serve", 60, serve_env())
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump(prometheus_rules(FAST)), encoding="utf-8")
    manager_port = free_port()
    alertmanager = stack.alertmanager(manager_port, alertmanager_config())
    config = prometheus_config(
        [f"127.0.0.1:{port}"], [str(rules)], f"127.0.0.1:{manager_port}", "1s"
    )
    prometheus = stack.prometheus(free_port(), config)

    failed = [0]  # errors go on while Prometheus watches (a rate needs two scrapes)
    seen: dict[str, set[str]] = {}

    def firing() -> bool:
        for _ in range(3):
            assert post(f"{base}/predict", {"instances": [ROW]}, token("predict")) == 503
            failed[0] += 1
        for alert in get_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]:
            seen.setdefault(alert["labels"]["alertname"], set()).add(alert["state"])
        wanted = ("MlfnNoChampion", "MlfnHighErrorRatio")
        return all("firing" in seen.get(name, ()) for name in wanted)

    wait_until(firing, seconds=90, what="the alerts firing")
    bad = 'sum(mlfn_requests_total{route="/predict",status="503",code="model_unavailable"})'
    wait_until(lambda: query(prometheus, bad) == failed[0], seconds=30, what="the 503s counted")
    assert "pending" in seen["MlfnHighErrorRatio"] or "pending" in seen["MlfnNoChampion"]
    assert "MlfnTargetDown" not in seen and "MlfnQueueBacklog" not in seen

    def in_alertmanager() -> bool:
        names = {a["labels"]["alertname"] for a in get_json(f"{alertmanager}/api/v2/alerts")}
        return {"MlfnNoChampion", "MlfnHighErrorRatio"} <= names

    wait_until(in_alertmanager, seconds=60, what="the alerts in Alertmanager")

    assert post(f"{base}/train", {}, token("train")) == 202  # the server's own worker trains
    wait_until(lambda: _get(f"{base}/ready") == 200, seconds=120, what="the champion loaded")
    for rows in ([ROW], [ROW, OTHER], [OTHER]) * 6 + ([ROW],):
        assert post(f"{base}/predict", {"instances": rows}, token("predict")) == 200
    for _ in range(2):  # a client's mistake: 4xx, counted by its code
        assert post(f"{base}/predict", {"instances": [{"x": 1}]}, token("predict")) == 422
    ok = 'sum(mlfn_requests_total{route="/predict",status="200"})'
    wait_until(lambda: query(prometheus, ok) == 19, seconds=30, what="19 answers counted")
    assert query(prometheus, "sum(mlfn_predicted_rows_total)") == 6 * 4 + 1
    assert query(prometheus, "sum(mlfn_prediction_confidence_count)") == 25
    assert query(prometheus, 'max(mlfn_champion_version{model="iris"})') == 1
    done = 'sum(mlfn_jobs_total{kind="train",status="succeeded"})'
    wait_until(lambda: query(prometheus, done) == 1, seconds=30, what="the job counted")
    assert query(prometheus, 'sum(mlfn_job_step_seconds_count{step="fit"})') == 1
    gone = 'count(ALERTS{alertname="MlfnNoChampion",alertstate="firing"})'
    wait_until(lambda: query(prometheus, gone) is None, seconds=30, what="NoChampion resolved")
    every_dashboard_query_answers(prometheus)


def empty_panels(prometheus: str) -> list[tuple[str, str]]:
    """The dashboard queries that return no series over the last two minutes (an invalid
    query fails the test at once)."""
    import time

    from core.monitoring.dashboard import ROWS

    now, empty = time.time(), []
    for _, panels in ROWS:
        for panel in panels:
            for expr, _ in panel.queries:
                promql = expr.replace("$__rate_interval", "30s")
                params = {"query": promql, "start": now - 120, "end": now, "step": "2"}
                url = f"{prometheus}/api/v1/query_range?" + urllib.parse.urlencode(params)
                answer = get_json(url)
                assert answer["status"] == "success", (panel.title, answer)
                if not answer["data"]["result"]:
                    empty.append((panel.title, promql))
    return empty


def every_dashboard_query_answers(prometheus: str) -> None:
    """Each panel's PromQL is valid against the real metrics and has data (a rate needs
    two scrapes of a series, hence the wait)."""
    found: list[list[tuple[str, str]]] = []

    def none_empty() -> bool:
        found.append(empty_panels(prometheus))
        return not found[-1]

    try:
        wait_until(none_empty, seconds=30, what="data in every panel")
    except AssertionError:
        raise AssertionError(f"panels without data: {found[-1]}") from None


def test_several_worker_processes_count_as_one(tmp_path: Path) -> None:
    from core.training.run import train

    settings, store = project_settings(tmp_path)
    train(settings, store)
    stack = Stack()
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = [sys.executable, "-m", "core.cli", "serve", "--config", str(settings.config_path)]
        command = [*serve, "--port", str(port), "--workers", "2"]
        stack.start(command, f"{base}/health", "serve", 60, serve_env())
        for _ in range(40):
            assert post(f"{base}/predict", {"instances": [ROW]}, token("predict")) == 200

        def predicted_rows() -> float:
            with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:
                text = answer.read().decode()
            line = next(x for x in text.splitlines() if x.startswith("mlfn_predicted_rows_total"))
            return float(line.rsplit(" ", 1)[1])

        # events are recorded just after each answer: wait for the last one, then every
        # scrape, whichever worker answers it, counts all of them
        wait_until(lambda: predicted_rows() == 40.0, seconds=10, what="40 predicted rows")
        assert {predicted_rows() for _ in range(6)} == {40.0}
    finally:
        stack.stop()
