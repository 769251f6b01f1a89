"""Run by test_azure_monitor.py in a process of its own (the Azure Monitor distro sets the
process's global OpenTelemetry providers): the real Azure handler module, one /predict and
one /health through its ASGI app, then a flush of everything to the ingestion endpoint."""

from __future__ import annotations

import sys

from fastapi.testclient import TestClient
from opentelemetry import metrics, trace

import functions.azure.function_app as door
from tests.unit.test_api import ROW, token


def main() -> int:
    with TestClient(door.api) as client:
        answer = client.post(
            "/predict", json={"instances": [ROW]},
            headers={**token("predict"), "X-Request-Id": "azure-req-1"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        client.get("/health")
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    metrics.get_meter_provider().force_flush()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
