"""Telemetry: the code emits events (a request, a prediction, a model load, a job's steps and
end); sinks turn them into what each place reads — Prometheus, CloudWatch EMF, Cloud Logging,
OpenTelemetry (Cloud Monitoring, Azure Monitor). The door (mlfn serve, or a cloud's handler)
chooses the sinks; nothing else knows which they are."""

from core.monitoring.events import (
    ChallengerFailed,
    DriftChecked,
    Event,
    JobFinished,
    JobStep,
    ModelLoaded,
    Predicted,
    RequestDone,
)
from core.monitoring.telemetry import Sink, Telemetry, current_door, process_telemetry, use_door

__all__ = [
    "ChallengerFailed",
    "DriftChecked",
    "Event",
    "JobFinished",
    "JobStep",
    "ModelLoaded",
    "Predicted",
    "RequestDone",
    "Sink",
    "Telemetry",
    "current_door",
    "process_telemetry",
    "use_door",
]
