"""`mlfn drift run` (one monitoring run now) and `mlfn drift report [--open]`."""

from __future__ import annotations

import argparse
import json
import tempfile
import webbrowser
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.cli_io import add_common_options
from core.config import Settings, load_settings
from core.errors import ValidationError
from core.storage import open_store


def print_report(report: dict[str, Any]) -> None:
    drift = report["drift"]
    print(
        f"{report['model_name']} v{report['champion']} ({report['env']}), window "
        f"{report['window']['setting']}: {drift['rows']['window']} live rows"
    )
    if drift["status"] != "ok":
        print(f"insufficient data: {drift['why']}")
    else:
        verdict = "DATASET DRIFT" if drift["dataset_drift"] else "no dataset drift"
        print(
            f"{verdict}: {len(drift['drifted_features'])} of {drift['tested_features']} "
            f"features drifted (share {drift['drift_share']:.2f})"
        )
        for entry in [*drift["features"], {**drift["prediction"], "feature": "prediction"}]:
            if "test" in entry:
                mark = "drift" if entry["drifted"] else "-"
                print(
                    f"  {entry['feature']:<24} {entry['test']:<14} {entry['statistic']:.4g}"
                    f"  (threshold {entry['threshold']:g}, PSI {entry['psi']:.3f})  {mark}"
                )
    for version, live in report.get("live", {}).items():
        shown = live.get("metrics") or live["status"]
        print(f"live v{version}: {live['labels']} labels, {shown}")
    print(f"outcome: {report['outcome']}")
    print(f"report: {report['report_keys']['html']}")


def _end_of(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"--end '{text}' is not a time: give e.g. 2026-11-30T18:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def with_window(settings: Settings, window: str | None, looking_back: bool) -> Settings:
    """The config's monitoring policy with the window given on the command line; a look
    back at a past range only reports (it never queues a retraining)."""
    from pydantic import ValidationError as PydanticError

    from core.config import MonitoringConfig
    from core.drift.job import policy_of

    changes: dict[str, Any] = {}
    if window:
        changes["window"] = int(window) if window.isdigit() else window
    if looking_back:
        changes["action"] = "alert"
    try:
        policy = MonitoringConfig.model_validate({**policy_of(settings).model_dump(), **changes})
    except PydanticError as exc:
        raise ValidationError(f"--window '{window}': {exc.errors()[0]['msg']}") from None
    return replace(settings, config=settings.config.model_copy(update={"monitoring": policy}))


def cmd_run(args: argparse.Namespace) -> None:
    from core.drift.act import run_monitoring
    from core.jobs.local import LocalDispatcher
    from core.jobs.queues import dispatcher_from_env

    end = _end_of(args.end)
    settings = load_settings(args.config, args.env, args.store)
    settings = with_window(settings, args.window, end is not None)
    store = open_store(settings.store_uri)
    dispatcher = dispatcher_from_env(settings, store)
    report = run_monitoring(settings, store, dispatcher, now=end)
    if isinstance(dispatcher, LocalDispatcher):  # a queued retraining runs here, now
        dispatcher.wait()
    print(json.dumps(report, indent=2, default=str) if args.json else "", end="")
    if not args.json:
        print_report(report)


def cmd_report(args: argparse.Namespace) -> None:
    from core.drift.records import latest_report

    settings = load_settings(args.config, args.env, args.store)
    store = open_store(settings.store_uri)
    report = latest_report(store, settings.config.model_name)
    if args.open:
        html = store.read_bytes(report["report_keys"]["html"])
        path = Path(tempfile.mkdtemp(prefix="mlfn-drift-")) / "report.html"
        path.write_bytes(html)
        print(f"opening {path}")
        webbrowser.open(path.as_uri())
        return
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)


def register(sub: Any, formatter: Any) -> None:
    text = "drift, live metrics and the retraining they trigger (config: monitoring)"
    drift = sub.add_parser("drift", help=text, description=text, formatter_class=formatter)
    commands = drift.add_subparsers(dest="drift_command", required=True)
    text = "run the monitoring job now: report, and queue a retraining if the policy says"
    run = commands.add_parser("run", help=text, description=text, formatter_class=formatter)
    add_common_options(run, cmd_run)
    run.add_argument(
        "--window", help="this window instead of the config's: 90m, 24h, 7d, or N rows"
    )
    run.add_argument(
        "--end",
        help="the window ends here (ISO time, UTC by default): a look back, which only reports",
    )
    text = "show the latest report (--open: the HTML page in a browser)"
    report = commands.add_parser("report", help=text, description=text, formatter_class=formatter)
    add_common_options(report, cmd_report)
    report.add_argument("--open", action="store_true", help="open the HTML report")
