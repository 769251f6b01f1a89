"""The one interface: `Telemetry.emit(event)` hands an event to every sink of a door.

A door is where mlfn runs: `serve` (`mlfn serve`, tests), `aws`, `gcp` or `azure`. Each
cloud's handler calls `use_door(...)` once; that picks the sinks that cloud reads, turns on
JSON logs, and sets up tracing when it is configured. A failing sink is reported once in the
log and never fails the request. MLFN_TELEMETRY=off turns every sink off (the bench
measures what telemetry costs that way).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Protocol

from core.errors import ConfigError
from core.monitoring.context import current
from core.monitoring.events import Event

logger = logging.getLogger("mlfn.monitoring")
TELEMETRY_ENV = "MLFN_TELEMETRY"
DOOR_ENV = "MLFN_DOOR"  # set by use_door, so a job's child process logs as its door does
DOORS = ("serve", "aws", "gcp", "azure")


class Sink(Protocol):
    def emit(self, event: Event) -> None: ...

    def flush(self) -> None: ...


def telemetry_enabled() -> bool:
    return os.environ.get(TELEMETRY_ENV, "on").strip().lower() not in {"off", "0", "false"}


class Telemetry:
    """Fans an event out to its sinks. Cheap when there are none."""

    def __init__(self, sinks: Iterable[Sink] = ()) -> None:
        self.sinks: tuple[Sink, ...] = tuple(sinks) if telemetry_enabled() else ()
        self._failed: set[str] = set()
        # each sink with its emit_all, if it has one (looked up once, not per request)
        self._together = tuple((sink, getattr(sink, "emit_all", None)) for sink in self.sinks)

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception as exc:  # a sink's bug or outage must never fail the caller
                self._report(sink, exc)

    def emit_all(self, events: list[Event]) -> None:
        """Several events of one moment (a request's): a sink with `emit_all` takes them
        together (the EMF sink writes them as one line where they fit), the others one by one."""
        for sink, together in self._together:
            try:
                if together is not None:
                    together(events)
                else:
                    for event in events:
                        sink.emit(event)
            except Exception as exc:
                self._report(sink, exc)

    def emit_soon(self, event: Event) -> None:
        """Inside an HTTP request: after its answer is sent (the client does not wait for
        the sinks); elsewhere: now."""
        waiting = current.get().pending
        if waiting is None:
            self.emit(event)
        else:
            waiting.append((self, event))

    def flush(self) -> None:
        for sink in self.sinks:
            try:
                sink.flush()
            except Exception as exc:
                self._report(sink, exc)

    def _report(self, sink: Sink, exc: Exception) -> None:
        name = type(sink).__name__
        if name not in self._failed:  # once per sink: an outage must not flood the log
            self._failed.add(name)
            logger.warning("telemetry sink %s failed (%s); its events are dropped", name, exc)


_state: dict[str, object] = {"door": "serve"}


def use_door(door: str) -> None:
    """Called once by a handler module (or `mlfn serve`): which sinks, logs and tracing."""
    if door not in DOORS:
        raise ConfigError(f"unknown door '{door}': use one of {', '.join(DOORS)}")
    from core.monitoring.logjson import install_json_logging
    from core.monitoring.tracing import configure_tracing

    _state.clear()
    _state["door"] = door
    os.environ[DOOR_ENV] = door
    if door != "serve":
        install_json_logging(door)
    configure_tracing(door)


def current_door() -> str:
    return str(_state["door"])


def door_sinks(door: str | None = None) -> list[Sink]:
    """The sinks a door's cloud reads (the Prometheus sink of `mlfn serve` belongs to the
    API's services, which add it themselves)."""
    from core.monitoring.sinks import sinks_for

    return sinks_for(door or current_door())


def process_telemetry() -> Telemetry:
    """This process's telemetry for events outside a request (a cloud worker's jobs)."""
    found = _state.get("process")
    if not isinstance(found, Telemetry):
        found = _state["process"] = Telemetry(door_sinks())
    return found
