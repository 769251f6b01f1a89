"""Which sinks each door's cloud reads."""

from __future__ import annotations

from core.monitoring.telemetry import Sink


def sinks_for(door: str) -> list[Sink]:
    found: list[Sink] = []
    if door == "aws":
        from core.monitoring.emf import EmfSink

        found.append(EmfSink())
    elif door in {"gcp", "azure"}:
        from core.monitoring.cloudlog import CloudLoggingSink
        from core.monitoring.otel import otel_sink_for

        otel = otel_sink_for(door)
        if door == "gcp" or otel is None:  # Application Insights has the requests itself
            found.append(CloudLoggingSink())
        if otel is not None:
            found.append(otel)
    return found
