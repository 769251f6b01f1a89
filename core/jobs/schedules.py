"""Schedules, declared once and rendered for each cloud's scheduler: EventBridge
(template.yaml, serverless.yml), Cloud Scheduler (`mlfn deploy --cloud gcp`), the Azure
timer trigger (functions/azure/function_app.py) and the local server's own thread. Tests
check every rendering against this list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    name: str
    every_minutes: int
    message: str  # what the worker receives (core.jobs.worker.handle_message)
    description: str

    def eventbridge(self) -> str:
        unit = "minute" if self.every_minutes == 1 else "minutes"
        return f"rate({self.every_minutes} {unit})"

    def cron(self) -> str:
        """Five-field cron (Cloud Scheduler)."""
        return f"*/{self.every_minutes} * * * *"

    def ncrontab(self) -> str:
        """Six-field NCRONTAB with seconds (the Azure Functions timer trigger)."""
        return f"0 */{self.every_minutes} * * * *"


SWEEP = Schedule(
    name="sweep",
    every_minutes=5,
    message='{"action": "sweep"}',
    description="recover training jobs whose worker was lost; expire Idempotency-Keys",
)
SCHEDULES = (SWEEP,)
