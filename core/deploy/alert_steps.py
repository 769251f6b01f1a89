"""The alerting part of `mlfn deploy gcp|azure`: the files `mlfn bundle` renders into
.build/ from core/monitoring/cloud_alerts.py, and the steps (infra/*/alerts.sh) that create
or update the alerts from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.monitoring.cloud_alerts import azure_metric_alerts, gcp_policies

GCP_ALERTS = Path(".build") / "gcp-alerts"  # beside, not inside, the uploaded folders
AZURE_ALERTS = Path(".build") / "azure-alerts" / "alerts.tsv"


def write_gcp_alerts(root: Path, name: str, gcp: dict[str, Any]) -> list[Path]:
    """One alert policy per file; notifying gcp.alert_channel (a channel's resource name,
    projects/P/notificationChannels/N) when the deployment names one."""
    folder = root / GCP_ALERTS
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):
        stale.unlink()
    written = []
    for file_name, policy in gcp_policies(name).items():
        if gcp.get("alert_channel"):
            policy["notificationChannels"] = [str(gcp["alert_channel"])]
        path = folder / file_name
        path.write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def gcp_alerts_argv(name: str, project: str) -> list[str]:
    return ["bash", "infra/gcp/alerts.sh", name, project, str(GCP_ALERTS)]


def write_azure_alerts(root: Path, app: str) -> Path:
    """Tab-separated: name, scope (app | insights), severity, window, condition, text."""
    path = root / AZURE_ALERTS
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ("name", "scope", "severity", "window", "condition", "description")
    rows = ("\t".join(alert[key] for key in keys) for alert in azure_metric_alerts(app))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def azure_alerts_argv(app: str, group: str, azure: dict[str, Any]) -> list[str]:
    """Notifying azure.action_group (an action group's id) and covering failed executions
    when azure.app_insights names the app's Application Insights component."""
    return ["bash", "infra/azure/alerts.sh", app, group, str(AZURE_ALERTS),
            str(azure.get("action_group") or ""), str(azure.get("app_insights") or "")]  # fmt: skip
