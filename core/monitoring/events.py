"""What happened, as plain records: the one vocabulary every sink understands. (Not frozen:
a frozen dataclass's __init__ costs 4 µs more per event; sinks never change them.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestDone:
    """One HTTP request answered. `route` is the route's template (/models/{version}/promote),
    never the raw path, so a metric's labels stay few."""

    route: str
    method: str
    status: int
    seconds: float
    model: str | None = None
    version: int | None = None
    rows: int = 0
    error_code: str | None = None
    request_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    path: str = ""
    user_agent: str = ""
    remote_ip: str = ""
    response_bytes: int = 0


@dataclass(slots=True)
class Predicted:
    """What one /predict answered: the predicted class of each row and its probability
    (classification), or the predicted values (regression). No inputs: those go only to the
    opt-in prediction log."""

    model: str
    version: int
    task: str
    classes: Mapping[str, int] = field(default_factory=dict)
    confidences: Sequence[float] = ()
    values: Sequence[float] = ()

    @property
    def rows(self) -> int:
        return sum(self.classes.values()) if self.task == "classification" else len(self.values)


@dataclass(slots=True)
class ModelLoaded:
    """A model version made ready to serve: read and compiled (a miss), or found already
    loaded in this process (a hit)."""

    model: str
    version: int
    seconds: float
    cache_hit: bool


@dataclass(slots=True)
class JobStep:
    """One step of a finished job (fit, export, parity, tracking) and how long it took."""

    job_id: str
    kind: str
    step: str
    seconds: float


@dataclass(slots=True)
class DriftChecked:
    """A monitoring run's verdict on the champion: the share of features drifted and whether
    the dataset drifted (None: too few rows to say), the rows looked at, and what it did."""

    model: str
    version: int
    rows: int
    drift_share: float | None
    dataset_drift: bool | None
    outcome: str


@dataclass(slots=True)
class JobFinished:
    """A job's end: its status, how many attempts it took, and its time from the first start."""

    job_id: str
    kind: str
    status: str
    attempts: int
    seconds: float | None
    error_code: str | None = None
    model: str | None = None
    version: int | None = None


@dataclass(slots=True)
class ChallengerFailed:
    """A challenger could not answer rows routed (canary) or copied (shadow) to it; the
    champion answered the caller. `error_code`: model_unavailable, corrupt_model,
    validation_error or inference_error."""

    model: str
    version: int
    mode: str
    error_code: str


Event = (
    RequestDone | Predicted | ModelLoaded | JobStep | JobFinished | DriftChecked | ChallengerFailed
)
