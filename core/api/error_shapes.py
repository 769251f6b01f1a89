"""Each protocol answers errors in its own shape: mlfn's `{"error": {"code", "message"}}`,
MLflow's `{"error_code", "message"}` on its scoring routes, and the Open Inference
Protocol's `{"error": "..."}` under /v2 (both 400 where mlfn says 422).
The middleware and the exception handlers both ask here, so every refusal on a route has
its protocol's shape, whoever refused it."""

from __future__ import annotations

from typing import Any

MLFLOW_PATHS = frozenset({"/invocations", "/ping", "/version"})


def error_body(path: str, status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    """(status, body) of an error on `path`."""
    if path in MLFLOW_PATHS:
        from core.api.mlflow_codec import mlflow_error_body, mlflow_status

        return mlflow_status(status), mlflow_error_body(status, message)
    if path == "/v2" or path.startswith("/v2/"):  # Open Inference Protocol: {"error": "..."}
        return (400 if status == 422 else status), {"error": message}
    return status, {"error": {"code": code, "message": message}}
