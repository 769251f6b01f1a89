"""Act on a monitoring report (core/drift/job.py): queue the triggered retraining when the
policy says so and the cooldown allows, write the JSON and HTML reports to the store and
MLflow, and hand the numbers to telemetry."""

from __future__ import annotations

import json
import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.config import Settings
from core.cron import parse_duration
from core.drift.html import render_html
from core.drift.job import assess, claim_retrain, load_reference
from core.drift.records import reports_prefix
from core.errors import MlfnError
from core.jobs.submit import Dispatcher, submit_job
from core.registry import ModelRegistry
from core.storage import Store, join_key

logger = logging.getLogger("mlfn.drift")
SCHEDULER = "scheduler"


def _act(
    settings: Settings,
    store: Store,
    report: dict[str, Any],
    dispatcher: Dispatcher | None,
    now: datetime,
) -> dict[str, Any]:
    policy = settings.config.monitoring
    assert policy is not None
    if not report["reasons"]:
        return {"status": "nothing to do"}
    if policy.action == "alert":
        return {"status": "alert", "why": "the policy's action is alert: no retraining"}
    claim = claim_retrain(
        store, settings.config.model_name, parse_duration(policy.cooldown), now, report["reasons"]
    )
    if claim is None:
        return {
            "status": "cooldown",
            "why": f"a retraining was triggered within the cooldown ({policy.cooldown})",
        }
    if dispatcher is None:
        from core.jobs.queues import dispatcher_from_env

        dispatcher = dispatcher_from_env(settings, store)
    request = {
        "trigger": "monitoring",
        "reasons": report["reasons"],
        "labelled_window": str(policy.window),
    }
    job = submit_job(
        store,
        dispatcher,
        "train",
        request,
        subject=SCHEDULER,
        authority="train",
        policy=settings.config.training,
    )
    return {"status": "retrain queued", "job_id": job["job_id"]}


def write_report(
    store: Store, report: dict[str, Any], html: str, latest: bool = True
) -> dict[str, str]:
    stamp = datetime.fromisoformat(report["time"]).strftime("%Y%m%dT%H%M%SZ")
    folder = join_key(reports_prefix(report["model_name"]), stamp)
    keys = {"json": join_key(folder, "report.json"), "html": join_key(folder, "report.html")}
    store.write_bytes(keys["json"], json.dumps(report, indent=2, default=str).encode())
    store.write_bytes(keys["html"], html.encode())
    if latest:  # a look back at a past range is kept, but is not the latest verdict
        store.write_json(
            join_key(reports_prefix(report["model_name"]), "latest.json"),
            {**report, "report_keys": keys},
        )
    return keys


def _to_mlflow(store: Store, report: dict[str, Any], html: str) -> str | None:
    """The report as a run of the model's experiment, when tracking is on."""
    from core.tracking import tracking_uri

    uri = tracking_uri(store)
    if uri is None:
        return None
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(report["model_name"])
    with (
        mlflow.start_run(run_name=f"drift-{report['time']}") as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        drift = report["drift"]
        mlflow.set_tags({"mlfn_kind": "drift", "champion": str(report["champion"])})
        if drift.get("status") == "ok":
            mlflow.log_metrics(
                {
                    "drift_share": drift["drift_share"],
                    "dataset_drift": float(drift["dataset_drift"]),
                }
            )
        for name, text in (("report.json", json.dumps(report, default=str)), ("report.html", html)):
            (Path(tmp) / name).write_text(text, encoding="utf-8")
            mlflow.log_artifact(str(Path(tmp) / name), artifact_path="drift")
        return str(run.info.run_id)


def _tell(report: dict[str, Any]) -> None:
    """The verdict as an event: an EMF metric on AWS (its alarm), a log entry on Google
    Cloud, an OpenTelemetry metric on Azure; /metrics reads the report itself."""
    from core.monitoring import DriftChecked, process_telemetry

    drift = report["drift"]
    process_telemetry().emit(DriftChecked(
        report["model_name"], report["champion"], drift["rows"]["window"],
        drift.get("drift_share"), drift.get("dataset_drift"), report["outcome"]["status"],
    ))  # fmt: skip


def run_monitoring(
    settings: Settings,
    store: Store,
    dispatcher: Dispatcher | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One monitoring run: assess, act, report. Returns the report. `now`: the end of the
    window, for a look back (its report does not become the latest)."""
    live = now is None
    now = now or datetime.now(UTC)
    report = assess(settings, store, now)
    report["outcome"] = _act(settings, store, report, dispatcher, now)
    registry = ModelRegistry(store, settings.config.model_name)
    profile = load_reference(registry, report["champion"])[0]
    html = render_html(report, profile)
    report["report_keys"] = write_report(store, report, html, latest=live)
    _tell(report)
    try:
        report["mlflow_run"] = _to_mlflow(store, report, html)
    except (MlfnError, ImportError, OSError, ValueError) as exc:
        report["mlflow_run"] = None
        logger.warning("drift report not logged to MLflow: %s", exc)
    return report
