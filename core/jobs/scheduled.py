"""The config's schedules (`monitoring.schedule`, `retrain.schedule`), declared once here and
rendered for EventBridge (template.yaml, serverless.yml: parameters `mlfn deploy aws` sets),
Cloud Scheduler (`mlfn deploy gcp`), the Azure timer (app settings `mlfn deploy azure`
sets) and the local server's thread. Each firing is claimed create-only in the store
(schedules/<model>/<name>/<minute>.json), so a message delivered twice, or several
`mlfn serve` workers, run it once."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.config import ProjectConfig, Settings
from core.cron import Cron
from core.errors import AlreadyExistsError, MlfnError
from core.storage import Store, join_key

logger = logging.getLogger("mlfn.jobs")
OFF = "off"  # the deploy parameter of a schedule the config does not set


@dataclass(frozen=True)
class ConfigSchedule:
    name: str  # monitor | retrain
    cron: Cron
    message: str

    @property
    def description(self) -> str:
        return {
            "monitor": "drift and live metrics; retrain when the policy says",
            "retrain": "scheduled retraining on the configured data source",
        }[self.name]


def config_schedules(config: ProjectConfig) -> list[ConfigSchedule]:
    """The monitor schedule runs the drift check (`monitoring`) and the automatic rollout
    (`rollout`; its own `schedule` when there is no monitoring section)."""
    found = []
    monitor = config.monitoring.schedule if config.monitoring else None
    if config.rollout is not None:
        monitor = monitor or config.rollout.schedule
    if monitor:
        found.append(ConfigSchedule("monitor", Cron.parse(monitor), '{"action": "monitor"}'))
    if config.retrain.schedule:
        found.append(
            ConfigSchedule("retrain", Cron.parse(config.retrain.schedule), '{"action": "retrain"}')
        )
    return found


def claim_firing(store: Store, model: str, name: str, at: datetime) -> bool:
    """True for the first claim of this schedule's firing at this minute."""
    key = join_key("schedules", model, name, f"{at:%Y%m%dT%H%M}.json")
    try:
        store.write_new(key, json.dumps({"at": at.isoformat(timespec="seconds")}).encode())
    except AlreadyExistsError:
        return False
    return True


def run_scheduled(
    settings: Settings, store: Store, name: str, dispatcher: Any = None, at: datetime | None = None
) -> dict[str, Any]:
    """What a firing of `name` does; a second claim of the same minute does nothing."""
    at = (at or datetime.now(UTC)).replace(second=0, microsecond=0)
    if not claim_firing(store, settings.config.model_name, name, at):
        return {"schedule": name, "status": "already run for this minute"}
    if name == "monitor":
        return _monitor(settings, store, dispatcher)
    from core.jobs.queues import dispatcher_from_env
    from core.jobs.submit import submit_job

    job = submit_job(
        store,
        dispatcher or dispatcher_from_env(settings, store),
        "train",
        {"trigger": "schedule"},
        subject="scheduler",
        policy=settings.config.training,
    )
    return {"schedule": name, "status": "retrain queued", "job_id": job["job_id"]}


def _monitor(settings: Settings, store: Store, dispatcher: Any) -> dict[str, Any]:
    """The drift check when configured, then the rollout step when configured."""
    result: dict[str, Any] = {"schedule": "monitor", "status": "ran"}
    if settings.config.monitoring is not None:
        from core.drift.act import run_monitoring

        report = run_monitoring(settings, store, dispatcher)
        result.update(
            outcome=report["outcome"], reasons=report["reasons"], report=report["report_keys"]
        )
    if settings.config.rollout is not None:
        from core.rollout.auto import rollout_step

        step = rollout_step(settings, store)
        result["rollout"] = {key: step.get(key) for key in ("outcome", "reason", "revision")}
    return result


def run_scheduled_from_env(name: str) -> dict[str, Any]:
    from core.config import load_settings
    from core.storage import open_store

    settings = load_settings()
    result = run_scheduled(settings, open_store(settings.store_uri), name)
    logger.warning("schedule %s: %s", name, result)
    return result


def now_utc() -> datetime:
    return datetime.now(UTC)


def start_local_schedules(
    settings: Settings,
    store: Store,
    dispatcher: Any,
    stop: threading.Event,
    clock: Callable[[], datetime] = now_utc,
) -> threading.Thread | None:
    """`mlfn serve`: fire the config's schedules in this process (claimed per minute)."""
    schedules = config_schedules(settings.config)
    if not schedules:
        return None

    def loop() -> None:
        due = {s.name: s.cron.next_after(clock()) for s in schedules}
        while not stop.is_set():
            now = clock()
            for schedule in schedules:
                if now >= due[schedule.name]:
                    try:
                        run_scheduled(
                            settings, store, schedule.name, dispatcher, due[schedule.name]
                        )
                    except MlfnError as exc:
                        logger.warning("schedule %s failed: %s", schedule.name, exc.message)
                    due[schedule.name] = schedule.cron.next_after(now)
            stop.wait(min(1.0, max(0.05, (min(due.values()) - clock()).total_seconds())))

    thread = threading.Thread(target=loop, name="mlfn-schedules", daemon=True)
    thread.start()
    return thread
