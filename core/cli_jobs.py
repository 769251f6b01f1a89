"""`mlfn jobs list | show ID | logs ID | cancel ID | sweep`: the operator's view of the
store's training jobs (every job: the CLI acts as an admin of its own store)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from typing import Any

from core.cli_io import add_common_options
from core.cli_output import table
from core.config import load_settings
from core.errors import ValidationError
from core.jobs.manage import cancel_job, get_job, list_jobs
from core.jobs.record import STATUSES, JobStore
from core.storage import open_store


def _jobs(args: argparse.Namespace) -> tuple[Any, JobStore]:
    settings = load_settings(args.config, args.env, args.store)
    return settings, JobStore(open_store(settings.store_uri))


def _emit(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _row(job: dict[str, Any]) -> list[Any]:
    result, error = job.get("result") or {}, job.get("error") or {}
    if job["status"] == "succeeded":
        outcome = f"v{result.get('version')}" + (" promoted" if result.get("promoted") else "")
    elif job.get("cancel_requested_at") and job["status"] == "running":
        outcome = "cancelling"
    else:
        outcome = error.get("code", "")
    attempts = f"{job.get('attempts', 0)}"
    return [job["job_id"], job["kind"], job["status"], attempts, job["created_at"], outcome]


def cmd_list(args: argparse.Namespace) -> None:
    _, jobs = _jobs(args)
    found = list_jobs(jobs, status=args.status, limit=args.limit, cursor=args.cursor)
    if args.json:
        _emit(found)
        return
    headers = ["job", "kind", "status", "attempts", "created", "outcome"]
    print(table(headers, [_row(job) for job in found["jobs"]]) if found["jobs"] else "no jobs")
    if found["next_cursor"]:
        print(f"more: mlfn jobs list --cursor {found['next_cursor']}")


def cmd_show(args: argparse.Namespace) -> None:
    _, jobs = _jobs(args)
    job = get_job(jobs, args.job_id)
    if args.json:
        _emit(job)
        return
    for key in ("job_id", "kind", "status", "owner", "attempts", "worker", "created_at",
                "started_at", "finished_at", "lease_expires_at", "log"):  # fmt: skip
        if job.get(key) not in (None, ""):
            print(f"{key:<17} {job[key]}")
    for key in ("result", "error", "request"):
        if job.get(key):
            print(f"{key:<17} {json.dumps(job[key], default=str)}")
    for entry in job.get("history", []):
        print(f"attempt {entry['attempt']:<9} {entry.get('worker')} {entry.get('started_at')} "
              f"→ {entry.get('ended_at', 'running')} {entry.get('outcome', '')}")  # fmt: skip


def cmd_logs(args: argparse.Namespace) -> None:
    _, jobs = _jobs(args)
    text = jobs.read_log(args.job_id)
    if args.json:
        _emit({"job_id": args.job_id, "log": text})
    else:
        print(text, end="" if text.endswith("\n") else "\n")


def cmd_cancel(args: argparse.Namespace) -> None:
    _, jobs = _jobs(args)
    job = cancel_job(jobs, args.job_id)
    if args.json:
        _emit(job)
    elif job["status"] == "cancelled":
        print(f"job {args.job_id} cancelled")
    else:
        print(f"job {args.job_id} is running: asked to stop (mlfn jobs show {args.job_id})")


def cmd_sweep(args: argparse.Namespace) -> None:
    from core.jobs.queues import dispatcher_from_env
    from core.jobs.sweep import sweep

    settings, jobs = _jobs(args)
    dispatcher = dispatcher_from_env(settings, jobs.store)
    report = sweep(jobs.store, settings.config.training, dispatcher)
    wait = getattr(dispatcher, "wait", None)
    if wait is not None and (report["requeued"] or report["redispatched"]):
        wait()  # no queue configured: the recovered jobs run here, now
    if args.json:
        _emit(report)
        return
    for key in ("requeued", "redispatched", "failed"):
        print(f"{key:<13} {', '.join(report[key]) or '-'}")
    print(f"{'expired keys':<13} {report['expired_keys']}")


def cmd_work(args: argparse.Namespace) -> None:
    """Run queued jobs from the Azure Storage queue until interrupted (or one, --once)."""
    from core.jobs.consume import work
    from core.jobs.queues import AZURE_QUEUE_ENV
    from core.jobs.worker import handle_message

    settings, _ = _jobs(args)  # the config and store, as the jobs will use them
    queue = args.queue or os.environ.get(AZURE_QUEUE_ENV)
    if not queue:
        raise ValidationError(f"name the queue: --queue NAME or {AZURE_QUEUE_ENV}")
    os.environ.setdefault("MLFN_CONFIG", str(settings.config_path))
    os.environ.setdefault("MLFN_ENV", settings.env)
    os.environ.setdefault("MLFN_STORE", settings.store_uri)
    done: list[int] = []

    def handle(body: str) -> None:
        outcome = handle_message(body)
        done.append(1)
        if not args.json:
            print(f"job {outcome.get('job_id', '-')}: {outcome.get('status', 'swept')}", flush=True)

    stop = (lambda: bool(done)) if args.once else (lambda: False)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop between messages
        work(queue, handle, stop=stop)
    if args.json:
        _emit({"handled": len(done)})


def register(sub: Any, formatter: Any) -> None:
    jobs = sub.add_parser("jobs", help="list, show, read the logs of, cancel or sweep jobs")
    commands = jobs.add_subparsers(dest="jobs_command", required=True)

    def command(name: str, handler: Any, text: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=text, description=text, formatter_class=formatter)
        parser: argparse.ArgumentParser = add_common_options(p, handler)
        return parser

    listing = command("list", cmd_list, "jobs, newest first")
    listing.add_argument("--status", choices=STATUSES, help="only jobs with this status")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (1-200)")
    listing.add_argument("--cursor", help="continue after this job id (from the last page)")
    for name, handler, text in (
        ("show", cmd_show, "one job: status, attempts, result or error"),
        ("logs", cmd_logs, "one job's log"),
        ("cancel", cmd_cancel, "cancel a queued job, or stop a running one"),
    ):
        command(name, handler, text).add_argument("job_id", help="the job's id")
    command("sweep", cmd_sweep, "requeue or fail jobs whose worker was lost; expire keys")
    worker = command("work", cmd_work, "run jobs from the Azure Storage queue (a local worker)")
    worker.add_argument("--queue", help="the queue (default: $MLFN_AZURE_QUEUE)")
    worker.add_argument("--once", action="store_true", help="stop after one message")
