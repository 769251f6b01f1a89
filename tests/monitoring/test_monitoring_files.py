"""The monitoring files as code: generated from core/monitoring and current, the alert rules
valid and unit-tested with promtool, Alertmanager's config valid, the dashboard parsed back
with the Grafana SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.monitoring.alerts import Thresholds, prometheus_rules
from core.monitoring.dashboard import ROWS, UID
from core.monitoring.stack import alertmanager_config
from tests.monitoring.test_prometheus_stack import need

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "infra" / "monitoring" / "prometheus"


def run(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_checked_in_files_are_what_the_code_generates() -> None:
    done = run(sys.executable, "infra/monitoring/generate.py", "--check")
    assert done.returncode == 0, done.stderr


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    need("promtool")
    checked = run("promtool", "check", "rules", "alerts.yml", cwd=PROMETHEUS_DIR)
    assert checked.returncode == 0 and "SUCCESS: 7 rules found" in checked.stdout, checked.stdout
    tested = run("promtool", "test", "rules", "alerts_test.yml", cwd=PROMETHEUS_DIR)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


@pytest.mark.parametrize(
    ("change", "alert"),
    [({"error_ratio": 0.5}, "MlfnHighErrorRatio"), ({"p99_seconds": 2.0}, "MlfnHighLatencyP99"),
     ({"queue_depth": 50}, "MlfnQueueBacklog")],
)  # fmt: skip
def test_the_rule_tests_catch_a_wrong_threshold(tmp_path: Path, change: dict, alert: str) -> None:
    """The unit tests have teeth: with a looser threshold the same series fire nothing."""
    need("promtool")
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(prometheus_rules(Thresholds(**change))))
    (tmp_path / "alerts_test.yml").write_text((PROMETHEUS_DIR / "alerts_test.yml").read_text())
    tested = run("promtool", "test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert tested.returncode == 1 and "FAILED" in tested.stdout + tested.stderr
    assert alert in tested.stdout + tested.stderr


def test_alertmanager_accepts_its_config(tmp_path: Path) -> None:
    need("amtool")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(alertmanager_config("http://127.0.0.1:9/hook")))
    checked = run("amtool", "check-config", str(path))
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout


def test_the_dashboard_parses_back_with_every_panel_and_query() -> None:
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()
    raw = json.loads((REPO / "infra" / "monitoring" / "grafana" / "mlfn.json").read_text())
    board = Dashboard.from_json(raw)
    assert board.uid == UID and board.title == "mlfn"
    rows = [p.title for p in board.panels if type(p).__name__ == "RowPanel"]
    assert (
        rows == [title for title, _ in ROWS] == ["Traffic and errors", "Latency", "Model", "Jobs"]
    )
    panels = {p.title: p for p in board.panels if type(p).__name__ == "Panel"}
    for _, declared in ROWS:
        for panel in declared:
            built = panels[panel.title]
            assert [t.expr for t in built.targets] == [q for q, _ in panel.queries]
            assert built.field_config.defaults.unit == panel.unit
            assert built.datasource.uid == "${datasource}"
    wanted = {"Requests per second by route", "/predict latency percentiles", "Error ratio",
              "Predictions by class", "Champion version", "Jobs by status"}  # fmt: skip
    assert wanted <= set(panels)
    widths = [p.grid_pos.w for p in board.panels]
    assert all(0 < w <= 24 for w in widths)
